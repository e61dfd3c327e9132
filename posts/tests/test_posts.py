from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.utils.urls import replace_query_param

from posts.models import Post
from posts.tests.factories import make_post, utc
from votes.models import Vote

POST_KEYS = {"id", "title", "content", "published", "created_at", "updated_at", "owner", "votes", "has_voted"}
LIST_KEYS = {"count", "count_exact", "next", "previous", "results"}


def ids(response):
    return [post["id"] for post in response.json()["results"]]


# Create


@pytest.mark.django_db
def test_user_can_create_post(auth_client, user):
    response = auth_client.post("/api/v1/posts/", {"title": "Hello", "content": "World"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == POST_KEYS
    assert body["title"] == "Hello"
    assert body["published"] is True
    assert body["votes"] == 0
    assert body["has_voted"] is False
    assert body["owner"] == {"id": user.id, "username": "alice"}
    assert body["created_at"].endswith("Z")


@pytest.mark.django_db
def test_owner_in_body_is_ignored(auth_client, user, other_user):
    response = auth_client.post(
        "/api/v1/posts/", {"title": "Mine", "content": "x", "owner": other_user.id, "votes": 99}
    )
    assert response.status_code == 201
    assert response.json()["owner"]["id"] == user.id
    assert Post.objects.get().owner_id == user.id
    assert Post.objects.get().vote_count == 0


@pytest.mark.django_db
def test_title_and_content_are_trimmed(auth_client):
    response = auth_client.post("/api/v1/posts/", {"title": "  Padded  ", "content": "\n body \n"})
    assert response.status_code == 201
    assert response.json()["title"] == "Padded"
    assert response.json()["content"] == "body"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "content": "x"}, "title"),
        ({"title": "   ", "content": "x"}, "title"),
        ({"title": "x" * 201, "content": "x"}, "title"),
        ({"title": "x", "content": ""}, "content"),
        ({"title": "x", "content": " \t "}, "content"),
        ({"title": "x", "content": "x" * 10_001}, "content"),
        ({"content": "x"}, "title"),
        ({"title": "x"}, "content"),
        ({"title": "x", "content": "y", "published": "maybe"}, "published"),
        ({"title": ["x"], "content": "y"}, "title"),
        ({"title": "nul\x00", "content": "y"}, "title"),
    ],
)
def test_invalid_post_is_400(auth_client, body, field):
    response = auth_client.post("/api/v1/posts/", body)
    assert response.status_code == 400
    assert field in response.json()
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_limits_are_inclusive(auth_client):
    response = auth_client.post("/api/v1/posts/", {"title": "t" * 200, "content": "c" * 10_000})
    assert response.status_code == 201


@pytest.mark.django_db
def test_anonymous_cannot_use_posts(api_client, user):
    post = make_post(user)
    for method, path in [
        ("get", "/api/v1/posts/"),
        ("get", "/api/v1/posts/mine/"),
        ("post", "/api/v1/posts/"),
        ("get", f"/api/v1/posts/{post.id}/"),
        ("patch", f"/api/v1/posts/{post.id}/"),
        ("delete", f"/api/v1/posts/{post.id}/"),
    ]:
        response = getattr(api_client, method)(path)
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"].startswith("Bearer")


# Read


@pytest.mark.django_db
def test_user_can_read_published_post(auth_client, other_user):
    post = make_post(other_user, title="Theirs")
    response = auth_client.get(f"/api/v1/posts/{post.id}/")
    assert response.status_code == 200
    assert set(response.json()) == POST_KEYS
    assert response.json()["title"] == "Theirs"


