"""Paging the feed: keyset cursors in next/previous, bounded offsets and counts (API.md, Posts)."""

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from rest_framework.utils.urls import replace_query_param

from conftest import LIST_PARAMETERS
from httpkit.pagination import CURSOR_SALT, KeysetPagination
from posts.filters import PostFilter
from posts.models import Post
from posts.tests.factories import make_post, utc
from votes.models import Vote

ORDERINGS = ["-created_at", "created_at", "-votes", "votes"]
PATHS = ["/api/v1/posts/", "/api/v1/posts/mine/"]
START = utc(2024, 1, 1)
# More than any walk over the test feed takes; links that never end fail instead of hanging.
MAX_PAGES = 40


def ids(response):
    return [post["id"] for post in response.json()["results"]]


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def sort_key(post: dict, ordering: str) -> tuple:
    """A listed post's place in `ordering`, from its own fields (ids break ties)."""
    key = post["votes"] if ordering.endswith("votes") else datetime.fromisoformat(post["created_at"])
    return (key, post["id"])


@pytest.fixture
def feed(user, other_user, make_user):
    """Posts of two owners with drafts, runs of equal timestamps and of equal like counts."""
    voters = [make_user() for _ in range(3)]
    posts = []
    for i in range(23):
        owner = user if i % 3 == 0 else other_user
        # Timestamps in pairs, so created_at ties are broken by id; likes 0-3, many ties.
        post = make_post(
            owner,
            title=f"post {i}" + (" needle" if i % 2 else ""),
            published=i % 5 != 4,
            created_at=START + timedelta(hours=i // 2),
        )
        for voter in voters[: (i * 7) % 4]:
            Vote.objects.create(user=voter, post=post)
        posts.append(post)
    return {"posts": posts, "voters": voters}


def expected_order(viewer, path: str, ordering: str, **filters) -> list[int]:
    posts = Post.objects.owned_by(viewer) if path.endswith("mine/") else Post.objects.visible_to(viewer)
    if "search" in filters:
        posts = posts.filter(title__contains=filters["search"])
    if "owner" in filters:
        posts = posts.filter(owner_id=filters["owner"])
    field = ordering.replace("votes", "vote_count")
    tie = "-id" if ordering.startswith("-") else "id"
    return list(posts.order_by(field, tie).values_list("id", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ordering", ORDERINGS)
@pytest.mark.parametrize("filtered", [False, True])
def test_next_links_walk_every_post_once_in_order(auth_client, user, feed, path, ordering, filtered):
    filters = {"search": "needle"} if filtered else {}
    expected = expected_order(user, path, ordering, **filters)
    response = auth_client.get(path, {"ordering": ordering, "limit": 4, **filters})
    seen = []
    for _ in range(MAX_PAGES):
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == len(expected)
        assert body["count_exact"] is True
        seen += ids(response)
        if body["next"] is None:
            break
        response = auth_client.get(body["next"])
    else:
        pytest.fail("the links never end")
    assert seen == expected


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ordering", ORDERINGS)
def test_previous_links_walk_back_to_the_first_page(auth_client, user, feed, path, ordering):
    expected = expected_order(user, path, ordering)
    pages = [auth_client.get(path, {"ordering": ordering, "limit": 3})]
    while pages[-1].json()["next"] and len(pages) < MAX_PAGES:
        pages.append(auth_client.get(pages[-1].json()["next"]))
    back = pages[-1]
    for page in reversed(pages[:-1]):
        back = auth_client.get(back.json()["previous"])
        assert back.status_code == 200
        assert ids(back) == ids(page)
    assert [post_id for page in pages for post_id in ids(page)] == expected
    # The first page, reached again backwards, knows there is nothing before it.
    assert back.json()["previous"] is None
    assert ids(auth_client.get(back.json()["next"])) == ids(pages[1])


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ordering", ORDERINGS)
def test_paging_survives_posts_and_likes_written_between_pages(
    auth_client, user, other_user, make_user, feed, path, ordering
):
    """Every post visible at the start shows up exactly once, in order, whatever is written meanwhile.

    New posts are the newest and have no likes. Likes change a post's key under the votes
    orderings (API.md lets such a post move), so there they only touch posts already seen and
    move them backwards: likes under -votes, taken-back likes under votes. Under the created_at
    orderings likes go to posts not seen yet, whose key they do not change.
    """
    at_start = expected_order(user, path, ordering)
    newcomers = []
    response = auth_client.get(path, {"ordering": ordering, "limit": 4})
    listed = []
    for _ in range(MAX_PAGES):
        assert response.status_code == 200, response.content
        listed += response.json()["results"]
        if response.json()["next"] is None:
            break
        # Meanwhile: a post and a draft by each owner, and a like or a taken-back like.
        for owner in (user, other_user):
            newcomers.append(make_post(owner, title="written while paging").id)
            newcomers.append(make_post(owner, title="draft while paging", published=False).id)
        seen = [post["id"] for post in listed]
        if ordering == "-votes":
            Vote.objects.create(user=make_user(), post_id=seen[0])
        elif ordering == "votes":
            liked = Vote.objects.filter(post_id__in=seen).order_by("id").first()
            if liked is not None:
                liked.delete()
        else:
            unseen = [post_id for post_id in at_start if post_id not in seen]
            if unseen:
                Vote.objects.create(user=make_user(), post_id=unseen[0])
        response = auth_client.get(response.json()["next"])
    else:
        pytest.fail("the links never end")

    listed_ids = [post["id"] for post in listed]
    assert len(listed_ids) == len(set(listed_ids)), "a post was listed twice"
    keys = [sort_key(post, ordering) for post in listed]
    assert keys == sorted(keys, reverse=ordering.startswith("-"))
    assert [post_id for post_id in listed_ids if post_id in at_start] == at_start
    visible_newcomers = set(expected_order(user, path, ordering)) & set(newcomers)
    assert set(listed_ids) - set(at_start) <= visible_newcomers
    if ordering == "created_at":
        # Oldest first: what is written meanwhile is the newest, so it comes last, and comes.
        assert set(listed_ids) - set(at_start) == visible_newcomers
    if ordering == "-created_at":
        # Newest first: a post written meanwhile never shifts a page.
        assert set(listed_ids) == set(at_start)


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_drafts_are_paged_only_for_their_owner(auth_client, other_client, user, other_user, feed, path):
    for client, viewer in ((auth_client, user), (other_client, other_user)):
        response = client.get(path, {"limit": 2})
        listed = []
        for _ in range(MAX_PAGES):
            listed += response.json()["results"]
            if response.json()["next"] is None:
                break
            response = client.get(response.json()["next"])
        else:
            pytest.fail("the links never end")
        drafts = [post for post in listed if not post["published"]]
        assert drafts, "the feed fixture has drafts of both owners"
        assert all(post["owner"]["id"] == viewer.id for post in drafts)
        assert [post["id"] for post in listed] == expected_order(viewer, path, "-created_at")


@pytest.mark.django_db
def test_offset_jumps_and_links_go_on_by_cursor(auth_client, user, feed):
    expected = expected_order(user, "/api/v1/posts/", "votes")
    response = auth_client.get("/api/v1/posts/", {"ordering": "votes", "limit": 5, "offset": 6})
    assert ids(response) == expected[6:11]
    assert "offset" not in parse_qs(urlsplit(response.json()["next"]).query)
    assert ids(auth_client.get(response.json()["next"])) == expected[11:16]
    assert ids(auth_client.get(response.json()["previous"])) == expected[1:6]


@pytest.mark.django_db
def test_offset_up_to_10000_and_past_the_end_is_an_empty_page(auth_client, user):
    make_post(user)
    response = auth_client.get("/api/v1/posts/", {"offset": 10_000})
    assert response.status_code == 200
    assert response.json() == {"count": 1, "count_exact": True, "next": None, "previous": None, "results": []}


@pytest.mark.django_db
@pytest.mark.parametrize("offset", ["10001", "99999999999999999999999999999999999"])
def test_offset_above_10000_is_400(auth_client, offset):
    response = auth_client.get("/api/v1/posts/", {"offset": offset})
    assert response.status_code == 400
    assert list(response.json()) == ["offset"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_cursor_with_offset_is_400(auth_client, user, feed, path):
    link = auth_client.get(path, {"limit": 2}).json()["next"]
    for offset in ("0", "2"):
        response = auth_client.get(replace_query_param(link, "offset", offset))
        assert response.status_code == 400
        assert list(response.json()) == ["cursor"]


def tampered(cursor: str) -> list[str]:
    payload, signature = cursor.rsplit(":", 1)
    decoded = signing.Signer(salt=CURSOR_SALT).unsign_object(cursor)
    moved = {**decoded, "p": [decoded["p"][0], decoded["p"][1] + 1]}
    forged = signing.Signer(key="not-the-secret-key", salt=CURSOR_SALT).sign_object(moved)
    flipped = "A" if signature[0] != "A" else "B"
    return [
        f"{payload}:{flipped}{signature[1:]}",
        f"{payload[:-2]}:{signature}",
        forged,
        payload,
        "",
        "garbage",
        "a:b:c",
        signing.Signer(salt="another purpose").sign_object(decoded),
        signing.Signer(salt=CURSOR_SALT).sign_object({**decoded, "p": ["not a date", 1]}),
        signing.Signer(salt=CURSOR_SALT).sign_object({**decoded, "p": [decoded["p"][0]]}),
        signing.Signer(salt=CURSOR_SALT).sign_object([1, 2]),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_tampered_cursor_is_400(auth_client, user, feed, path):
    cursor = cursor_of(auth_client.get(path, {"limit": 2}).json()["next"])
    assert auth_client.get(path, {"limit": 2, "cursor": cursor}).status_code == 200
    for bad in tampered(cursor):
        response = auth_client.get(path, {"limit": 2, "cursor": bad})
        assert response.status_code == 400, (bad, response.content)
        assert response.json() == {"cursor": ["Invalid cursor."]}


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("made_for", ORDERINGS)
def test_cursor_made_for_another_ordering_is_400(auth_client, user, feed, path, made_for):
    cursor = cursor_of(auth_client.get(path, {"ordering": made_for, "limit": 2}).json()["next"])
    for ordering in ORDERINGS:
        response = auth_client.get(path, {"ordering": ordering, "cursor": cursor})
        if ordering == made_for:
            assert response.status_code == 200
        else:
            assert response.status_code == 400, (made_for, ordering)
            assert response.json() == {"cursor": ["This cursor was made for another ordering."]}


@pytest.mark.django_db
def test_a_cursor_holds_its_place_under_other_filters(auth_client, user, feed):
    # Made on the plain feed (default ordering -created_at), used with the ordering spelt out
    # and a search: the page starts after the cursor's post.
    newest_first = expected_order(user, "/api/v1/posts/", "-created_at")
    cursor = cursor_of(auth_client.get("/api/v1/posts/", {"limit": 2}).json()["next"])
    response = auth_client.get(
        "/api/v1/posts/", {"ordering": "-created_at", "search": "needle", "cursor": cursor, "limit": 100}
    )
    found = set(expected_order(user, "/api/v1/posts/", "-created_at", search="needle"))
    assert ids(response) == [post_id for post_id in newest_first[2:] if post_id in found]


def list_parameters() -> list[str]:
    return [*PostFilter.base_filters, *KeysetPagination().query_parameters]


def test_list_parameters_are_the_contracts():
    assert sorted(list_parameters()) == sorted(LIST_PARAMETERS)


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", list_parameters())
def test_repeated_list_parameter_is_400(auth_client, user, path, name):
    make_post(user)
    for values in (["1", "2"], ["1", "1"], ["", ""]):
        query = "&".join(f"{name}={value}" for value in values)
        response = auth_client.get(f"{path}?{query}&limit=5")
        assert response.status_code == 400, (name, values)
        assert response.json() == {name: ["Give this parameter once."]}


@pytest.mark.django_db
def test_repeated_parameters_each_named(auth_client):
    response = auth_client.get(
        "/api/v1/posts/?ordering=votes&ordering=-votes&limit=1&limit=2&unknown=1&unknown=2"
    )
    assert response.status_code == 400
    assert response.json() == {
        "ordering": ["Give this parameter once."],
        "limit": ["Give this parameter once."],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_link_header_carries_next_and_prev(auth_client, user, feed, path):
    first = auth_client.get(path, {"limit": 2})
    assert first["Link"] == f'<{first.json()["next"]}>; rel="next"'
    second = auth_client.get(first.json()["next"])
    assert (
        second["Link"] == f'<{second.json()["next"]}>; rel="next", <{second.json()["previous"]}>; rel="prev"'
    )
    everything = auth_client.get(path, {"limit": 100})
    assert everything.json()["next"] is None
    assert "Link" not in everything
