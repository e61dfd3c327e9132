"""The posts tables' hand-written SQL, for the hot paths where the ORM costs more than the query.

Only this module (and the migrations) names `posts_post` and `posts_postcount` in SQL; each
statement has a test beside the ORM query it replaces, run on the same rows
(tests/test_queries.py).
"""

from django.db import connection, connections

VISIBLE_TOTAL = (
    "SELECT COALESCE(SUM(CASE WHEN owner_id = %s THEN published ELSE 0 END), 0)"
    " + COALESCE(SUM(CASE WHEN owner_id = %s AND %s THEN drafts ELSE 0 END), 0)"
    " FROM posts_postcount WHERE owner_id IN (%s, %s)"
)
INSERT_MANY = (
    "INSERT INTO posts_post "
    "(id, title, content, published, vote_count, created_at, updated_at, owner_id) "
    "SELECT id, title, content, published, 0, created_at, created_at, owner_id FROM unnest("
    "%s::bigint[], %s::text[], %s::text[], %s::boolean[], %s::timestamptz[], %s::bigint[]"
    ") AS t (id, title, content, published, created_at, owner_id)"
)


def visible_total(*, using: str, scope: int, user_id: int | None, own_drafts: bool) -> int:
    """Published posts of `scope` (an owner's id, or the all-owners key) from the tallies, plus
    the user's own drafts when `own_drafts`: two rows read, however many posts there are."""
    with connections[using].cursor() as cursor:
        cursor.execute(VISIBLE_TOTAL, [scope, user_id, own_drafts, scope, user_id])
        return int(cursor.fetchone()[0])


def posts_insert_many(columns: list[list]) -> None:
    """PostgreSQL: write posts with their ids as one INSERT ... SELECT FROM unnest(arrays).

    `columns` holds one list per column: ids, titles, contents, published flags, creation
    times, owner ids. For bulk loads: no model instances to build, and updated_at is the
    creation time (the post was never edited), not now.
    """
    with connection.cursor() as cursor:
        cursor.execute(INSERT_MANY, columns)