@pytest.mark.django_db
def test_drafts_are_visible_only_to_their_owner(auth_client, other_client, user):
    draft = make_post(user, published=False)
    assert auth_client.get(f"/api/v1/posts/{draft.id}/").status_code == 200
    assert other_client.get(f"/api/v1/posts/{draft.id}/").status_code == 404
    assert draft.id not in ids(other_client.get("/api/v1/posts/"))
    assert draft.id in ids(auth_client.get("/api/v1/posts/"))
    assert other_client.patch(f"/api/v1/posts/{draft.id}/", {"title": "x"}).status_code == 404
    assert other_client.delete(f"/api/v1/posts/{draft.id}/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("post_id", ["424242", "9223372036854775807", "99999999999999999999999", "abc", "-1"])
def test_unknown_post_is_404(auth_client, post_id):
    assert auth_client.get(f"/api/v1/posts/{post_id}/").status_code == 404


# Update and delete


@pytest.mark.django_db
def test_owner_can_put_and_patch(auth_client, user):
    post = make_post(user)
    response = auth_client.put(
        f"/api/v1/posts/{post.id}/", {"title": "New", "content": "Body", "published": False}
    )
    assert response.status_code == 200
    assert response.json()["title"] == "New"
    assert response.json()["published"] is False
    response = auth_client.patch(f"/api/v1/posts/{post.id}/", {"published": True})
    assert response.status_code == 200
    assert response.json()["published"] is True
    assert response.json()["title"] == "New"
    post.refresh_from_db()
    assert post.updated_at > post.created_at


@pytest.mark.django_db
def test_put_requires_all_fields(auth_client, user):
    post = make_post(user)
    response = auth_client.put(f"/api/v1/posts/{post.id}/", {"title": "Only title"})
    assert response.status_code == 400
    assert "content" in response.json()


@pytest.mark.django_db
def test_invalid_patch_is_400(auth_client, user):
    post = make_post(user)
    assert auth_client.patch(f"/api/v1/posts/{post.id}/", {"title": " "}).status_code == 400


@pytest.mark.django_db
def test_user_cannot_change_or_delete_others_post(auth_client, other_user):
    post = make_post(other_user, title="Keep")
    for method, body in [
        ("put", {"title": "x", "content": "y", "published": True}),
        ("patch", {"title": "x"}),
    ]:
        response = getattr(auth_client, method)(f"/api/v1/posts/{post.id}/", body)
        assert response.status_code == 403
        assert "detail" in response.json()
    assert auth_client.delete(f"/api/v1/posts/{post.id}/").status_code == 403
    post.refresh_from_db()
    assert post.title == "Keep"


@pytest.mark.django_db
def test_owner_can_delete_post_and_its_votes_go(auth_client, user, other_user):
    post = make_post(user)
    Vote.objects.create(user=other_user, post=post)
    response = auth_client.delete(f"/api/v1/posts/{post.id}/")
    assert response.status_code == 204
    assert not Post.objects.exists()
    assert not Vote.objects.exists()
    assert auth_client.get(f"/api/v1/posts/{post.id}/").status_code == 404


# Lists


@pytest.mark.django_db
def test_list_envelope_and_default_order(auth_client, user, other_user):
    old = make_post(other_user, created_at=utc(2024, 1, 1))
    new = make_post(user, created_at=utc(2024, 6, 1))
    response = auth_client.get("/api/v1/posts/")
    assert response.status_code == 200
    assert set(response.json()) == LIST_KEYS
    assert response.json()["count"] == 2
    assert ids(response) == [new.id, old.id]


@pytest.mark.django_db
def test_mine_lists_own_posts_with_drafts(auth_client, user, other_user):
    mine = make_post(user)
    draft = make_post(user, published=False)
    make_post(other_user)
    response = auth_client.get("/api/v1/posts/mine/")
    assert response.status_code == 200
    assert set(response.json()) == LIST_KEYS
    assert sorted(ids(response)) == sorted([mine.id, draft.id])


@pytest.mark.django_db
def test_votes_and_has_voted_reflect_likes(auth_client, user, other_user, make_user):
    post = make_post(other_user)
    Vote.objects.create(user=user, post=post)
    Vote.objects.create(user=make_user(), post=post)
    listed = auth_client.get("/api/v1/posts/").json()["results"][0]
    assert (listed["votes"], listed["has_voted"]) == (2, True)
    single = auth_client.get(f"/api/v1/posts/{post.id}/").json()
    assert (single["votes"], single["has_voted"]) == (2, True)
    Vote.objects.filter(user=user).delete()
    single = auth_client.get(f"/api/v1/posts/{post.id}/").json()
    assert (single["votes"], single["has_voted"]) == (1, False)


@pytest.mark.django_db
def test_search_needs_every_term_in_title_or_content(auth_client, user):
    both = make_post(user, title="Django tips", content="about REST APIs")
    title_only = make_post(user, title="django", content="nothing")
    make_post(user, title="Flask", content="other")
    assert sorted(ids(auth_client.get("/api/v1/posts/", {"search": "DJANGO"}))) == sorted(
        [both.id, title_only.id]
    )
    assert ids(auth_client.get("/api/v1/posts/", {"search": "django  rest"})) == [both.id]
    assert ids(auth_client.get("/api/v1/posts/", {"search": "django flask"})) == []


@pytest.mark.django_db
def test_search_treats_wildcards_literally(auth_client, user):
    percent = make_post(user, title="100% sure", content="x")
    make_post(user, title="100 percent", content="x")
    underscore = make_post(user, title="snake_case", content="x")
    make_post(user, title="snakeXcase", content="x")
    assert ids(auth_client.get("/api/v1/posts/", {"search": "100%"})) == [percent.id]
    assert ids(auth_client.get("/api/v1/posts/", {"search": "e_c"})) == [underscore.id]


@pytest.mark.django_db
def test_created_date_filters_are_inclusive_utc_days(auth_client, user):
    before = make_post(user, created_at=utc(2024, 3, 9, 23, 59, 59))
    first = make_post(user, created_at=utc(2024, 3, 10, 0, 0, 0))
    last = make_post(user, created_at=utc(2024, 3, 12, 23, 59, 59))
    after = make_post(user, created_at=utc(2024, 3, 13, 0, 0, 0))
    response = auth_client.get(
        "/api/v1/posts/", {"created_after": "2024-03-10", "created_before": "2024-03-12"}
    )
    assert sorted(ids(response)) == sorted([first.id, last.id])
    assert set(ids(auth_client.get("/api/v1/posts/", {"created_after": "2024-03-13"}))) == {after.id}
    assert set(ids(auth_client.get("/api/v1/posts/", {"created_before": "2024-03-09"}))) == {before.id}


@pytest.mark.django_db
def test_owner_filter(auth_client, user, other_user):
    theirs = make_post(other_user)
    make_post(user)
    assert ids(auth_client.get("/api/v1/posts/", {"owner": other_user.id})) == [theirs.id]
    assert ids(auth_client.get("/api/v1/posts/", {"owner": 999999})) == []


@pytest.mark.django_db
def test_ordering_by_votes_and_date_with_id_tie_breaker(auth_client, user, make_user):
    a = make_post(user, created_at=utc(2024, 1, 1))
    b = make_post(user, created_at=utc(2024, 1, 1))
    c = make_post(user, created_at=utc(2024, 1, 2))
    for voter in (make_user(), make_user()):
        Vote.objects.create(user=voter, post=c)
    Vote.objects.create(user=make_user(), post=a)
    assert ids(auth_client.get("/api/v1/posts/", {"ordering": "-votes"})) == [c.id, a.id, b.id]
    assert ids(auth_client.get("/api/v1/posts/", {"ordering": "votes"})) == [b.id, a.id, c.id]
    assert ids(auth_client.get("/api/v1/posts/", {"ordering": "created_at"})) == [a.id, b.id, c.id]
    assert ids(auth_client.get("/api/v1/posts/", {"ordering": "-created_at"})) == [c.id, b.id, a.id]
    assert ids(auth_client.get("/api/v1/posts/")) == [c.id, b.id, a.id]


@pytest.mark.django_db
def test_limit_offset_pagination(auth_client, user):
    posts = [make_post(user, created_at=utc(2024, 1, day)) for day in range(1, 16)]
    newest_first = [p.id for p in reversed(posts)]
    first = auth_client.get("/api/v1/posts/")
    assert first.json()["count"] == 15
    assert ids(first) == newest_first[:10]
    assert first.json()["previous"] is None
    assert ids(auth_client.get(first.json()["next"])) == newest_first[10:15]
    second = auth_client.get("/api/v1/posts/", {"limit": 5, "offset": 10})
    assert ids(second) == newest_first[10:15]
    assert second.json()["next"] is None
    assert ids(auth_client.get(second.json()["previous"])) == newest_first[5:10]
    past_end = auth_client.get("/api/v1/posts/", {"offset": 1000})
    assert past_end.status_code == 200
    assert past_end.json()["results"] == []
    assert past_end.json()["count"] == 15


@pytest.mark.django_db
def test_limit_is_capped_at_100(auth_client, user):
    Post.objects.bulk_create(Post(owner=user, title=f"t{i}", content="c") for i in range(105))
    response = auth_client.get("/api/v1/posts/", {"limit": 1000})
    assert len(response.json()["results"]) == 100
    assert len(auth_client.get("/api/v1/posts/", {"limit": 10**40}).json()["results"]) == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "2024-13-01"},
        {"created_after": "yesterday"},
        {"created_before": "01/02/2024"},
        {"owner": "abc"},
        {"owner": "1.5"},
        {"owner": "99999999999999999999999"},
        {"ordering": "title"},
        {"ordering": "-id"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"limit": "0"},
        {"offset": "-5"},
        {"offset": "1.5"},
        {"search": "nul\x00byte"},
    ],
)
def test_bad_list_parameters_are_400(auth_client, user, params):
    make_post(user)
    for path in ("/api/v1/posts/", "/api/v1/posts/mine/"):
        response = auth_client.get(path, params)
        assert response.status_code == 400, (path, params, response.content)
        assert set(response.json()) <= set(params)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/v1/posts/mine/"])
