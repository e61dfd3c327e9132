"""Shared fixtures: API clients, users, and a way to log in through the real token endpoint."""

import itertools
import re
from urllib.parse import unquote_plus, urlencode

import pytest
from django.db.models.signals import post_save
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User

PASSWORD = "correct-horse-battery-staple"
# The list parameters of GET /api/v1/posts/ and /posts/mine/ (docs/api.md, "List parameters").
LIST_PARAMETERS = (
    "search",
    "created_after",
    "created_before",
    "owner",
    "ordering",
    "limit",
    "offset",
    "cursor",
)
_emails = itertools.count(1)


@pytest.fixture(autouse=True)
def _no_response_shows_another_users_email(monkeypatch):
    """API.md: no response ever shows another user's email (only the admin does).

    Every request of every test client (APIClient and Django's Client) passes here: its body
    may name the signed-in user's email and what the request itself sent, no other account's.
    """
    emails: dict[int, str] = {}

    def remember(sender, instance, **kwargs):
        emails[instance.pk] = instance.email

    post_save.connect(remember, sender=User, weak=False, dispatch_uid="conftest.remember_emails")
    send = Client.request

    def checked(self, **request):
        payload = request.get("wsgi.input")
        sent = request.get("QUERY_STRING", "") + _payload_text(payload)
        sent += unquote_plus(sent)
        response = send(self, **request)
        if not request.get("PATH_INFO", "").startswith("/admin/") and not response.streaming:
            body = response.content.decode(errors="replace").lower()
            viewer = getattr(getattr(response, "wsgi_request", None), "user", None)
            for user_id, email in emails.items():
                if user_id == getattr(viewer, "pk", None) or email.lower() in sent.lower():
                    continue
                found = re.search(rf"(?<![\w.%+-]){re.escape(email.lower())}(?![\w.-])", body)
                assert found is None, f"{request.get('PATH_INFO')} shows user {user_id}'s email"
        return response

    monkeypatch.setattr(Client, "request", checked)
    yield
    post_save.disconnect(sender=User, dispatch_uid="conftest.remember_emails")


def _payload_text(payload) -> str:
    # The test client's FakePayload keeps what it will send; read without consuming it.
    content = getattr(payload, "_FakePayload__content", None)
    return content.getvalue().decode(errors="replace") if content is not None else ""


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db):
    def make(email: str | None = None, password: str = PASSWORD, **extra) -> User:
        email = email or f"user{next(_emails)}@example.com"
        return User.objects.create_user(email=email, password=password, **extra)

    return make


@pytest.fixture
def user(make_user) -> User:
    return make_user("alice@example.com")


@pytest.fixture
def other_user(make_user) -> User:
    return make_user("bob@example.com")


def login(client: APIClient, email: str, password: str = PASSWORD) -> dict:
    """Log in through POST /api/v1/auth/token/ and return the token pair."""
    response = client.post(
        "/api/v1/auth/token/",
        urlencode({"grant_type": "password", "username": email, "password": password}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    return response.json()


def session_client(user: User) -> Client:
    """A browser-like client logged in with a session (admin pages, browsable API)."""
    client = Client()
    client.force_login(user)
    return client


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


@pytest.fixture
def auth_client(user) -> APIClient:
    """A client holding a real Bearer access token for `user`."""
    return bearer(login(APIClient(), user.email)["access_token"])


@pytest.fixture
def other_client(other_user) -> APIClient:
    return bearer(login(APIClient(), other_user.email)["access_token"])


def admin_action(client, changelist: str, action: str, objects) -> object:
    """Run an admin changelist action on `objects`, following the redirect to the result page."""
    return client.post(
        changelist,
        {"action": action, "_selected_action": [obj.pk for obj in objects], "index": 0},
        follow=True,
    )
