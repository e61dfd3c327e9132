"""One brute-force policy for every password check (accounts/lockout.py), in-process.

The same rules over HTTP against gunicorn are in test_live_accounts.py.
"""

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import lockout
from accounts.models import AuthFailure
from conftest import PASSWORD, bearer, login

TOKEN = "/api/v1/auth/token/"
LOCKED = "Too many failed attempts for this account; try again later."
NEW_PASSWORD = "a-brand-new-passphrase-42"


def attempt(client, email: str, password: str):
    return client.post(TOKEN, {"email": email, "password": password}, format="json")


def fail_times(email: str, count: int, client=None) -> None:
    client = client or APIClient()
    for _ in range(count):
        assert attempt(client, email, "wrong-password-guess").status_code == 401


def backdate(minutes: float) -> None:
    AuthFailure.objects.update(failed_at=timezone.now() - timedelta(minutes=minutes))


def assert_locked(response, *, at_most: int) -> None:
    assert response.status_code == 429
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"].startswith(LOCKED)
    assert 0 < int(response["Retry-After"]) <= at_most


@pytest.mark.django_db
def test_tenth_failure_locks_the_account_even_for_the_right_password(api_client, user):
    fail_times(user.email, 10)
    locked = attempt(api_client, user.email, PASSWORD)
    assert_locked(locked, at_most=15 * 60)
    assert int(locked["Retry-After"]) > 14 * 60
    # Refused checks are not failures: the lock still ends when the window has passed.
    assert AuthFailure.objects.count() == 10


