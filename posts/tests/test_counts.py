"""The list envelope's `count` comes from trigger-kept tallies; it must always equal the rows."""

import threading

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conftest import bearer, login
from httpkit.pagination import KeysetPagination
from posts.filters import PostFilter
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


# For every list filter, values that select some of the posts below (OWNER: the other user's id,
# also written as a decimal the filter accepts). Keyed by the filterset's own names, so a new
# filter fails here until it has a sample.
OWNER, OWNER_AS_DECIMAL = object(), object()
SAMPLES = {
    "search": ["needle", ""],
    "created_after": ["2024-02-01"],
    "created_before": ["2024-02-01"],
    "owner": [OWNER, OWNER_AS_DECIMAL],
    "ordering": ["-votes"],
}


def test_every_list_filter_has_samples():
    assert set(SAMPLES) == set(PostFilter.base_filters)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name in PostFilter.base_filters for value in SAMPLES[name]]
)
def test_count_matches_the_rows_with_any_parameter(auth_client, user, other_user, name, value):
    make_post(user, title="needle", created_at=utc(2024, 1, 1))
    make_post(user, published=False, created_at=utc(2024, 3, 1))
    make_post(other_user, content="a needle", created_at=utc(2024, 3, 1))
    make_post(other_user, published=False)
    value = {OWNER: str(other_user.id), OWNER_AS_DECIMAL: f"{other_user.id}.0"}.get(value, value)
    for path in ("/api/v1/posts/", "/api/v1/posts/mine/"):
        response = auth_client.get(path, {name: value, "limit": 100, "offset": 0})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == len(body["results"]), (path, name, value)
        assert body["count_exact"] is True


@pytest.fixture
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


# For every filter that selects posts, a value that selects all of them.
EVERYTHING = {
    "search": "post",
    "created_after": "2000-01-01",
    "created_before": "2100-01-01",
    "owner": OWNER,
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", PostFilter.row_filters())
def test_only_narrowing_filters_bound_the_count(auth_client, user, monkeypatch, fresh_cache, name):
    """The tallies count the plain list and an owner's posts; every other filter counts rows, bounded."""
    monkeypatch.setattr(KeysetPagination, "max_count", 3)
    for i in range(5):
        make_post(user, title=f"post {i}")
    value = EVERYTHING[name] if EVERYTHING[name] is not OWNER else user.id
    for path in ("/api/v1/posts/", "/api/v1/posts/mine/"):
        body = auth_client.get(path, {name: value}).json()
        if name in PostFilter.tallied_filters:
            assert (body["count"], body["count_exact"]) == (5, True), path
        else:
            assert (body["count"], body["count_exact"]) == (3, False), path
        assert len(body["results"]) == 5


@pytest.mark.django_db
def test_narrowing_count_stops_at_10000(auth_client, user, fresh_cache):
    Post.objects.bulk_create(
        Post(owner=user, title="wide" if i < 10_000 else "wide and rare", content="c") for i in range(10_001)
    )
    plain = auth_client.get("/api/v1/posts/").json()
    assert (plain["count"], plain["count_exact"]) == (10_001, True)
    wide = auth_client.get("/api/v1/posts/", {"search": "wide"}).json()
    assert (wide["count"], wide["count_exact"]) == (10_000, False)
    assert len(wide["results"]) == 10
    assert auth_client.get("/api/v1/posts/", {"search": "wide", "offset": 10_000}).json()["results"] != []
    # 10,000 matches exactly (a query of its own, counted afresh): exact.
    Post.objects.filter(title="wide and rare").update(title="narrow")
    exactly = auth_client.get("/api/v1/posts/", {"search": "wide", "created_after": "2000-01-01"}).json()
    assert (exactly["count"], exactly["count_exact"]) == (10_000, True)
    past_the_end = auth_client.get(
        "/api/v1/posts/", {"search": "wide", "created_after": "2000-01-01", "offset": 10_000}
    )
    assert past_the_end.json()["results"] == []


@pytest.mark.django_db
def test_counts_up_to_the_bound_follow_every_write(auth_client, other_client, user, monkeypatch, fresh_cache):
    """Only "more than the bound" is remembered, per query and viewer; smaller counts are taken afresh."""
    monkeypatch.setattr(KeysetPagination, "max_count", 3)

    def needles(client, search="needle"):
        body = client.get("/api/v1/posts/", {"search": search}).json()
        return body["count"], body["count_exact"]

    for i in range(2):
        make_post(user, title=f"needle {i}")
    assert needles(auth_client) == (2, True)
    make_post(user, title="needle draft", published=False)
    assert needles(auth_client) == (3, True)
    make_post(user, title="needle draft", published=False)
    assert needles(auth_client) == (3, False)
    # The other user sees the two published posts only, and another term is another query.
    assert needles(other_client) == (2, True)
    assert needles(auth_client, "needle 1") == (1, True)


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


def count_queries(queries) -> int:
    return sum("COUNT(" in query["sql"].upper() for query in queries.captured_queries)


@pytest.mark.django_db
def test_more_published_matches_than_the_bound_is_one_verdict_for_everybody(
    auth_client, other_client, user, other_user, make_user, monkeypatch, fresh_cache
):
    """Published matches alone above the bound: every viewer's feed is above it, counted once."""
    monkeypatch.setattr(KeysetPagination, "max_count", 3)
    for i in range(4):
        make_post(other_user, title=f"needle {i}")
    make_post(user, title="needle draft", published=False)
    with CaptureQueriesContext(connection) as queries:
        body = other_client.get("/api/v1/posts/", {"search": "needle"}).json()
    assert (body["count"], body["count_exact"], count_queries(queries)) == (3, False, 1)
    # Another viewer, with drafts among the matches, asks the same: the verdict is kept, not recounted.
    with CaptureQueriesContext(connection) as queries:
        body = auth_client.get("/api/v1/posts/", {"search": "needle", "limit": 100}).json()
    assert (body["count"], body["count_exact"], count_queries(queries)) == (3, False, 0)
    assert len(body["results"]) == 5
    stranger = bearer(login(APIClient(), make_user().email)["access_token"])
    body = stranger.get("/api/v1/posts/", {"search": "needle"}).json()
    assert (body["count"], body["count_exact"]) == (3, False)
    # Another query, and `mine` (the caller's posts only), are counted on their own.
    assert other_client.get("/api/v1/posts/", {"search": "needle 1"}).json()["count"] == 1
    mine = auth_client.get("/api/v1/posts/mine/", {"search": "needle"}).json()
    assert (mine["count"], mine["count_exact"]) == (1, True)


@pytest.mark.django_db
def test_drafts_over_the_bound_keep_the_verdict_to_their_owner(
    auth_client, other_client, user, monkeypatch, fresh_cache
):
    monkeypatch.setattr(KeysetPagination, "max_count", 3)
    for i in range(3):
        make_post(user, title=f"needle {i}")
    make_post(user, title="needle draft", published=False)
    assert auth_client.get("/api/v1/posts/", {"search": "needle"}).json()["count_exact"] is False
    # Three published matches: not more than the bound for anybody else, counted exactly.
    with CaptureQueriesContext(connection) as queries:
        body = other_client.get("/api/v1/posts/", {"search": "needle"}).json()
    assert (body["count"], body["count_exact"], count_queries(queries)) == (3, True, 1)
