"""The likes table's hand-written SQL, for the hot paths where the ORM costs more than the query.

Only this module (and the migrations) names `votes_vote`; each statement has a test beside the
ORM query it replaces, run on the same rows (tests/test_queries.py). Other apps reach likes
through these functions: posts gets `has_voted` through PostQuerySet.has_voted (votes/apps.py).
"""

from django.db import connection, models
from django.db.models.expressions import RawSQL
from django.utils import timezone

from posts.models import Post

# Refers to the outer query's posts table by name, so the annotated queryset is not meant to be
# nested inside another query. The OFFSET keeps PostgreSQL probing the (user, post) index once
# per listed post: without it the planner may rewrite the EXISTS into a hash of every like of
# the user, built before the first row is read, a cost that grows with the data while the page
# stays 10 rows.
HAS_VOTED = (
    f"EXISTS (SELECT 1 FROM votes_vote WHERE votes_vote.post_id = {Post._meta.db_table}.id"  # noqa: S608 (a table name)
    " AND votes_vote.user_id = %s LIMIT 1 OFFSET 0)"
)
INSERT_IF_VISIBLE = (
    "INSERT INTO votes_vote (user_id, post_id, created_at) SELECT %s, v.id, %s FROM ({visible}) v"
)
INSERT_MANY = (
    "INSERT INTO votes_vote (user_id, post_id, created_at) "
    "SELECT user_id, post_id, now() FROM unnest(%s::bigint[], %s::bigint[]) AS t (user_id, post_id)"
)


def has_voted(user_id: int) -> RawSQL:
    """Annotation: whether `user_id` liked each post of a Post queryset.

    Written out: compiling the equivalent Exists(OuterRef) subquery cost a quarter of a
    single-post request.
    """
    return RawSQL(HAS_VOTED, (user_id,), output_field=models.BooleanField())  # noqa: S611


def vote_insert_if_visible(*, user, post_id: int) -> int:
    """Like `post_id` if `user` may see it, in one round trip; the number of likes written (0 or 1).

    Which posts are visible comes from PostQuerySet.visible_to, the one place that rule is
    written. A like that exists already raises IntegrityError (the unique constraint).
    """
    visible, visible_params = (
        Post.objects.visible_to(user).filter(pk=post_id).values("id").query.sql_with_params()
    )
    # Only SQL compiled by the ORM is interpolated; every value travels as a parameter.
    insert = INSERT_IF_VISIBLE.format(visible=visible)
    with connection.cursor() as cursor:
        cursor.execute(insert, [user.pk, timezone.now(), *visible_params])
        return cursor.rowcount


def votes_insert_many(likes: list[tuple[int, int]]) -> None:
    """PostgreSQL: write (user_id, post_id) likes as one INSERT ... SELECT FROM unnest(arrays).

    For bulk loads: no model instances to build; the triggers count every row inserted.
    """
    with connection.cursor() as cursor:
        cursor.execute(INSERT_MANY, [list(column) for column in zip(*likes, strict=True)])