@pytest.mark.django_db
def test_nine_failures_leave_the_right_password_working(api_client, user):
    fail_times(user.email, 9)
    assert attempt(api_client, user.email, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_unknown_email_is_locked_the_same_way(api_client, user):
    fail_times("nobody@example.com", 10)
    assert_locked(attempt(api_client, "NOBODY@example.com", "anything-at-all"), at_most=15 * 60)
    # Another email is not affected.
    assert attempt(api_client, user.email, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_lock_counts_the_email_in_any_case_and_in_the_form_login(api_client, user):
    fail_times("ALICE@example.com", 5)
    for _ in range(5):
        form = api_client.post(
            TOKEN,
            urlencode({"username": "alice@EXAMPLE.com", "password": "nope-nope"}),
            content_type="application/x-www-form-urlencoded",
        )
        assert form.status_code == 401
    assert_locked(attempt(api_client, user.email, PASSWORD), at_most=15 * 60)


@pytest.mark.django_db
def test_window_slides_and_retry_after_says_when_a_check_can_succeed(api_client, user):
    fail_times(user.email, 5)
    backdate(14)
    fail_times(user.email, 5)
    locked = attempt(api_client, user.email, PASSWORD)
    # The five oldest leave the 15-minute window in about a minute.
    assert_locked(locked, at_most=61)
    backdate_oldest = AuthFailure.objects.order_by("failed_at")[:5].values_list("id", flat=True)
    AuthFailure.objects.filter(id__in=list(backdate_oldest)).update(
        failed_at=timezone.now() - timedelta(minutes=15, seconds=1)
    )
    assert attempt(api_client, user.email, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_lock_ends_when_the_window_has_passed(api_client, user):
    fail_times(user.email, 10)
    backdate(15.1)
    assert attempt(api_client, user.email, PASSWORD).status_code == 200


@pytest.mark.django_db
@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_FAILURE_WINDOW_MINUTES=2)
def test_limit_and_window_come_from_the_settings(api_client, user):
    fail_times(user.email, 3)
    assert_locked(attempt(api_client, user.email, PASSWORD), at_most=120)


@pytest.mark.django_db
def test_password_change_and_deletion_count_and_are_refused_while_locked(api_client, user):
    client = bearer(login(api_client, user.email)["access_token"])
    for _ in range(5):
        wrong = client.post(
            "/api/v1/users/me/password/",
            {"current_password": "wrong-one-here", "new_password": NEW_PASSWORD},
            format="json",
        )
        assert wrong.status_code == 400
        assert (
            client.delete("/api/v1/users/me/", {"password": "wrong-one-here"}, format="json").status_code
            == 400
        )
    change = client.post(
        "/api/v1/users/me/password/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert_locked(change, at_most=15 * 60)
    assert_locked(client.delete("/api/v1/users/me/", {"password": PASSWORD}, format="json"), at_most=15 * 60)
    assert_locked(attempt(api_client, user.email, PASSWORD), at_most=15 * 60)
    # The signed-in session itself is not ended by the lock.
    assert client.get("/api/v1/users/me/").status_code == 200


@pytest.mark.django_db
def test_successful_reset_lifts_the_lock(api_client, user):
    fail_times(user.email, 10)
    assert api_client.post("/api/v1/auth/password-recovery/", {"email": user.email}).status_code == 202
    code = re.search(r"^\s+(\d{6})\s*$", mail.outbox[-1].body, re.MULTILINE).group(1)
    reset = api_client.post(
        "/api/v1/auth/password-reset/", {"email": user.email, "code": code, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 200
    assert attempt(api_client, user.email, NEW_PASSWORD).status_code == 200


@pytest.mark.django_db
def test_failures_are_stored_without_the_email(user):
    fail_times(user.email, 1)
    stored = AuthFailure.objects.get()
    assert user.email not in stored.key
    assert stored.key == lockout.login_key("Alice@Example.com ")


@pytest.mark.django_db
def test_purge_forgets_failures_no_window_counts(user):
    fail_times(user.email, 2)
    AuthFailure.objects.create(scope="login", key="k", failed_at=timezone.now() - timedelta(minutes=16))
    AuthFailure.objects.create(scope="reset", key="k", failed_at=timezone.now() - timedelta(hours=47))
    AuthFailure.objects.create(scope="reset", key="k", failed_at=timezone.now() - timedelta(hours=49))
    assert lockout.expired_failures().count() == 2


# The HTML login pages, through their real forms (CSRF token and cookie)


def form_login(client: Client, path: str, email: str, password: str):
    page = client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(path, {"csrfmiddlewaretoken": token, "username": email, "password": password})


LOGIN_PAGES = ["/api-auth/login/", "/admin/login/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_html_login_page_counts_failures_and_shows_a_429_page(make_user, path):
    staff = make_user("staff@example.com", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    for _ in range(10):
        assert form_login(client, path, staff.email, "wrong-password-guess").status_code == 200
    refused = form_login(client, path, staff.email, PASSWORD)
    assert refused.status_code == 429
    assert 14 * 60 < int(refused["Retry-After"]) <= 15 * 60
    page = refused.content.decode()
    assert refused["Content-Type"].startswith("text/html")
    assert "Too many attempts" in page
    assert "try again in 15 minutes" in page.lower() or "try again in 14 minutes" in page.lower()
    assert "_auth_user_id" not in client.session
    # The same lock holds on the API.
    assert_locked(attempt(APIClient(), staff.email, PASSWORD), at_most=15 * 60)


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_api_failures_lock_the_html_login_pages(make_user, path):
    staff = make_user("staff@example.com", is_staff=True)
    fail_times(staff.email, 10)
    assert form_login(Client(enforce_csrf_checks=True), path, staff.email, PASSWORD).status_code == 429


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_html_login_page_still_logs_in(make_user, path):
    staff = make_user("staff@example.com", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    assert form_login(client, path, staff.email, PASSWORD).status_code == 302
    assert client.get("/api/v1/users/me/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
@override_settings(AUTH_THROTTLE_RATE="3/min")
def test_html_login_pages_share_the_per_ip_limit(user, path):
    cache.clear()
    try:
        client = Client(enforce_csrf_checks=True)
        assert attempt(APIClient(), "someone@example.com", "x-wrong-one").status_code == 401
        for _ in range(2):
            assert form_login(client, path, "other@example.com", "x-wrong-one").status_code == 200
        refused = form_login(client, path, user.email, PASSWORD)
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) > 0
        assert "Too many attempts from this address" in refused.content.decode()
        assert attempt(APIClient(), user.email, PASSWORD).status_code == 429
    finally:
        cache.clear()


@pytest.mark.django_db
@override_settings(AUTH_THROTTLE_RATE="2/min")
def test_password_change_and_deletion_share_the_per_ip_limit(api_client, user):
    client = bearer(login(APIClient(REMOTE_ADDR="10.1.1.1"), user.email)["access_token"])
    cache.clear()
    try:
        assert attempt(api_client, "nobody@example.com", "x-wrong-one").status_code == 401
        assert (
            client.delete("/api/v1/users/me/", {"password": "wrong-one-x"}, format="json").status_code == 400
        )
        blocked = client.post(
            "/api/v1/users/me/password/",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            format="json",
        )
        assert blocked.status_code == 429
        assert int(blocked["Retry-After"]) > 0
        assert client.delete("/api/v1/users/me/", {"password": PASSWORD}, format="json").status_code == 429
        # Reading and renaming are not password checks.
        assert client.get("/api/v1/users/me/").status_code == 200
        assert client.patch("/api/v1/users/me/", {"username": "alice2x"}, format="json").status_code == 200
    finally:
        cache.clear()


@pytest.mark.django_db
@override_settings(AUTH_THROTTLE_RATE="12/min")
def test_every_refusal_passes_through_refuse(monkeypatch, user):
    """The metrics hook's one place: account locks, the per-IP limit and the HTML pages."""
    seen = []
    original = lockout.refuse

    def spy(kind, retry_after, detail=lockout.LOCKED):
        seen.append(kind)
        return original(kind, retry_after, detail)

    monkeypatch.setattr(lockout, "refuse", spy)
    cache.clear()
    try:
        fail_times(user.email, 10)
        assert attempt(APIClient(), user.email, PASSWORD).status_code == 429
        assert form_login(Client(), "/admin/login/", user.email, PASSWORD).status_code == 429
        assert attempt(APIClient(), "x@example.com", PASSWORD).status_code == 429
    finally:
        cache.clear()
    assert seen == ["login_locked", "login_locked", "ip_throttled"]