@pytest.mark.parametrize("rows", [1, 100])
@pytest.mark.parametrize(
    "params", [{}, {"ordering": "-votes"}, {"ordering": "created_at", "search": "post"}, {"owner": "me"}]
)
@pytest.mark.parametrize("reached_by", ["first page", "cursor", "previous cursor", "offset"])
def test_list_costs_a_fixed_number_of_queries(
    auth_client, user, make_user, path, rows, params, reached_by, django_assert_max_num_queries
):
    voters = [make_user() for _ in range(3)]
    # One more post than the page holds: a page reached by cursor or offset starts after one.
    for i in range(rows + 1):
        post = make_post(user, title=f"post {i}")
        for voter in voters[: i % 4]:
            Vote.objects.create(user=voter, post=post)
    params = {name: user.id if value == "me" else value for name, value in params.items()}
    link = {"first page": f"{path}?{urlencode({**params, 'limit': rows})}"}
    first = auth_client.get(path, {**params, "limit": 1}).json()
    link["cursor"] = replace_query_param(first["next"], "limit", rows)
    link["offset"] = f"{path}?{urlencode({**params, 'limit': rows, 'offset': 1})}"
    last = auth_client.get(path, {**params, "limit": 1, "offset": rows}).json()
    link["previous cursor"] = replace_query_param(last["previous"], "limit", rows)
    # One query authenticates the bearer token's user, one counts, one fetches the page.
    with django_assert_max_num_queries(3):
        response = auth_client.get(link[reached_by])
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == rows


@pytest.mark.django_db
def test_detail_costs_a_fixed_number_of_queries(auth_client, user, other_user):
    post = make_post(other_user)
    with CaptureQueriesContext(connection) as queries:
        assert auth_client.get(f"/api/v1/posts/{post.id}/").status_code == 200
    assert len(queries) == 2
