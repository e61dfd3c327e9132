"""The keyset paginator's own parts, against the plain ORM queries they stand for."""

import operator

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from httpkit.pagination import RowComparison
from posts.models import Post
from posts.tests.factories import make_post, utc

LOOKUPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def spelt_out(column: str, op: str, key, post_id: int) -> Q:
    """The row comparison as column comparisons: (key, id) op (k, i)."""
    strict = LOOKUPS[op.rstrip("=")]
    tie = LOOKUPS[op] if op.endswith("=") else strict
    return Q(**{f"{column}__{strict}": key}) | Q(**{column: key, f"id__{tie}": post_id})


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["created_at", "vote_count"])
@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_row_comparison_selects_what_the_column_comparisons_do(user, column, op):
    for day in (1, 1, 1, 2, 2, 3):
        post = make_post(user, created_at=utc(2024, 1, day, 12, 0, 0))
        Post.objects.filter(pk=post.pk).update(vote_count=day)
    for pivot in Post.objects.all():
        key = getattr(pivot, column)
        expected = set(Post.objects.filter(spelt_out(column, op, key, pivot.id)).values_list("id", flat=True))
        found = set(
            Post.objects.filter(RowComparison([column, "id"], op, [key, pivot.id])).values_list(
                "id", flat=True
            )
        )
        assert found == expected, (pivot.id, op)
        compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        assert found == {
            p.id for p in Post.objects.all() if compare((getattr(p, column), p.id), (key, pivot.id))
        }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("op", "sql"),
    [
        ("<=", "{row} <= (5, 10)"),
        (">=", "{row} >= (5, 10)"),
        # Strict ones as the non-strict range minus the position itself, so PostgreSQL
        # estimates the range from `vote_count <= 5`, not from `vote_count < 5`.
        ("<", "{row} <= (5, 10) AND {row} <> (5, 10)"),
        (">", "{row} >= (5, 10) AND {row} <> (5, 10)"),
    ],
)
def test_row_comparison_is_row_values_in_sql(user, op, sql):
    make_post(user)
    with CaptureQueriesContext(connection) as queries:
        list(Post.objects.filter(RowComparison(["vote_count", "id"], op, [5, 10])))
    row = '("posts_post"."vote_count", "posts_post"."id")'
    where = queries.captured_queries[0]["sql"].split(" WHERE ", 1)[1].split(" ORDER BY ")[0]
    assert where == sql.format(row=row)


def test_row_comparison_takes_comparisons_only():
    with pytest.raises(ValueError, match="not a row comparison"):
        RowComparison(["id"], "= 1; --", [1])
