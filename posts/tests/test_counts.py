"""The list envelope's `count` comes from trigger-kept tallies; it must always equal the rows."""

import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conftest import bearer, login
from posts.models import ALL_OWNERS, Post, PostCount
from posts.tests.factories import make_post, utc


def count(client, path="/api/v1/posts/", **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()["count"]


def tallies():
    return {row.owner_id: (row.published, row.drafts) for row in PostCount.objects.all()}


def assert_tallies_match_rows():
    expected = {ALL_OWNERS: (0, 0)}
    for post in Post.objects.all():
        for key in (ALL_OWNERS, post.owner_id):
            published, drafts = expected.get(key, (0, 0))
            expected[key] = (published + post.published, drafts + (not post.published))
    actual = {key: value for key, value in tallies().items() if value != (0, 0) or key == ALL_OWNERS}
    expected = {key: value for key, value in expected.items() if value != (0, 0) or key == ALL_OWNERS}
    assert actual == expected


@pytest.mark.django_db
def test_count_is_published_posts_plus_own_drafts(auth_client, other_client, user, other_user):
    make_post(user)
    make_post(user, published=False)
    make_post(other_user)
    make_post(other_user, published=False)
    make_post(other_user, published=False)
    assert count(auth_client) == 3
    assert count(other_client) == 4
    assert count(auth_client, "/api/v1/posts/mine/") == 2
    assert count(other_client, "/api/v1/posts/mine/") == 3
    assert count(auth_client, owner=other_user.id) == 1
    assert count(other_client, owner=other_user.id) == 3
    assert count(auth_client, owner=user.id) == 2
    assert count(auth_client, owner=999_999) == 0
    assert_tallies_match_rows()


@pytest.mark.django_db
def test_count_follows_every_write(auth_client, other_client, user, other_user):
    post = auth_client.post("/api/v1/posts/", {"title": "t", "content": "c"}).json()
    assert count(other_client) == 1
    assert auth_client.patch(f"/api/v1/posts/{post['id']}/", {"published": False}).status_code == 200
    assert (count(other_client), count(auth_client)) == (0, 1)
    assert auth_client.patch(f"/api/v1/posts/{post['id']}/", {"title": "edited"}).status_code == 200
    assert (count(other_client), count(auth_client)) == (0, 1)
    assert auth_client.patch(f"/api/v1/posts/{post['id']}/", {"published": True}).status_code == 200
    assert (count(other_client), count(auth_client)) == (1, 1)
    assert auth_client.delete(f"/api/v1/posts/{post['id']}/").status_code == 204
    assert (count(other_client), count(auth_client)) == (0, 0)
    assert_tallies_match_rows()


@pytest.mark.django_db
def test_count_follows_bulk_writes_owner_moves_and_cascades(auth_client, user, other_user, make_user):
    Post.objects.bulk_create(
        Post(owner=owner, title=f"t{i}", content="c", published=i % 3 != 0)
        for i, owner in enumerate([user, other_user] * 10)
    )
    assert_tallies_match_rows()
    Post.objects.filter(owner=other_user, published=True).update(published=False)
    assert_tallies_match_rows()
    third = make_user()
    first = Post.objects.filter(owner=user).order_by("id").first()
    Post.objects.filter(pk=first.pk).update(owner=third)
    assert_tallies_match_rows()
    other_user.delete()
    assert_tallies_match_rows()
    assert count(auth_client) == Post.objects.visible_to(user).count()
    Post.objects.all().delete()
    assert_tallies_match_rows()
    assert count(auth_client) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"search": "needle"},
        {"search": ""},
        {"created_after": "2024-02-01"},
        {"created_before": "2024-02-01"},
        {"owner": "other's id written as a decimal"},
        {"ordering": "-votes"},
    ],
)
def test_count_matches_the_rows_with_any_parameter(auth_client, user, other_user, params):
    make_post(user, title="needle", created_at=utc(2024, 1, 1))
    make_post(user, published=False, created_at=utc(2024, 3, 1))
    make_post(other_user, content="a needle", created_at=utc(2024, 3, 1))
    make_post(other_user, published=False)
    if "owner" in params:
        params = {"owner": f"{other_user.id}.0"}
    for path in ("/api/v1/posts/", "/api/v1/posts/mine/"):
        response = auth_client.get(path, {**params, "limit": 100, "offset": 0})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == len(body["results"]), (path, params)


@pytest.mark.django_db
def test_unfiltered_list_does_not_count_rows(auth_client, user):
    make_post(user)
    with CaptureQueriesContext(connection) as queries:
        assert count(auth_client) == 1
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writes_keep_tallies_exact(make_user):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to show")
    owners = [make_user() for _ in range(2)]
    tokens = [login(APIClient(), owner.email)["access_token"] for owner in owners]
    doomed = [make_post(owners[i % 2]) for i in range(10)]
    barrier = threading.Barrier(30)
    statuses = []

    def act(i):
        client = bearer(tokens[i % 2])
        try:
            barrier.wait()
            if i < 10:
                statuses.append(client.delete(f"/api/v1/posts/{doomed[i].id}/").status_code)
            else:
                body = {"title": f"t{i}", "content": "c", "published": i % 3 != 0}
                statuses.append(client.post("/api/v1/posts/", body).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=act, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 20 + [204] * 10
    assert_tallies_match_rows()
