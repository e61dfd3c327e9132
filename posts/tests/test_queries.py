"""posts/queries.py: each statement against the ORM query it replaces, on the same rows."""

from dataclasses import astuple, dataclass
from datetime import datetime

import pytest
from django.db import connection, transaction
from django.db.models import F

from posts import queries
from posts.models import Post, PostCount
from posts.tests.factories import make_post, utc


@pytest.mark.django_db
def test_visible_total_counts_what_the_orm_counts(user, other_user, make_user):
    stranger = make_user()
    for owner, published in [(user, True), (user, False), (other_user, True), (other_user, False)]:
        make_post(owner, published=published)
    make_post(other_user, published=False)
    for reader in (user, other_user, stranger):
        visible = Post.objects.visible_to(reader)
        assert PostCount.objects.visible_total(reader) == visible.count()
        for owner in (user, other_user, stranger):
            tallied = PostCount.objects.visible_total(reader, owner_id=owner.pk)
            assert tallied == visible.filter(owner=owner).count()
    assert PostCount.objects.visible_total(user) == 3


@dataclass(frozen=True)
class Row:
    id: int
    title: str
    content: str
    published: bool
    created_at: datetime
    owner_id: int


def stored() -> list[tuple]:
    fields = ("id", "title", "content", "published", "created_at", "updated_at", "owner_id", "vote_count")
    return list(Post.objects.order_by("id").values_list(*fields))


@pytest.mark.postgres
@pytest.mark.django_db
def test_posts_insert_many_writes_the_rows_of_bulk_create(user, other_user):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the statement reads arrays with unnest")
    rows = [
        Row(900_001, "First", "Body one", True, utc(2024, 1, 2, 3, 4, 5), user.id),
        Row(900_002, "Second", "Body two", False, utc(2024, 6, 7), other_user.id),
        Row(900_010, "Third", "Body three", True, utc(2025, 12, 31, 23, 59, 59), user.id),
    ]
    with transaction.atomic():
        Post.objects.bulk_create([Post(**vars(row)) for row in rows])
        # bulk_create stamps updated_at with now; a loaded post was never edited.
        Post.objects.update(updated_at=F("created_at"))
        expected = stored()
        transaction.set_rollback(True)
    queries.posts_insert_many([list(column) for column in zip(*map(astuple, rows), strict=True)])
    assert stored() == expected
    assert [row[0] for row in expected] == [row.id for row in rows]
