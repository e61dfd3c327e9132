from django.conf import settings
from django.db import models


class Vote(models.Model):
    """One like by one user on one post."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    post = models.ForeignKey("posts.Post", on_delete=models.CASCADE, related_name="votes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "post"], name="vote_one_per_user_post"),
        ]
        indexes = [models.Index(fields=["post"], name="vote_post_idx")]

    def __str__(self) -> str:
        # Names when the admin loaded them with the like; ids otherwise, without extra queries.
        user = self.user if Vote.user.is_cached(self) else f"user #{self.user_id}"
        post = f"“{self.post}”" if Vote.post.is_cached(self) else f"post #{self.post_id}"
        return f"{user} likes {post}"
