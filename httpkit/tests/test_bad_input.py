"""Bad input of every kind is a 4xx in DRF's shape, never a 5xx (docs/api.md, Conventions)."""

import json
from urllib.parse import quote, urlencode

import pytest

from conftest import LIST_PARAMETERS, PASSWORD, login
from httpkit.converters import MAX_ID
from posts.models import Post
from posts.tests.factories import make_post

ODD_STRINGS = [
    "emoji 😀🎉 and astral \U0001d518\U0001d52b",
    "right-to-left \u202eevil\u202c עברית العربية",
    "zero\u200bwidth\ufeffjoiners\u200d",
    "combining e\u0301\u0301\u0301",
    "漢字かなカナ한국어",
    "quotes ' \" ` and %_ \\ ; -- /*",
    "line\nbreaks\r\nand\ttabs",
]


def post_json(client, path, raw: bytes | str, content_type="application/json"):
    return client.generic("POST", path, raw, content_type=content_type)


def assert_detail(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}


JSON_ENDPOINTS = [
    "/api/v1/users/",
    "/api/v1/auth/token/",
    "/api/v1/auth/token/refresh/",
    "/api/v1/auth/logout/",
    "/api/v1/posts/",
    "/api/v1/votes/",
]


# Malformed and hostile JSON


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": ',
        b"{'single': 'quotes'}",
        b'{"a": NaN}',
        b'{"a": 1e999}',
        b'{"a": "\\ud800"}',
        b'{"a": "\xff\xfe"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    ],
    ids=[
        "truncated",
        "single-quotes",
        "nan",
        "infinity",
        "lone-surrogate",
        "bad-utf8",
        "deep-array",
        "deep-object",
    ],
)
def test_malformed_json_is_400(auth_client, raw):
    for path in JSON_ENDPOINTS:
        assert_detail(post_json(auth_client, path, raw), 400)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/v1/votes/", "/api/v1/users/"])
@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"null", b"42"])
def test_json_that_is_not_an_object_is_400(auth_client, path, raw):
    response = post_json(auth_client, path, raw)
    assert response.status_code == 400
    assert set(response.json()) == {"non_field_errors"}


# Content types and sizes


@pytest.mark.django_db
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_unsupported_content_type_is_415(auth_client, path):
    for content_type in [
        "text/plain",
        "application/xml",
        "application/octet-stream",
    ]:
        assert_detail(post_json(auth_client, path, b"title=x", content_type=content_type), 415)


