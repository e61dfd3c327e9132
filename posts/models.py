from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Expression, Q, Value
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from . import queries

TITLE_MAX = 200
CONTENT_MAX = 10_000
# PostCount's key for the tally over every owner (user ids start at 1).
ALL_OWNERS = 0


class PostQuerySet(models.QuerySet):
    def visible_to(self, user) -> "PostQuerySet":
        """Published posts plus the user's own drafts."""
        return self.filter(Q(published=True) | Q(owner_id=user.pk))

    def owned_by(self, user) -> "PostQuerySet":
        return self.filter(owner_id=user.pk)

    def with_votes(self, user) -> "PostQuerySet":
        """Owner joined and `has_voted` computed in the same query (the count is a column)."""
        has_voted = self.has_voted(user.pk) if user.is_authenticated else Value(False)
        return self.select_related("owner").annotate(has_voted=has_voted)

    @staticmethod
    def has_voted(user_id: int) -> Expression:
        """Annotation: whether `user_id` liked each post.

        Likes belong to the votes app, which stands above posts (a like points at a post) and
        puts its own query here when it loads (votes/apps.py): posts names neither its model
        nor its table, and no import runs from posts up to votes.
        """
        raise ImproperlyConfigured("The votes app provides PostQuerySet.has_voted; is it installed?")


class Post(models.Model):
    title = models.CharField(max_length=TITLE_MAX)
    content = models.TextField(max_length=CONTENT_MAX)
    published = models.BooleanField(default=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    # Number of likes, kept by database triggers on the likes table (votes' migrations), so
    # listing and ordering by votes never aggregates the votes table.
    vote_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The keysets of the feed's orderings. Visibility (published, owner) rides along, so
            # skipping 10,000 rows for an offset reads the index alone (1.6 ms against 30-48 ms
            # through the table, at 1,000,000 posts); PostgreSQL only, a plain index elsewhere.
            models.Index(
                fields=["created_at", "id"], include=["published", "owner"], name="post_created_visible_idx"
            ),
            models.Index(
                fields=["vote_count", "id"], include=["published", "owner"], name="post_votes_visible_idx"
            ),
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


class PostCountQuerySet(models.QuerySet):
    def visible_total(self, user, *, owner_id: int | None = None) -> int:
        """How many posts `user` may see (only `owner_id`'s when given): published plus own drafts."""
        scope = ALL_OWNERS if owner_id is None else owner_id
        own_drafts = scope in (ALL_OWNERS, user.pk)
        # Plain SQL: on the feed's hot path, building an ORM query cost more than running it.
        return queries.visible_total(using=self.db, scope=scope, user_id=user.pk, own_drafts=own_drafts)


class PostCount(models.Model):
    """Published posts and drafts per owner (and over all owners), kept by database triggers.

    List pages read their exact `count` here instead of counting a table that keeps growing;
    the triggers (migration 0003) fire for every insert, delete and (un)publish, whatever its
    source: the API, the admin, cascades or raw SQL.
    """

    owner_id = models.BigIntegerField(primary_key=True, help_text="A user id, or 0 for all owners.")
    published = models.BigIntegerField(default=0)
    drafts = models.BigIntegerField(default=0)

    objects = PostCountQuerySet.as_manager()

    def __str__(self) -> str:
        return f"owner {self.owner_id}: {self.published} published, {self.drafts} drafts"
