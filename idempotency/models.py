from django.conf import settings
from django.db import models
from django.utils import timezone


class StoredAnswerQuerySet(models.QuerySet):
    def expired(self) -> "StoredAnswerQuerySet":
        return self.filter(expires_at__lte=timezone.now())


class StoredAnswer(models.Model):
    """The answer to the first request that carried an Idempotency-Key, kept for its repeats.

    Written in the transaction of the write it answers (see queries.py), so a row exists
    exactly when that write was committed.
    """

    # No index of its own: the unique constraint, which starts with the user, serves lookups.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    endpoint = models.CharField(max_length=50, help_text="Which operation the key was sent to.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body.")
    status = models.PositiveSmallIntegerField()
    body = models.TextField(help_text="The answer's JSON body.")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = StoredAnswerQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "endpoint", "key"], name="stored_answer_one_per_key"),
        ]
        # No index on expires_at: each keyed write would pay for it, and the nightly purge finds
        # the expired rows first anyway when it walks the primary key (oldest rows expire first).

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key} by {self.user_id}: {self.status}"
