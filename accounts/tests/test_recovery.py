"""Password recovery by emailed code: POST /auth/password-recovery/ and /auth/password-reset/."""

import email
import logging
import re
import socket
import threading
from datetime import timedelta
from email.policy import default as default_policy
from io import StringIO
from unittest import mock

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.admin.sites import site as admin_site
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.core.signals import request_finished
from django.db import close_old_connections, connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import services, views
from accounts.models import RecoveryCode, User
from conftest import PASSWORD, bearer, login

RECOVERY = "/api/v1/auth/password-recovery/"
RESET = "/api/v1/auth/password-reset/"
NEW_PASSWORD = "a-brand-new-passphrase-42"
ACCEPTED = {"detail": "If an account with that email exists, a recovery code is on its way to it."}
RESET_DONE = {"detail": "Your password has been reset; log in with the new one."}
INVALID_CODE = {"detail": "The code is wrong, expired or no longer valid."}

# Loopback ports of this suite (SMTP servers and a port that refuses connections).
SMTP_PORT = 8121
FLAKY_SMTP_PORT = 8122
REFUSING_PORT = 8123

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def request_code(client: APIClient, address: str):
    return client.post(RECOVERY, {"email": address})


def reset(client: APIClient, address: str, code: str, new_password: str = NEW_PASSWORD):
    return client.post(RESET, {"email": address, "code": code, "new_password": new_password})


def code_in(text: str) -> str:
    """The code as the plain-text email shows it: six digits alone on an indented line."""
    match = re.search(r"^\s+(\d{6})\s*$", text, re.MULTILINE)
    assert match, text
    return match.group(1)


def emailed_code(api_client: APIClient, address: str) -> str:
    before = len(mail.outbox)
    assert request_code(api_client, address).status_code == 202
    assert len(mail.outbox) == before + 1
    return code_in(mail.outbox[-1].body)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def smtp_settings(port: int):
    return override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
    )


