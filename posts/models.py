from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

TITLE_MAX = 200
CONTENT_MAX = 10_000


class PostQuerySet(models.QuerySet):
    def visible_to(self, user) -> "PostQuerySet":
        """Published posts plus the user's own drafts."""
        return self.filter(Q(published=True) | Q(owner_id=user.pk))

    def owned_by(self, user) -> "PostQuerySet":
        return self.filter(owner_id=user.pk)

    def with_votes(self, user) -> "PostQuerySet":
        """Owner joined and `has_voted` computed in the same query (the count is a column)."""
        from votes.models import Vote

        if user.is_authenticated:
            has_voted = Exists(Vote.objects.filter(post_id=OuterRef("pk"), user_id=user.pk))
        else:
            has_voted = Value(False)
        return self.select_related("owner").annotate(has_voted=has_voted)


class Post(models.Model):
    title = models.CharField(max_length=TITLE_MAX)
    content = models.TextField(max_length=CONTENT_MAX)
    published = models.BooleanField(default=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    # Number of likes, kept by database triggers on votes_vote (see votes' migrations), so
    # listing and ordering by votes never aggregates the votes table.
    vote_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="post_created_idx"),
            models.Index(fields=["vote_count", "id"], name="post_votes_idx"),
            models.Index(fields=["owner", "created_at", "id"], name="post_owner_created_idx"),
            # Trigram indexes for `search` exist on PostgreSQL only (migration 0002).
        ]
        constraints = [
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("title"), 1)
                & LessThanOrEqual(Length("title"), TITLE_MAX),
                name="post_title_length",
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("content"), 1)
                & LessThanOrEqual(Length("content"), CONTENT_MAX),
                name="post_content_length",
            ),
        ]

    def __str__(self) -> str:
        return self.title
