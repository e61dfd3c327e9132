"""idempotency/writes.py: a new row whose INSERT keeps the answer (PostgreSQL)."""

import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from idempotency import writes
from posts.models import Post

pytestmark = pytest.mark.django_db


class _Request:
    pass


def test_without_a_key_save_new_is_a_plain_insert(user):
    post = Post(owner=user, title="t", content="c")
    with CaptureQueriesContext(connection) as queries:
        writes.save_new(_Request(), post, render=lambda: pytest.fail("nothing to keep"), status=201)
    assert Post.objects.get().pk == post.pk
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]


@pytest.mark.postgres
def test_ids_are_drawn_from_the_sequence_in_blocks_and_never_twice(user, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL sequences")
    blocks = writes._IdBlocks()
    monkeypatch.setattr(blocks, "BLOCK", 3)
    with CaptureQueriesContext(connection) as queries:
        taken = [blocks.take(Post) for _ in range(7)]
    assert len(queries.captured_queries) == 3  # 3 + 3 + 1
    assert taken == sorted(taken)
    assert len(set(taken)) == 7
    # A row inserted the usual way meanwhile gets an id of its own.
    assert Post.objects.create(owner=user, title="t", content="c").pk not in taken
    # A forked process starts with no ids of its parent's.
    monkeypatch.setattr(os, "getpid", lambda: -1)
    assert blocks.take(Post) > max(taken)