@pytest.mark.django_db
def test_posts_also_take_form_bodies(auth_client):
    response = post_json(
        auth_client,
        "/api/v1/posts/",
        urlencode({"title": "Form", "content": "body"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_oversize_json_body_is_413(auth_client, path):
    raw = json.dumps({"title": "x", "content": "y" * (256 * 1024)})
    assert_detail(post_json(auth_client, path, raw), 413)
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_oversize_form_body_is_413(api_client):
    raw = urlencode({"username": "a@example.com", "password": "p" * (300 * 1024)})
    response = post_json(api_client, "/api/v1/auth/token/", raw, "application/x-www-form-urlencoded")
    assert_detail(response, 413)


@pytest.mark.django_db
def test_body_just_under_the_limit_is_read(auth_client):
    raw = json.dumps({"title": "x", "content": "y" * (250 * 1024)})
    response = post_json(auth_client, "/api/v1/posts/", raw)
    assert response.status_code == 400
    assert list(response.json()) == ["content"]


@pytest.mark.django_db
def test_too_many_form_fields_is_400(api_client):
    raw = "&".join(f"f{i}=1" for i in range(1500))
    response = post_json(api_client, "/api/v1/auth/token/", raw, "application/x-www-form-urlencoded")
    assert_detail(response, 400)


@pytest.mark.django_db
def test_too_many_query_parameters_is_400(auth_client):
    query = "&".join(f"f{i}=1" for i in range(1500))
    assert_detail(auth_client.get(f"/api/v1/posts/?{query}"), 400)


# NUL bytes and odd strings in every text field


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/users/", {"email": "nul\x00@example.com", "password": PASSWORD}, "email"),
        ("post", "/api/v1/users/", {"email": "new@example.com", "password": PASSWORD + "\x00"}, "password"),
        (
            "post",
            "/api/v1/auth/token/",
            {"username": "alice@example.com\x00", "password": PASSWORD},
            "username",
        ),
        ("post", "/api/v1/auth/token/", {"email": "alice@example.com\x00", "password": PASSWORD}, "email"),
        ("post", "/api/v1/auth/token/", {"username": "alice@example.com", "password": "\x00"}, "password"),
        ("post", "/api/v1/auth/token/refresh/", {"refresh_token": "a\x00b"}, "refresh_token"),
        ("post", "/api/v1/auth/logout/", {"refresh_token": "a\x00b"}, "refresh_token"),
        ("post", "/api/v1/posts/", {"title": "t\x00", "content": "c"}, "title"),
        ("post", "/api/v1/posts/", {"title": "t", "content": "c\x00"}, "content"),
        ("put", "/api/v1/posts/{id}/", {"title": "\x00", "content": "c", "published": True}, "title"),
        ("patch", "/api/v1/posts/{id}/", {"content": "\x00"}, "content"),
        ("post", "/api/v1/votes/", {"post_id": "1\x00", "dir": 1}, "post_id"),
        ("post", "/api/v1/votes/", {"post_id": "{id}", "dir": "1\x00"}, "dir"),
    ],
)
def test_nul_bytes_in_text_fields_are_400(auth_client, user, method, path, body, field):
    post = make_post(user, title="Keep", content="Keep")
    body = {
        key: value.replace("{id}", str(post.id)) if isinstance(value, str) else value
        for key, value in body.items()
    }
    response = getattr(auth_client, method)(path.replace("{id}", str(post.id)), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    post.refresh_from_db()
    assert (post.title, post.content) == ("Keep", "Keep")


@pytest.mark.django_db
@pytest.mark.parametrize("text", ODD_STRINGS)
def test_odd_unicode_in_posts_is_stored_and_found(auth_client, text):
    created = auth_client.post("/api/v1/posts/", {"title": text[:200], "content": text}, format="json")
    assert created.status_code == 201, created.content
    post_id = created.json()["id"]
    fetched = auth_client.get(f"/api/v1/posts/{post_id}/").json()
    assert (fetched["title"], fetched["content"]) == (text.strip()[:200], text.strip())
    found = auth_client.get("/api/v1/posts/", {"search": text.split()[0]})
    assert found.status_code == 200
    assert [p["id"] for p in found.json()["results"]] == [post_id]


@pytest.mark.django_db
@pytest.mark.parametrize("text", ODD_STRINGS)
def test_odd_unicode_in_account_fields_is_a_clean_answer(api_client, user, text):
    registered = api_client.post("/api/v1/users/", {"email": text, "password": text}, format="json")
    assert registered.status_code == 400
    assert "email" in registered.json()
    logged_in = api_client.post("/api/v1/auth/token/", {"username": text, "password": text}, format="json")
    assert logged_in.status_code == 401
    assert logged_in.json()["detail"] == "Invalid credentials"
    assert logged_in.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_unicode_email_domain_can_register_and_log_in(api_client):
    response = api_client.post(
        "/api/v1/users/", {"email": "user@exämple.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    assert set(login(api_client, "user@exämple.com")) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/v1/posts/mine/"])
@pytest.mark.parametrize("name", LIST_PARAMETERS)
def test_nul_byte_in_any_list_parameter_is_400(auth_client, user, path, name):
    make_post(user)
    response = auth_client.get(path, {name: "1\x00"})
    assert response.status_code == 400, response.content
    assert list(response.json()) == [name]


@pytest.mark.django_db
@pytest.mark.parametrize("name", LIST_PARAMETERS)
def test_odd_strings_in_list_parameters_are_never_a_server_error(auth_client, user, name):
    make_post(user)
    for value in [*ODD_STRINGS, "١٢", "²", "9" * 400, "-0", " ", "%00", "\ud800"]:
        response = auth_client.get(f"/api/v1/posts/?{name}={quote(value, errors='surrogatepass')}")
        assert response.status_code in (200, 400), (value, response.content)
        expected_keys = (
            {"count", "count_exact", "next", "previous", "results"} if response.status_code == 200 else {name}
        )
        assert set(response.json()) == expected_keys


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/v1/posts/mine/"])
@pytest.mark.parametrize(("ordering", "oldest_first"), [(",", False), (",,", False), ("created_at,", True)])
def test_empty_ordering_items_are_ignored(auth_client, user, path, ordering, oldest_first):
    # Found by the fuzzer: `?ordering=,` was a 500.
    older, newer = make_post(user, title="older"), make_post(user, title="newer")
    response = auth_client.get(path, {"ordering": ordering})
    assert response.status_code == 200
    ids = [post["id"] for post in response.json()["results"]]
    assert ids == ([older.id, newer.id] if oldest_first else [newer.id, older.id])


# Huge, negative and malformed ids


BAD_PATH_IDS = ["0", "-1", "1.5", "1e3", "abc", "9223372036854775808", "9" * 40, "%00", "%F0%9F%98%80"]


@pytest.mark.django_db
@pytest.mark.parametrize("post_id", BAD_PATH_IDS)
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_bad_post_id_in_path_is_404(auth_client, user, post_id, method):
    make_post(user)
    response = getattr(auth_client, method)(f"/api/v1/posts/{post_id}/", {"title": "x"}, format="json")
    assert_detail(response, 404)


@pytest.mark.django_db
@pytest.mark.parametrize("user_id", BAD_PATH_IDS)
def test_bad_user_id_in_path_is_404(auth_client, user_id):
    assert_detail(auth_client.get(f"/api/v1/users/{user_id}/"), 404)


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(auth_client):
    assert_detail(auth_client.get("/api/v1/no-such-thing/"), 404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "post_id", [0, -1, MAX_ID + 1, 2**64, 10**40, -MAX_ID - 1, 1.5, "1e3", True, [], {}, "", None]
)
def test_bad_post_id_in_vote_body_is_400(auth_client, post_id):
    response = auth_client.post("/api/v1/votes/", {"post_id": post_id, "dir": 1}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["post_id"]


@pytest.mark.django_db
@pytest.mark.parametrize("owner", ["0", "-1", str(MAX_ID + 1), "9" * 400, "1e3"])
def test_bad_owner_parameter_is_400(auth_client, owner):
    response = auth_client.get("/api/v1/posts/", {"owner": owner})
    assert response.status_code == 400
    assert list(response.json()) == ["owner"]


@pytest.mark.django_db
def test_largest_id_is_a_clean_404(auth_client):
    for beyond_nothing in (MAX_ID, MAX_ID + 1):
        assert_detail(auth_client.get(f"/api/v1/posts/{beyond_nothing}/"), 404)
        assert_detail(auth_client.get(f"/api/v1/users/{beyond_nothing}/"), 404)
    assert_detail(auth_client.post("/api/v1/votes/", {"post_id": MAX_ID, "dir": 1}, format="json"), 404)
