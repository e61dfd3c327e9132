from django.conf import settings
from django.db import connections, models
from django.db.models import Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

TITLE_MAX = 200
CONTENT_MAX = 10_000
# The OFFSET keeps PostgreSQL probing the (user, post) index once per listed post. Without it
# the planner may rewrite the EXISTS into a hash of every like of the user, built before
# the first row is read: a cost that grows with the data while the page stays 10 rows.
HAS_VOTED_SQL = (
    "EXISTS (SELECT 1 FROM votes_vote WHERE votes_vote.post_id = posts_post.id"
    " AND votes_vote.user_id = %s LIMIT 1 OFFSET 0)"
)
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
        if user.is_authenticated:
            # Written out: compiling the equivalent Exists(OuterRef) subquery cost a quarter of
            # a single-post request. It refers to the outer table by name, so this queryset is
            # not meant to be nested inside another query.
            has_voted = RawSQL(HAS_VOTED_SQL, (user.pk,), output_field=models.BooleanField())  # noqa: S611
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
        with connections[self.db].cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(CASE WHEN owner_id = %s THEN published ELSE 0 END), 0)"
                " + COALESCE(SUM(CASE WHEN owner_id = %s AND %s THEN drafts ELSE 0 END), 0)"
                " FROM posts_postcount WHERE owner_id IN (%s, %s)",
                [scope, user.pk, own_drafts, scope, user.pk],
            )
            return int(cursor.fetchone()[0])


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
