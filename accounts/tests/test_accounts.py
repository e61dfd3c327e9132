import subprocess
import sys
from datetime import timedelta
from unittest import mock
from urllib.parse import urlencode

import bcrypt
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from conftest import PASSWORD, bearer, login

OWN_KEYS = {"id", "username", "email", "created_at"}
PUBLIC_KEYS = {"id", "username", "created_at"}
INVALID_GRANT = {
    "detail": "Invalid credentials",
    "error": "invalid_grant",
    "error_description": "The email or password is wrong, or the account is deactivated.",
}
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
PRODUCTION_HASHERS = [h for h in settings.PASSWORD_HASHERS if "MD5" not in h]


def register(client, email="new@example.com", password=PASSWORD):
    return client.post("/api/v1/users/", {"email": email, "password": password}, format="json")


def form_login(client, username, password, **extra):
    return client.post(
        "/api/v1/auth/token/",
        urlencode({"username": username, "password": password, **extra}),
        content_type="application/x-www-form-urlencoded",
    )


# Registration


@pytest.mark.django_db
def test_anyone_can_register(api_client):
    response = register(api_client)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == OWN_KEYS
    assert body["email"] == "new@example.com"
    assert body["username"] == "new"
    user = User.objects.get(pk=body["id"])
    assert user.check_password(PASSWORD)
    assert PASSWORD not in user.password


@pytest.mark.django_db
@override_settings(PASSWORD_HASHERS=PRODUCTION_HASHERS)
def test_passwords_are_stored_as_argon2id_hashes(api_client):
    register(api_client)
    stored = User.objects.get(email="new@example.com").password
    assert stored.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "email", ["not-an-email", "", "a@", "x" * 250 + "@example.com", "nul\x00@example.com"]
)
def test_cannot_register_with_invalid_email(api_client, email):
    response = register(api_client, email=email)
    assert response.status_code == 400
    assert "email" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password",
    ["short7!", "password123", "12345678901", "new@example.com", "newexample"],
    ids=["too-short", "common", "all-digits", "same-as-email", "like-email"],
)
def test_cannot_register_with_weak_password(api_client, password):
    response = register(api_client, password=password)
    assert response.status_code == 400
    assert list(response.json()) == ["password"]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_cannot_register_same_email_in_other_case(api_client, user):
    response = register(api_client, email="ALICE@Example.COM")
    assert response.status_code == 400
    assert response.json() == {"email": ["A user with that email already exists."]}


@pytest.mark.django_db
def test_database_refuses_case_variant_duplicate(user):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        User.objects.create(email="Alice@EXAMPLE.com")


@pytest.mark.django_db
def test_register_race_ends_in_400_not_500(api_client, user):
    # The existence check passes (as if the other request had not committed yet); the
    # unique index then refuses the row.
    with mock.patch("accounts.models.UserManager.email_taken", return_value=False):
        response = register(api_client, email="alice@example.com")
    assert response.status_code == 400
    assert response.json() == {"email": ["A user with that email already exists."]}