class Inbox:
    """aiosmtpd handler keeping what it receives; `refuse_first` answers 451 to that many messages."""

    def __init__(self, refuse_first: int = 0):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refusals_left = refuse_first

    async def handle_DATA(self, server, session, envelope):
        if self.refusals_left:
            self.refusals_left -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox():
    """A real SMTP server on loopback, with Django's SMTP backend pointed at it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    try:
        with smtp_settings(SMTP_PORT):
            yield inbox
    finally:
        controller.stop()


@pytest.fixture
def no_backoff():
    with mock.patch("accounts.tasks.time.sleep") as sleep:
        yield sleep


# Asking for a code


@pytest.mark.django_db
def test_recovery_answers_the_same_whether_or_not_the_account_exists(api_client, user, make_user):
    make_user("gone@example.com", is_active=False)
    answers = [request_code(api_client, address) for address in ("alice@example.com", "nobody@example.com")]
    answers.append(request_code(api_client, "gone@example.com"))
    for response in answers:
        assert response.status_code == 202
        assert response.json() == ACCEPTED
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]
    assert RecoveryCode.objects.count() == 1


@pytest.mark.django_db
def test_recovery_email_has_a_six_digit_code_in_text_and_html(api_client, user):
    code = emailed_code(api_client, "ALICE@example.com")
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == "Your blogapi password recovery code"
    assert re.fullmatch(r"\d{6}", code)
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert f">{code}</p>" in html
    assert f"{settings.PASSWORD_RESET_CODE_MINUTES} minutes" in message.body


@pytest.mark.django_db
def test_code_is_stored_only_as_a_keyed_hash(api_client, user):
    code = emailed_code(api_client, user.email)
    stored = RecoveryCode.objects.get()
    assert re.fullmatch(r"[0-9a-f]{64}", stored.code_hash)
    assert code not in stored.code_hash
    # The hash is keyed with SECRET_KEY: under another key the right code does not match.
    with override_settings(SECRET_KEY="another-secret-key-of-sufficient-length-000"):
        assert reset(api_client, user.email, code).json() == INVALID_CODE
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_code_lives_password_reset_code_minutes(api_client, user):
    emailed_code(api_client, user.email)
    stored = RecoveryCode.objects.get()
    assert stored.expires_at - stored.created_at == pytest.approx(
        timedelta(minutes=settings.PASSWORD_RESET_CODE_MINUTES), abs=timedelta(seconds=5)
    )
    assert (stored.state, stored.attempts) == ("active", 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{"email": "not-an-email"}, {"email": ""}, {}, {"email": "a@b@example.com"}, {"email": ["x@y.z"]}],
    ids=["no-at", "empty", "missing", "two-ats", "list"],
)
def test_recovery_with_malformed_email_is_400(api_client, body):
    response = api_client.post(RECOVERY, body)
    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert mail.outbox == []


@pytest.mark.django_db
def test_recovery_work_runs_after_the_response_with_the_immediate_backend(user):
    # The view answers first; the code and email are made when the server closes the response.
    request = APIRequestFactory().post(RECOVERY, {"email": user.email}, format="json")
    response = views.PasswordRecoveryView.as_view()(request)
    assert response.status_code == 202
    assert mail.outbox == []
    assert not RecoveryCode.objects.exists()
    # As the test client does: keep the test's database connection through request_finished.
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    assert len(mail.outbox) == 1
    assert RecoveryCode.objects.filter(user=user).count() == 1


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_recovery_request_does_the_same_work_for_known_and_unknown_emails(api_client, user):
    costs = []
    for address in ("alice@example.com", "nobody@example.com"):
        with CaptureQueriesContext(connection) as queries:
            assert request_code(api_client, address).status_code == 202
        costs.append([re.sub(r"'[^']*'", "?", query["sql"]) for query in queries.captured_queries])
    assert len(costs[0]) == 1
    assert costs[0] == costs[1]


# Resetting the password


@pytest.mark.django_db
def test_user_can_reset_password_with_emailed_code(api_client, user):
    tokens = login(api_client, user.email)
    assert bearer(tokens["access_token"]).get("/api/v1/users/me/").status_code == 200
    code = emailed_code(api_client, user.email)

    response = reset(api_client, "Alice@Example.com", code)
    assert response.status_code == 200
    assert response.json() == RESET_DONE

    assert RecoveryCode.objects.get().state == "spent"
    fresh = login(api_client, user.email, NEW_PASSWORD)
    assert bearer(fresh["access_token"]).get("/api/v1/users/me/").status_code == 200
    old_password = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD})
    assert old_password.status_code == 401


@pytest.mark.django_db
def test_reset_ends_every_earlier_refresh_and_access_token(api_client, user):
    sessions = [login(APIClient(), user.email) for _ in range(2)]
    code = emailed_code(api_client, user.email)
    assert reset(api_client, user.email, code).status_code == 200

    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()
    for tokens in sessions:
        refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
        assert refresh.status_code == 401
        me = bearer(tokens["access_token"]).get("/api/v1/users/me/")
        assert me.status_code == 401
        assert me["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_reset_leaves_other_users_tokens_alone(api_client, user, other_user):
    theirs = login(APIClient(), other_user.email)
    code = emailed_code(api_client, user.email)
    assert reset(api_client, user.email, code).status_code == 200
    assert bearer(theirs["access_token"]).get("/api/v1/users/me/").status_code == 200
    refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": theirs["refresh_token"]})
    assert refresh.status_code == 200


@pytest.mark.django_db
def test_spent_code_does_not_work_again(api_client, user):
    code = emailed_code(api_client, user.email)
    assert reset(api_client, user.email, code).status_code == 200
    again = reset(api_client, user.email, code, new_password="yet-another-passphrase-7")
    assert again.status_code == 400
    assert again.json() == INVALID_CODE
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize("guess", [None, "abcdef", "12345", "1234567", " 12 34 "], ids=str)
def test_wrong_or_malformed_code_is_400_and_counts_a_try(api_client, user, guess):
    code = emailed_code(api_client, user.email)
    response = reset(api_client, user.email, wrong(code) if guess is None else guess)
    assert response.status_code == 400
    assert response.json() == INVALID_CODE
    assert RecoveryCode.objects.get().attempts == 1
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize("guess", ["", "   "], ids=["empty", "blank"])
def test_blank_code_is_a_field_error(api_client, user, guess):
    response = reset(api_client, user.email, guess)
    assert response.status_code == 400
    assert list(response.json()) == ["code"]


@pytest.mark.django_db
def test_five_wrong_tries_void_the_code(api_client, user):
    code = emailed_code(api_client, user.email)
    for _ in range(5):
        assert reset(api_client, user.email, wrong(code)).json() == INVALID_CODE
    stored = RecoveryCode.objects.get()
    assert (stored.state, stored.attempts) == ("voided", 5)

    sixth = reset(api_client, user.email, code)
    assert sixth.status_code == 400
    assert sixth.json() == INVALID_CODE
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


@pytest.mark.django_db
def test_right_code_still_works_after_four_wrong_tries(api_client, user):
    code = emailed_code(api_client, user.email)
    for _ in range(4):
        reset(api_client, user.email, wrong(code))
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_code_works_until_it_expires(api_client, user):
    code = emailed_code(api_client, user.email)
    later = timezone.now() + timedelta(minutes=settings.PASSWORD_RESET_CODE_MINUTES, seconds=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        response = reset(api_client, user.email, code)
    assert response.status_code == 400
    assert response.json() == INVALID_CODE
    # Just before the end of its lifetime the same code works.
    almost = timezone.now() + timedelta(minutes=settings.PASSWORD_RESET_CODE_MINUTES - 1)
    with mock.patch("django.utils.timezone.now", return_value=almost):
        assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_new_request_voids_the_older_code(api_client, user):
    with mock.patch("accounts.services.secrets.randbelow", side_effect=[111111, 222222]):
        first = emailed_code(api_client, user.email)
        second = emailed_code(api_client, user.email)
    assert (first, second) == ("111111", "222222")
    assert list(RecoveryCode.objects.order_by("id").values_list("state", flat=True)) == ["voided", "active"]

    response = reset(api_client, user.email, first)
    assert response.status_code == 400
    assert response.json() == INVALID_CODE
    assert reset(api_client, user.email, second).status_code == 200


@pytest.mark.django_db
def test_codes_start_with_zero_sometimes(api_client, user):
    with mock.patch("accounts.services.secrets.randbelow", return_value=4321):
        code = emailed_code(api_client, user.email)
    assert code == "004321"
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_reset_for_unknown_email_gives_the_same_400(api_client, user):
    code = emailed_code(api_client, user.email)
    response = reset(api_client, "nobody@example.com", code)
    assert response.status_code == 400
    assert response.json() == INVALID_CODE


@pytest.mark.django_db
def test_code_of_one_user_does_not_reset_another(api_client, user, other_user):
    code = emailed_code(api_client, user.email)
    response = reset(api_client, other_user.email, code)
    assert response.json() == INVALID_CODE
    assert User.objects.get(pk=other_user.pk).check_password(PASSWORD)


@pytest.mark.django_db
def test_deactivated_account_cannot_reset(api_client, user):
    code = emailed_code(api_client, user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = reset(api_client, user.email, code)
    assert response.status_code == 400
    assert response.json() == INVALID_CODE


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password",
    ["short7!", "password123", "12345678901", "alice@example.com", "aliceexample"],
    ids=["too-short", "common", "all-digits", "same-as-email", "like-email"],
)
def test_weak_new_password_is_400_and_keeps_the_code(api_client, user, password):
    code = emailed_code(api_client, user.email)
    response = reset(api_client, user.email, code, new_password=password)
    assert response.status_code == 400
    assert list(response.json()) == ["new_password"]
    assert RecoveryCode.objects.get().attempts == 0
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_reset_requires_every_field(api_client):
    response = api_client.post(RESET, {})
    assert response.status_code == 400
    assert set(response.json()) == {"email", "code", "new_password"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com", "code": "12\x0034", "new_password": NEW_PASSWORD},
        {"email": "alice@example.com", "code": {"a": 1}, "new_password": NEW_PASSWORD},
        {"email": "alice@example.com", "code": "1" * 1000, "new_password": NEW_PASSWORD},
        {"email": "alice@example.com", "code": "123456", "new_password": "x" * 5000},
    ],
    ids=["nul", "object", "huge-code", "huge-password"],
)
def test_bad_reset_input_is_400(api_client, user, body):
    response = api_client.post(RESET, body, format="json")
    assert response.status_code == 400


# Throttling


@pytest.mark.django_db
@override_settings(AUTH_THROTTLE_RATE="2/min")
def test_recovery_and_reset_are_throttled_per_ip(api_client, user):
    cache.clear()
    try:
        assert request_code(api_client, user.email).status_code == 202
        assert reset(api_client, user.email, "000000").status_code == 400
        for blocked in (request_code(api_client, user.email), reset(api_client, user.email, "000000")):
            assert blocked.status_code == 429
            assert int(blocked["Retry-After"]) > 0
            assert set(blocked.json()) == {"detail"}
        assert request_code(APIClient(REMOTE_ADDR="10.0.0.9"), user.email).status_code == 202
    finally:
        cache.clear()


# Email delivery


@pytest.mark.django_db
def test_code_is_sent_through_a_real_smtp_server(api_client, user, smtp_inbox):
    assert request_code(api_client, user.email).status_code == 202
    [message] = smtp_inbox.messages
    assert smtp_inbox.recipients == [["alice@example.com"]]
    assert message["To"] == "alice@example.com"
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    code = code_in(text)
    assert f">{code}</p>" in html
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_failed_send_is_retried_with_backoff(api_client, user, no_backoff, caplog):
    inbox = Inbox(refuse_first=2)
    controller = Controller(inbox, hostname="127.0.0.1", port=FLAKY_SMTP_PORT)
    controller.start()
    try:
        with smtp_settings(FLAKY_SMTP_PORT), caplog.at_level(logging.INFO):
            assert request_code(api_client, user.email).status_code == 202
    finally:
        controller.stop()
    [message] = inbox.messages
    assert [c.args[0] for c in no_backoff.call_args_list] == [1.0, 2.0]
    warnings = [r for r in caplog.records if r.name == "accounts.tasks" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    code = code_in(message.get_body(preferencelist=("plain",)).get_content())
    assert code not in caplog.text
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_send_that_keeps_failing_is_logged_not_lost_silently(api_client, user, no_backoff, caplog):
    # Bound but not listening: every connection attempt is refused at once.
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", REFUSING_PORT))
    try:
        with smtp_settings(REFUSING_PORT), caplog.at_level(logging.INFO):
            response = request_code(api_client, user.email)
    finally:
        refusing.close()
    assert response.status_code == 202
    assert response.json() == ACCEPTED
    assert [c.args[0] for c in no_backoff.call_args_list] == [1.0, 2.0, 4.0]
    errors = [r for r in caplog.records if r.name == "accounts.tasks" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "not sent after 4 attempts" in errors[0].getMessage()
    # django-tasks records the failed task as well.
    assert any(r.name == "django_tasks" and r.levelno >= logging.ERROR for r in caplog.records)


@pytest.mark.django_db
def test_code_never_appears_in_the_logs(api_client, user, caplog):
    with caplog.at_level(logging.DEBUG):
        code = emailed_code(api_client, user.email)
        reset(api_client, user.email, wrong(code))
        reset(api_client, user.email, code)
    assert "recovery email sent" in caplog.text
    assert "password reset by recovery code" in caplog.text
    assert code not in caplog.text
    assert NEW_PASSWORD not in caplog.text


# The worker closes connections left inside a transaction, so these tests commit for real.
@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_database_backend_queues_the_email_for_the_worker(api_client, user):
    assert request_code(api_client, user.email).status_code == 202
    # Queued, not sent: the task holds only the email address, the code does not exist yet.
    [queued] = DBTaskResult.objects.all()
    assert queued.status == TaskResultStatus.READY
    assert queued.args_kwargs == {"args": ["alice@example.com"], "kwargs": {}}
    assert mail.outbox == []
    assert not RecoveryCode.objects.exists()

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    queued.refresh_from_db()
    assert queued.status == TaskResultStatus.SUCCESSFUL
    assert queued.return_value is True
    [message] = mail.outbox
    assert reset(api_client, user.email, code_in(message.body)).status_code == 200


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_worker_sends_nothing_for_unknown_email(api_client):
    assert request_code(api_client, "nobody@example.com").status_code == 202
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    queued = DBTaskResult.objects.get()
    assert queued.status == TaskResultStatus.SUCCESSFUL
    assert queued.return_value is False
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_worker_records_a_send_that_keeps_failing(api_client, user, no_backoff):
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", REFUSING_PORT))
    try:
        with smtp_settings(REFUSING_PORT):
            request_code(api_client, user.email)
            call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        refusing.close()
    queued = DBTaskResult.objects.get()
    assert queued.status == TaskResultStatus.FAILED
    assert "ConnectionRefusedError" in queued.exception_class_path


# Concurrency (PostgreSQL: SQLite has no row locks to test)


def _in_parallel(calls) -> list:
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _reset_call(address: str, code: str):
    return lambda: services.password_reset(email=address, code=code, new_password=NEW_PASSWORD)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_tries_cannot_exceed_five(user):
    if connection.vendor != "postgresql":
        pytest.skip("row locks (select_for_update) need PostgreSQL")
    _, code = services.recovery_code_issue(email=user.email)
    results = _in_parallel([_reset_call(user.email, wrong(code)) for _ in range(8)])
    assert all(isinstance(result, services.InvalidRecoveryCode) for result in results), results
    stored = RecoveryCode.objects.get()
    assert (stored.state, stored.attempts) == ("voided", 5)
    with pytest.raises(services.InvalidRecoveryCode):
        services.password_reset(email=user.email, code=code, new_password=NEW_PASSWORD)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_of_one_code_succeed_once(user):
    if connection.vendor != "postgresql":
        pytest.skip("row locks (select_for_update) need PostgreSQL")
    _, code = services.recovery_code_issue(email=user.email)
    results = _in_parallel([_reset_call(user.email, code) for _ in range(4)])
    assert sum(isinstance(result, User) for result in results) == 1, results
    assert sum(isinstance(result, services.InvalidRecoveryCode) for result in results) == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_leave_one_active_code_and_keep_the_hourly_limit(user):
    if connection.vendor != "postgresql":
        pytest.skip("row locks (select_for_update) need PostgreSQL")
    results = _in_parallel([lambda: services.recovery_code_issue(email=user.email) for _ in range(5)])
    # RECOVERY_CODES_PER_HOUR (3): the user row lock orders the requests, two get nothing.
    assert sum(isinstance(result, tuple) for result in results) == 3, results
    assert results.count(None) == 2, results
    assert RecoveryCode.objects.filter(state="active").count() == 1
    assert RecoveryCode.objects.filter(state="voided").count() == 2


# Purging


def _code(
    user: User,
    *,
    state: str = "active",
    expires_in: timedelta = timedelta(minutes=10),
    age: timedelta = timedelta(0),
) -> RecoveryCode:
    return RecoveryCode.objects.create(
        user=user,
        code_hash="0" * 64,
        state=state,
        created_at=timezone.now() - age,
        expires_at=timezone.now() + expires_in,
    )


@pytest.mark.django_db
def test_purge_deletes_dead_codes_and_expired_tokens(user, other_user):
    live = _code(user)
    two_hours = timedelta(hours=2)
    _code(other_user, expires_in=timedelta(seconds=-1), age=two_hours)
    _code(user, state="spent", age=two_hours)
    _code(user, state="voided", age=two_hours)
    # Dead, but still counted by RECOVERY_CODES_PER_HOUR: kept until it is an hour old.
    recent = _code(other_user, state="spent", age=timedelta(minutes=59))
    now = timezone.now()
    current = OutstandingToken.objects.create(
        user=user, jti="live", token="t", expires_at=now + timedelta(days=1)
    )
    expired = OutstandingToken.objects.create(
        user=user, jti="old", token="t", expires_at=now - timedelta(days=1)
    )
    BlacklistedToken.objects.create(token=expired)

    dry = StringIO()
    call_command("purge_expired_credentials", "--dry-run", stdout=dry)
    assert "recovery codes: 3 would be deleted" in dry.getvalue()
    assert "expired tokens: 1 would be deleted" in dry.getvalue()
    assert RecoveryCode.objects.count() == 5
    assert OutstandingToken.objects.count() == 2

    out = StringIO()
    call_command("purge_expired_credentials", "--batch-size", "2", stdout=out)
    assert "recovery codes: 2 of 3 deleted" in out.getvalue()
    assert "recovery codes: 3 deleted" in out.getvalue()
    assert "expired tokens: 1 deleted" in out.getvalue()
    assert set(RecoveryCode.objects.all()) == {live, recent}
    assert list(OutstandingToken.objects.all()) == [current]
    assert not BlacklistedToken.objects.exists()

    again = StringIO()
    call_command("purge_expired_credentials", stdout=again)
    assert "recovery codes: 0 deleted" in again.getvalue()


def test_purge_has_help_text():
    from accounts.management.commands.purge_expired_credentials import Command

    assert "cron" in Command.help


# Admin


@pytest.fixture
def admin_client(make_user):
    client = APIClient()
    client.force_login(make_user("admin@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_admin_lists_recovery_codes_without_hashes(admin_client, user, other_user, make_user):
    _code(user)
    _code(other_user, state="spent")
    _code(make_user("carol@example.com"), expires_in=timedelta(seconds=-1))
    RecoveryCode.objects.filter(user=other_user).update(code_hash="f" * 64)
    response = admin_client.get(reverse("admin:accounts_recoverycode_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("alice@example.com", "bob@example.com", "carol@example.com", "spent", "expired", "active"):
        assert text in page
    assert "0" * 64 not in page
    assert "f" * 64 not in page
    assert "code_hash" not in page


@pytest.mark.django_db
def test_admin_recovery_codes_are_read_only(admin_client, user):
    stored = _code(user)
    assert admin_client.get(reverse("admin:accounts_recoverycode_add")).status_code == 403
    change_url = reverse("admin:accounts_recoverycode_change", args=[stored.pk])
    view = admin_client.get(change_url)
    assert view.status_code == 200
    assert "0" * 64 not in view.content.decode()
    assert admin_client.post(change_url, {"attempts": 5}).status_code == 403
    assert (
        admin_client.get(reverse("admin:accounts_recoverycode_delete", args=[stored.pk])).status_code == 403
    )
    assert RecoveryCode.objects.get().attempts == 0
    assert RecoveryCode in admin_site._registry


# Schema


@pytest.mark.django_db
def test_schema_documents_recovery_and_reset(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    recovery = schema["paths"][RECOVERY]["post"]
    reset_op = schema["paths"][RESET]["post"]
    assert set(recovery["responses"]) == {"202", "400", "413", "415", "429", "503"}
    assert set(reset_op["responses"]) == {"200", "400", "413", "415", "429", "503"}
    body = reset_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][body]["required"]) == {"email", "code", "new_password"}
