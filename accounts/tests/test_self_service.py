"""Self-service: rename (PATCH /users/me/), password change, account deletion; token lifecycle."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import AuthFailure, RecoveryCode, User
from conftest import PASSWORD, bearer, login
from posts.models import Post, PostCount
from votes.models import Vote

ME = "/api/v1/users/me/"
PASSWORD_CHANGE = "/api/v1/users/me/password/"
REFRESH = "/api/v1/auth/token/refresh/"
NEW_PASSWORD = "another-long-passphrase-7"
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
WRONG = "The password is wrong."


def refresh(client, token: str):
    return client.post(REFRESH, {"refresh_token": token}, format="json")


# Renaming


@pytest.mark.django_db
def test_user_can_change_username(auth_client, user):
    response = auth_client.patch(ME, {"username": "Alice_W"}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "id": user.id,
        "username": "Alice_W",
        "email": "alice@example.com",
        "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
    }
    user.refresh_from_db()
    assert user.username == "Alice_W"


@pytest.mark.django_db
def test_user_can_change_the_case_of_their_own_username(auth_client, user):
    assert auth_client.patch(ME, {"username": "ALICE"}, format="json").json()["username"] == "ALICE"


@pytest.mark.django_db
def test_taken_username_is_400(auth_client, user, other_user):
    response = auth_client.patch(ME, {"username": "BOB"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}


@pytest.mark.django_db
def test_rename_race_ends_in_400_not_500(auth_client, user, other_user, monkeypatch):
    monkeypatch.setattr("accounts.serializers.validate_username_free", lambda value, **kw: value)
    response = auth_client.patch(ME, {"username": "Bob"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}
    user.refresh_from_db()
    assert user.username == "alice"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [{}, {"username": ""}, {"username": "x"}, {"username": "9999"}, {"username": 5}, []]
)
def test_bad_rename_is_400(auth_client, user, body):
    response = auth_client.patch(ME, body, format="json")
    assert response.status_code == 400
    assert (
        "username" in response.json() or "non_field_errors" in response.json() or "detail" in response.json()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [("patch", ME), ("delete", ME), ("post", PASSWORD_CHANGE)])
def test_self_service_needs_a_bearer_token(api_client, user, method, path):
    response = getattr(api_client, method)(path, {"password": PASSWORD}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_deactivated_user_is_404_to_others(auth_client, other_user):
    other_user.is_active = False
    other_user.save()
    assert auth_client.get(f"/api/v1/users/{other_user.id}/").status_code == 404


# Password change


@pytest.mark.django_db
def test_password_change_gives_a_new_pair_and_ends_every_other_token(api_client, user):
    first = login(api_client, user.email)
    second = login(api_client, user.email)
    response = bearer(first["access_token"]).post(
        PASSWORD_CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == TOKEN_KEYS
    assert pair["token_type"] == "bearer"
    # Issued in the same second as the new pair, they still stop working (the claim is the hash).
    for old in (first, second):
        assert bearer(old["access_token"]).get(ME).status_code == 401
        assert refresh(api_client, old["refresh_token"]).status_code == 401
    assert bearer(pair["access_token"]).get(ME).status_code == 200
    assert refresh(api_client, pair["refresh_token"]).status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_password_change_with_wrong_current_password_is_400_and_counted(auth_client, user):
    response = auth_client.post(
        PASSWORD_CHANGE, {"current_password": "not-it-at-all", "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"current_password": [WRONG]}
    assert AuthFailure.objects.filter(scope="login").count() == 1
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize("weak", ["short", "password123", "1234567890123", "alice@example.com"])
def test_password_change_to_a_weak_password_is_400(auth_client, user, weak):
    response = auth_client.post(
        PASSWORD_CHANGE, {"current_password": PASSWORD, "new_password": weak}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["new_password"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"current_password": PASSWORD},
        {"new_password": NEW_PASSWORD},
        {"current_password": None, "new_password": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": "x" * 5000},
        {"current_password": {"a": 1}, "new_password": NEW_PASSWORD},
    ],
)
def test_bad_password_change_input_is_400(auth_client, user, body):
    response = auth_client.post(PASSWORD_CHANGE, body, format="json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict)


@pytest.mark.django_db
def test_session_user_keeps_the_session_after_changing_password(api_client, user):
    api_client.force_login(user)
    response = api_client.post(
        PASSWORD_CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert api_client.get(ME).status_code == 200


# Deleting the account


@pytest.fixture
def world(user, other_user, make_user):
    """alice's posts liked by others, a post of bob's that alice liked, tokens and a recovery code."""
    carol = make_user("carol@example.com")
    mine = [Post.objects.create(owner=user, title=f"a{i}", content="x") for i in range(2)]
    theirs = Post.objects.create(owner=other_user, title="b", content="y")
    likes = [(other_user, mine[0]), (carol, mine[0]), (user, theirs), (carol, theirs)]
    Vote.objects.bulk_create([Vote(user=who, post=post) for who, post in likes])
    RecoveryCode.objects.create(
        user=user, code_hash="0" * 64, expires_at=timezone.now() + timedelta(minutes=5)
    )
    return {"theirs": theirs, "carol": carol}


@pytest.mark.django_db
def test_user_can_delete_their_account_and_everything_it_owns(api_client, user, other_user, world):
    tokens = login(api_client, user.email)
    client = bearer(tokens["access_token"])
    assert client.delete(ME, {"password": PASSWORD}, format="json").status_code == 204

    assert not User.objects.filter(pk=user.pk).exists()
    assert not Post.objects.filter(owner_id=user.pk).exists()
    assert not Vote.objects.filter(user_id=user.pk).exists()
    assert not RecoveryCode.objects.filter(user_id=user.pk).exists()
    assert not OutstandingToken.objects.filter(user_id=user.pk).exists()
    assert OutstandingToken.objects.filter(user__isnull=True).count() == 0
    # The like tallies of the posts that stay are exact; so are the post counts.
    theirs = Post.objects.get(pk=world["theirs"].pk)
    assert theirs.vote_count == Vote.objects.filter(post=theirs).count() == 1
    assert PostCount.objects.get(owner_id=0).published == Post.objects.filter(published=True).count() == 1
    assert client.get(ME).status_code == 401
    assert refresh(api_client, tokens["refresh_token"]).status_code == 401
    login_again = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD})
    assert login_again.status_code == 401


@pytest.mark.django_db
def test_wrong_password_does_not_delete_the_account(auth_client, user):
    response = auth_client.delete(ME, {"password": "not-the-password"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"password": [WRONG]}
    assert User.objects.filter(pk=user.pk).exists()
    assert AuthFailure.objects.filter(scope="login").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [None, {}, {"password": None}, {"password": ["x"]}, {"password": "x" * 5000}]
)
def test_bad_delete_input_is_400(auth_client, user, body):
    response = auth_client.delete(ME, body, format="json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert User.objects.filter(pk=user.pk).exists()


# Token lifecycle


@pytest.mark.django_db
def test_reused_refresh_token_revokes_every_refresh_token_of_the_user(api_client, user, other_user):
    stolen = login(api_client, user.email)
    other_session = login(api_client, user.email)
    bobs = login(api_client, other_user.email)
    rotated = refresh(api_client, stolen["refresh_token"]).json()

    reused = refresh(api_client, stolen["refresh_token"])
    assert reused.status_code == 401
    assert reused["WWW-Authenticate"].startswith("Bearer")
    for token in (rotated["refresh_token"], other_session["refresh_token"]):
        assert refresh(api_client, token).status_code == 401
    assert refresh(api_client, bobs["refresh_token"]).status_code == 200


@pytest.mark.django_db
def test_deactivating_in_code_revokes_refresh_tokens(api_client, user):
    tokens = login(api_client, user.email)
    user.is_active = False
    user.save()
    user.is_active = True
    user.save()
    assert refresh(api_client, tokens["refresh_token"]).status_code == 401
    assert bearer(login(api_client, user.email)["access_token"]).get(ME).status_code == 200


@pytest.mark.django_db
def test_saving_an_active_user_costs_no_token_query(user, django_assert_num_queries):
    with django_assert_num_queries(1):
        user.save(update_fields=["username"])


@pytest.mark.django_db
def test_token_endpoint_401_is_an_oauth2_invalid_grant(api_client, user):
    response = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": "nope-nope"})
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Invalid credentials",
        "error": "invalid_grant",
        "error_description": "The email or password is wrong, or the account is deactivated.",
    }


@pytest.mark.django_db
def test_bearer_request_reads_the_user_once(auth_client, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert auth_client.get(ME).status_code == 200


@pytest.mark.django_db
def test_password_change_cannot_be_replayed_by_an_old_token(api_client, user):
    old = login(api_client, user.email)
    with mock.patch("accounts.services.logger"):
        new = bearer(old["access_token"]).post(
            PASSWORD_CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
        )
    assert new.status_code == 200
    again = bearer(old["access_token"]).post(
        PASSWORD_CHANGE, {"current_password": NEW_PASSWORD, "new_password": PASSWORD}, format="json"
    )
    assert again.status_code == 401


# Bad input on the new endpoints: a 4xx in DRF's shape, never a 5xx

SELF_SERVICE = [("PATCH", ME), ("DELETE", ME), ("POST", PASSWORD_CHANGE)]


def send(client, method: str, path: str, raw, content_type: str = "application/json"):
    return client.generic(method, path, raw, content_type=content_type)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), SELF_SERVICE)
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"username": ', 400),
        (b'{"a": NaN}', 400),
        (b'{"a": "\\ud800"}', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (b"[1, 2]", 400),
        (b"null", 400),
        (b'"text"', 400),
        (json.dumps({"username": "y" * 300_000, "password": "x"}).encode(), 413),
    ],
    ids=["truncated", "nan", "lone-surrogate", "deep-array", "array", "null", "string", "oversize"],
)
def test_malformed_bodies_are_4xx_in_drf_shape(auth_client, user, method, path, raw, status):
    response = send(auth_client, method, path, raw)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.json(), dict)
    assert User.objects.filter(pk=user.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), SELF_SERVICE)
def test_unsupported_content_type_is_415(auth_client, method, path):
    response = send(auth_client, method, path, b"username=x", content_type="application/xml")
    assert response.status_code == 415
    assert set(response.json()) == {"detail"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("patch", ME, {"username": "ali\x00ce"}, "username"),
        ("delete", ME, {"password": PASSWORD + "\x00"}, "password"),
        (
            "post",
            PASSWORD_CHANGE,
            {"current_password": "\x00", "new_password": NEW_PASSWORD},
            "current_password",
        ),
        (
            "post",
            PASSWORD_CHANGE,
            {"current_password": PASSWORD, "new_password": "a\x00" * 8},
            "new_password",
        ),
    ],
)
def test_nul_bytes_are_400(auth_client, user, method, path, body, field):
    response = getattr(auth_client, method)(path, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    user.refresh_from_db()
    assert user.username == "alice"
    assert user.check_password(PASSWORD)


def test_schema_documents_the_self_service_endpoints(api_client, db):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    me = schema["paths"]["/api/v1/users/me/"]
    components = schema["components"]["schemas"]

    def body_schema(operation):
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return components[ref.rsplit("/", 1)[1]]

    assert set(body_schema(me["delete"])["properties"]) == {"password"}
    assert set(body_schema(me["patch"])["properties"]) == {"username"}
    assert {"204", "400", "401", "413", "415", "429"} <= set(me["delete"]["responses"])
    change = schema["paths"]["/api/v1/users/me/password/"]["post"]
    assert set(body_schema(change)["properties"]) == {"current_password", "new_password"}
    pair = change["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert pair.endswith("/TokenPair")
    own = me["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert set(components[own.rsplit("/", 1)[1]]["properties"]) == {"id", "username", "email", "created_at"}
    public = schema["paths"]["/api/v1/users/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert set(components[public["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]) == {
        "id",
        "username",
        "created_at",
    }
    assert (
        "invalid_grant" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]["401"]["description"]
    )