@pytest.mark.django_db
def test_register_requires_both_fields(api_client):
    response = api_client.post("/api/v1/users/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}


@pytest.mark.django_db
def test_registration_ignores_stale_bearer_header(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert register(api_client).status_code == 201


# Profiles


@pytest.mark.django_db
def test_user_can_read_own_profile(auth_client, user):
    response = auth_client.get("/api/v1/users/me/")
    assert response.status_code == 200
    assert response.json() == {
        "id": user.id,
        "username": "alice",
        "email": "alice@example.com",
        "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.django_db
def test_anonymous_cannot_read_profile(api_client, user):
    for path in ("/api/v1/users/me/", f"/api/v1/users/{user.id}/"):
        response = api_client.get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "detail" in response.json()


@pytest.mark.django_db
def test_user_can_read_another_profile(auth_client, other_user):
    response = auth_client.get(f"/api/v1/users/{other_user.id}/")
    assert response.status_code == 200
    assert response.json() == {
        "id": other_user.id,
        "username": "bob",
        "created_at": other_user.created_at.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("user_id", ["987654", "9223372036854775807", "99999999999999999999999", "0"])
def test_unknown_user_is_404(auth_client, user_id):
    response = auth_client.get(f"/api/v1/users/{user_id}/")
    assert response.status_code == 404


@pytest.mark.django_db
def test_session_login_also_authenticates(api_client, user):
    api_client.force_login(user)
    assert api_client.get("/api/v1/users/me/").json()["id"] == user.id


# Tokens


@pytest.mark.django_db
def test_user_can_log_in_with_oauth2_form(api_client, user):
    response = form_login(api_client, "alice@example.com", PASSWORD, grant_type="password")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    me = bearer(body["access_token"]).get("/api/v1/users/me/")
    assert me.status_code == 200
    assert me.json()["id"] == user.id


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["email", "username"])
def test_user_can_log_in_with_json(api_client, user, field):
    response = api_client.post("/api/v1/auth/token/", {field: "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json()) == TOKEN_KEYS


@pytest.mark.django_db
def test_login_email_is_case_insensitive(api_client, user):
    assert form_login(api_client, "ALICE@example.com", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_expires_in_is_the_access_token_lifetime_in_seconds(api_client, user):
    body = form_login(api_client, user.email, PASSWORD).json()
    token = AccessToken(body["access_token"])
    assert body["expires_in"] == token["exp"] - token["iat"] == settings.ACCESS_TOKEN_LIFETIME_MINUTES * 60


@pytest.mark.django_db
def test_bad_logins_share_one_401(api_client, user, make_user):
    make_user("inactive@example.com", is_active=False)
    answers = [
        form_login(api_client, "nobody@example.com", PASSWORD),
        form_login(api_client, "alice@example.com", "wrong-password"),
        form_login(api_client, "inactive@example.com", PASSWORD),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json() == INVALID_GRANT
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_unknown_email_still_costs_a_password_hash(api_client):
    with mock.patch.object(User, "set_password", autospec=True) as hashed:
        form_login(api_client, "nobody@example.com", PASSWORD)
    hashed.assert_called_once()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD},
        {"username": "alice@example.com"},
        {"username": "a", "password": "b", "grant_type": "x"},
    ],
    ids=["no-username", "no-password", "bad-grant-type"],
)
def test_malformed_login_is_400(api_client, user, body):
    response = api_client.post("/api/v1/auth/token/", body)
    assert response.status_code == 400


@pytest.mark.django_db
@override_settings(PASSWORD_HASHERS=PRODUCTION_HASHERS)
def test_bcrypt_hash_logs_in_and_is_upgraded(api_client):
    legacy = bcrypt.hashpw(b"old-fastapi-password", bcrypt.gensalt(rounds=4)).decode()
    user = User.objects.create(email="legacy@example.com", password=f"bcrypt${legacy}")
    assert form_login(api_client, "legacy@example.com", "old-fastapi-password").status_code == 200
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")


@pytest.mark.django_db
def test_expired_access_token_is_401(api_client, user):
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1))
    response = bearer(str(token)).get("/api/v1/users/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_garbage_bearer_token_is_401(api_client):
    response = bearer("abc.def.ghi").get("/api/v1/users/me/")
    assert response.status_code == 401


@pytest.mark.django_db
def test_deactivated_user_token_is_refused_at_once(auth_client, user):
    assert auth_client.get("/api/v1/users/me/").status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert auth_client.get("/api/v1/users/me/").status_code == 401


# Refresh and logout


@pytest.mark.django_db
def test_refresh_rotates_the_refresh_token(api_client, user):
    tokens = login(api_client, user.email)
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == TOKEN_KEYS
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert bearer(fresh["access_token"]).get("/api/v1/users/me/").status_code == 200
    again = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    assert again["WWW-Authenticate"].startswith("Bearer")
    # The spent token came back: treated as stolen, so the newest one stops working too.
    newest = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": fresh["refresh_token"]})
    assert newest.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 4000])
def test_refresh_with_bad_token_is_401(api_client, token):
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": token})
    assert response.status_code == 401
    assert response.json() == {"detail": "Token is invalid or expired."}


@pytest.mark.django_db
def test_refresh_without_token_is_400(api_client):
    response = api_client.post("/api/v1/auth/token/refresh/", {})
    assert response.status_code == 400
    assert list(response.json()) == ["refresh_token"]


@pytest.mark.django_db
def test_access_token_cannot_be_used_to_refresh(api_client, user):
    tokens = login(api_client, user.email)
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["access_token"]})
    assert response.status_code == 401


@pytest.mark.django_db
def test_deactivated_user_cannot_refresh(api_client, user):
    tokens = login(api_client, user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401


@pytest.mark.django_db
def test_deleted_user_cannot_refresh(api_client, user):
    tokens = login(api_client, user.email)
    user.delete()
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401


@pytest.mark.django_db
def test_logout_ends_the_refresh_token(api_client, user):
    tokens = login(api_client, user.email)
    client = bearer(tokens["access_token"])
    response = client.post("/api/v1/auth/logout/", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert response.content == b""
    refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


@pytest.mark.django_db
def test_logout_needs_authentication(api_client, user):
    tokens = login(api_client, user.email)
    response = api_client.post("/api/v1/auth/logout/", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401


@pytest.mark.django_db
def test_logout_with_invalid_or_foreign_token_is_400(api_client, auth_client, other_user):
    assert auth_client.post("/api/v1/auth/logout/", {"refresh_token": "nope"}).status_code == 400
    assert auth_client.post("/api/v1/auth/logout/", {}).status_code == 400
    foreign = login(APIClient(), other_user.email)
    response = auth_client.post("/api/v1/auth/logout/", {"refresh_token": foreign["refresh_token"]})
    assert response.status_code == 400
    still_valid = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": foreign["refresh_token"]})
    assert still_valid.status_code == 200


# Throttling


@pytest.mark.django_db
@override_settings(AUTH_THROTTLE_RATE="3/min")
def test_auth_endpoints_are_throttled_per_ip(api_client, user):
    from django.core.cache import cache

    cache.clear()
    codes = [form_login(api_client, user.email, "wrong").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    blocked = register(api_client)
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    other_ip = APIClient(REMOTE_ADDR="10.0.0.9")
    assert form_login(other_ip, user.email, PASSWORD).status_code == 200
    cache.clear()


# Management


@pytest.mark.django_db
def test_createsuperuser_works_with_email(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", email="admin@example.com", interactive=False, verbosity=0)
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(PASSWORD)


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "false",
        "SECRET_KEY": "",
        "DJANGO_SETTINGS_MODULE": "blogapi.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "blogapi: SECRET_KEY must be set when DEBUG is false."


@pytest.mark.django_db
@override_settings(AUTH_THROTTLE_RATE="2/min")
def test_forged_forwarded_for_header_does_not_dodge_the_throttle(user):
    from django.core.cache import cache

    cache.clear()
    codes = [
        form_login(APIClient(HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"), user.email, "wrong").status_code
        for i in range(3)
    ]
    assert codes == [401, 401, 429]
    cache.clear()
