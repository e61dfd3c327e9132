"""The accounts rules over HTTP, against real gunicorn instances on PostgreSQL (testing/live.py).

Everything here is also asserted in-process elsewhere; these tests show the same answers as a
client meets them: through gunicorn, over fresh connections, the HTML login pages through their
real forms (CSRF cookie and token), several instances sharing only the database.
"""

import asyncio
import email
import json
import re
import statistics
import time
from datetime import timedelta
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from accounts.models import RecoveryCode, User
from testing.live import (
    Answer,
    Browser,
    call,
    collect_static,
    free_ports,
    gunicorn,
    production_env,
    require_postgresql,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Ports 9100-9199 are this module's own on the shared machine: gunicorn below 9190, SMTP above.
GUNICORN_PORTS = range(9100, 9190)
SMTP_PORTS = range(9190, 9200)
PASSWORD = "live-horse-battery-staple"
NEW_PASSWORD = "live-new-passphrase-2026"
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
LOCKED = "Too many failed attempts for this account; try again later."
INVALID_CODE = {"detail": "The code is wrong, expired or no longer valid."}
LOGIN_PAGES = ("/api-auth/login/", "/admin/login/")


@pytest.fixture(scope="module", autouse=True)
def _static_files():
    # The HTML pages below (login forms, admin, browsable API) need the manifest.
    collect_static()


class Inbox:
    """An SMTP server's handler that keeps the messages; each takes `delay` seconds to accept."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"

    def last_code(self, to: str) -> str:
        message = next(m for m in reversed(self.messages) if m["To"] == to)
        text = message.get_body(preferencelist=("plain",)).get_content()
        return re.search(r"^\s+(\d{6})\s*$", text, re.MULTILINE).group(1)

    def count(self, to: str) -> int:
        return sum(message["To"] == to for message in self.messages)


def smtp_server(delay: float = 0.0):
    inbox = Inbox(delay)
    [port] = free_ports(SMTP_PORTS, 1)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return inbox, controller, f"smtp://127.0.0.1:{port}"


@pytest.fixture
def inbox():
    found, controller, url = smtp_server()
    found.url = url
    yield found
    controller.stop()


@pytest.fixture
def servers(transactional_db, tmp_path, inbox):
    """Two instances on the test database, each with its own (local-memory) cache."""
    require_postgresql()
    with gunicorn(tmp_path, GUNICORN_PORTS, count=2, env=production_env(EMAIL_URL=inbox.url)) as running:
        yield [instance.base for instance in running]


def register(base: str, address: str, **extra) -> Answer:
    return call(base, "POST", "/api/v1/users/", body={"email": address, "password": PASSWORD, **extra})


def log_in(base: str, address: str, password: str = PASSWORD) -> Answer:
    return call(base, "POST", "/api/v1/auth/token/", form={"username": address, "password": password})


def assert_locked(answer: Answer) -> None:
    assert answer.status == 429, answer.body
    assert set(answer.body) == {"detail"}
    assert answer.body["detail"].startswith(LOCKED)
    assert 14 * 60 < int(answer.headers["Retry-After"]) <= 15 * 60


# Usernames and private emails, with a walk over every endpoint as one user


def test_users_see_usernames_and_only_their_own_email(servers):
    a, b = servers
    seen: list[Answer] = []

    def as_alice(method: str, path: str, **kwargs) -> Answer:
        answer = call(a, method, path, token=alice_token, **kwargs)
        seen.append(answer)
        return answer

    alice = register(a, "alice@live.example", username="Alice")
    assert alice.status == 201, alice.body
    assert set(alice.body) == {"id", "username", "email", "created_at"}
    bob = register(b, "Bob.Smith@live.example")
    assert bob.body["username"] == "Bob.Smith"
    assert register(a, "bob.smith@other.example").body["username"] == "bob.smith2"
    for bad, field in (
        ({"email": "x@live.example", "password": PASSWORD, "username": "ALICE"}, "username"),
        ({"email": "y@live.example", "password": PASSWORD, "username": "a b"}, "username"),
        ({"email": "z@live.example", "password": PASSWORD, "username": "123"}, "username"),
        ({"email": "ALICE@live.example", "password": PASSWORD}, "email"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "w@live.example", "password": "12345678901"}, "password"),
        ({"email": "v@live.example", "password": PASSWORD, "username": "nul\x00x"}, "username"),
        ({"email": "u@live.example", "password": PASSWORD, "username": ["list"]}, "username"),
    ):
        refused = call(a, "POST", "/api/v1/users/", body=bad)
        assert refused.status == 400, (bad, refused.body)
        assert list(refused.body) == [field], refused.body

    alice_token = log_in(b, "alice@live.example").body["access_token"]
    bob_token = log_in(a, "bob.smith@live.example").body["access_token"]
    post = call(b, "POST", "/api/v1/posts/", token=bob_token, body={"title": "Hi", "content": "From Bob"})
    assert post.status == 201
    assert post.body["owner"] == {"id": bob.body["id"], "username": "Bob.Smith"}

    assert as_alice("GET", "/api/v1/users/me/").body == alice.body
    profile = as_alice("GET", f"/api/v1/users/{bob.body['id']}/")
    assert profile.body == {k: bob.body[k] for k in ("id", "username", "created_at")}
    listed = as_alice("GET", "/api/v1/posts/")
    assert listed.body["results"][0]["owner"] == {"id": bob.body["id"], "username": "Bob.Smith"}
    as_alice("GET", f"/api/v1/posts/?owner={bob.body['id']}")
    as_alice("GET", f"/api/v1/posts/{post.body['id']}/")
    as_alice("GET", "/api/v1/posts/mine/")
    assert as_alice("POST", "/api/v1/votes/", body={"post_id": post.body["id"], "dir": 1}).status == 201
    as_alice("GET", "/api/v1/")
    as_alice("GET", f"/api/v1/users/{bob.body['id']}/", headers={"Accept": "text/html"})
    as_alice("GET", "/api/v1/posts/", headers={"Accept": "text/html"})
    renamed = as_alice("PATCH", "/api/v1/users/me/", body={"username": "alice.w"})
    assert renamed.status == 200
    assert renamed.body["username"] == "alice.w"
    taken = as_alice("PATCH", "/api/v1/users/me/", body={"username": "BOB.SMITH"})
    assert taken.status == 400
    assert taken.body == {"username": ["A user with that username already exists."]}
    for bad in ({"username": "x"}, {"username": 12}, {}, {"username": "é" * 5}):
        answer = as_alice("PATCH", "/api/v1/users/me/", body=bad)
        assert answer.status == 400, (bad, answer.body)
    assert call(a, "PATCH", "/api/v1/users/me/", body={"username": "anon"}).status == 401
    assert as_alice("GET", "/api/v1/users/987654321/").status == 404

    User.objects.filter(pk=bob.body["id"]).update(is_active=False)
    assert as_alice("GET", f"/api/v1/users/{bob.body['id']}/").status == 404

    for answer in seen:
        assert answer.status < 500
        text = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
        assert "bob.smith@live.example" not in text.lower()


# Self-service


def test_password_change_and_account_deletion(servers):
    a, b = servers
    for name in ("alice", "bob", "carol"):
        assert register(a, f"{name}@live.example").status == 201
    first = log_in(a, "alice@live.example").body
    second = log_in(b, "alice@live.example").body
    bob = log_in(a, "bob@live.example").body["access_token"]
    carol = log_in(b, "carol@live.example").body["access_token"]

    # Password change: wrong, weak, malformed; then a new pair, and every other token dies.
    path = "/api/v1/users/me/password/"
    wrong = call(
        b,
        "POST",
        path,
        token=first["access_token"],
        body={"current_password": "nope-nope-1", "new_password": NEW_PASSWORD},
    )
    assert (wrong.status, wrong.body) == (400, {"current_password": ["The password is wrong."]})
    weak = call(
        b,
        "POST",
        path,
        token=first["access_token"],
        body={"current_password": PASSWORD, "new_password": "alice"},
    )
    assert weak.status == 400
    assert list(weak.body) == ["new_password"]
    assert call(b, "POST", path, token=first["access_token"], body={"current_password": 1}).status == 400
    assert (
        call(b, "POST", path, body={"current_password": PASSWORD, "new_password": NEW_PASSWORD}).status == 401
    )
    changed = call(
        b,
        "POST",
        path,
        token=first["access_token"],
        body={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status == 200, changed.body
    assert set(changed.body) == TOKEN_KEYS
    for old in (first, second):
        assert call(a, "GET", "/api/v1/users/me/", token=old["access_token"]).status == 401
        assert (
            call(
                b, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": old["refresh_token"]}
            ).status
            == 401
        )
    token = changed.body["access_token"]
    assert call(a, "GET", "/api/v1/users/me/", token=token).status == 200
    assert log_in(a, "alice@live.example").status == 401
    assert log_in(a, "alice@live.example", NEW_PASSWORD).status == 200

    # Deletion: likes on others' posts go, their tallies stay exact.
    bobs = call(a, "POST", "/api/v1/posts/", token=bob, body={"title": "b", "content": "b"}).body["id"]
    alices = call(a, "POST", "/api/v1/posts/", token=token, body={"title": "a", "content": "a"}).body["id"]
    for voter in (token, carol):
        assert call(b, "POST", "/api/v1/votes/", token=voter, body={"post_id": bobs, "dir": 1}).status == 201
    assert call(b, "POST", "/api/v1/votes/", token=bob, body={"post_id": alices, "dir": 1}).status == 201
    assert call(a, "GET", f"/api/v1/posts/{bobs}/", token=bob).body["votes"] == 2

    refused = call(a, "DELETE", "/api/v1/users/me/", token=token, body={"password": PASSWORD})
    assert (refused.status, refused.body) == (400, {"password": ["The password is wrong."]})
    assert call(a, "DELETE", "/api/v1/users/me/", token=token, body={"password": ["x"]}).status == 400
    assert call(a, "DELETE", "/api/v1/users/me/", token=token).status == 400
    gone = call(b, "DELETE", "/api/v1/users/me/", token=token, body={"password": NEW_PASSWORD})
    assert gone.status == 204
    assert call(a, "GET", "/api/v1/users/me/", token=token).status == 401
    assert call(a, "GET", f"/api/v1/posts/{alices}/", token=bob).status == 404
    assert call(a, "GET", f"/api/v1/posts/{bobs}/", token=bob).body["votes"] == 1
    assert call(b, "GET", "/api/v1/posts/", token=carol).body["count"] == 1
    assert log_in(a, "alice@live.example", NEW_PASSWORD).status == 401
    assert not User.objects.filter(email="alice@live.example").exists()


# Brute force: one lock for every password check, shared by the instances


def test_one_lock_for_every_password_check_across_instances(servers, make_user_live):
    a, b = servers
    staff = make_user_live(a, "staff@live.example", is_staff=True)
    token = log_in(a, staff.email).body["access_token"]

    # Ten failures, through every kind of password check and both instances.
    assert log_in(a, staff.email, "wrong-1-password").status == 401
    assert log_in(b, "STAFF@live.example", "wrong-2-password").status == 401
    for base, page in (
        (a, "/api-auth/login/"),
        (b, "/admin/login/"),
        (b, "/api-auth/login/"),
        (a, "/admin/login/"),
    ):
        failed = Browser(base).submit(page, {"username": staff.email, "password": "wrong-password"})
        assert failed.status == 200
        assert "_auth_user_id" not in failed.body
    wrong_change = call(
        b,
        "POST",
        "/api/v1/users/me/password/",
        token=token,
        body={"current_password": "wrong-x-1", "new_password": NEW_PASSWORD},
    )
    assert wrong_change.status == 400
    assert call(a, "DELETE", "/api/v1/users/me/", token=token, body={"password": "wrong-x-2"}).status == 400
    assert log_in(a, staff.email, "wrong-3-password").status == 401
    assert log_in(b, staff.email, "wrong-4-password").status == 401

    # Locked now, the right password included, everywhere.
    assert_locked(log_in(a, staff.email))
    assert_locked(log_in(b, staff.email))
    assert_locked(call(a, "POST", "/api/v1/auth/token/", body={"email": staff.email, "password": PASSWORD}))
    assert_locked(
        call(
            b,
            "POST",
            "/api/v1/users/me/password/",
            token=token,
            body={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
    )
    assert_locked(call(a, "DELETE", "/api/v1/users/me/", token=token, body={"password": PASSWORD}))
    for base in (a, b):
        for page in LOGIN_PAGES:
            browser = Browser(base)
            refused = browser.submit(page, {"username": staff.email, "password": PASSWORD})
            assert refused.status == 429, (base, page)
            assert refused.headers["Content-Type"].startswith("text/html")
            assert 14 * 60 < int(refused.headers["Retry-After"]) <= 15 * 60
            assert "Too many attempts" in refused.body
            assert browser.cookie("sessionid") is None
    # An unknown email is locked the same way: a lock says nothing about who has an account.
    for _ in range(10):
        assert log_in(b, "nobody@live.example", "any-password-1").status == 401
    assert_locked(log_in(a, "nobody@live.example", "any-password-1"))


@pytest.fixture
def make_user_live(transactional_db):
    """Register through the API (the instances hash with production hashers), then set flags."""

    def make(base: str, address: str, **flags) -> User:
        assert register(base, address).status == 201
        User.objects.filter(email=address).update(**flags)
        return User.objects.get(email=address)

    return make


def test_successful_reset_lifts_the_lock(servers, inbox):
    a, b = servers
    assert register(a, "dana@live.example").status == 201
    for _ in range(10):
        assert log_in(b, "dana@live.example", "not-her-password").status == 401
    assert_locked(log_in(a, "dana@live.example"))
    assert (
        call(a, "POST", "/api/v1/auth/password-recovery/", body={"email": "dana@live.example"}).status == 202
    )
    code = wait_for_code(inbox, "dana@live.example")
    reset = call(
        b,
        "POST",
        "/api/v1/auth/password-reset/",
        body={"email": "dana@live.example", "code": code, "new_password": NEW_PASSWORD},
    )
    assert reset.status == 200, reset.body
    assert log_in(a, "dana@live.example", NEW_PASSWORD).status == 200


def send_wrong_codes(base: str, address: str, *, next_to: str, times: int = 5) -> None:
    """`times` resets with a code one above `next_to` (so wrong); each gets the one 400."""
    wrong = f"{(int(next_to) + 1) % 10**6:06d}"
    for _ in range(times):
        answer = call(
            base,
            "POST",
            "/api/v1/auth/password-reset/",
            body={"email": address, "code": wrong, "new_password": NEW_PASSWORD},
        )
        assert (answer.status, answer.body) == (400, INVALID_CODE)


def wait_for_code(inbox: Inbox, to: str, count: int = 1) -> str:
    deadline = time.monotonic() + 10
    while inbox.count(to) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert inbox.count(to) >= count
    return inbox.last_code(to)


def test_per_ip_limit_covers_every_password_check(transactional_db, tmp_path, make_user_live):
    require_postgresql()
    environment = production_env(AUTH_THROTTLE_RATE="5/min")
    with gunicorn(tmp_path, GUNICORN_PORTS, env=environment) as [instance]:
        base = instance.base
        # Registration and login are the first two requests of this address's five.
        staff = make_user_live(base, "staff@live.example", is_staff=True)
        token = log_in(base, staff.email).body["access_token"]
        assert (
            Browser(base)
            .submit("/api-auth/login/", {"username": "x@live.example", "password": "y-wrong-1"})
            .status
            == 200
        )
        assert (
            Browser(base)
            .submit("/admin/login/", {"username": "x@live.example", "password": "y-wrong-1"})
            .status
            == 200
        )
        assert (
            call(base, "DELETE", "/api/v1/users/me/", token=token, body={"password": "y-wrong-2"}).status
            == 400
        )
        # The sixth request from this address, whatever password check it makes, is refused.
        for page in LOGIN_PAGES:
            refused = Browser(base).submit(page, {"username": staff.email, "password": PASSWORD})
            assert refused.status == 429
            assert "Too many attempts from this address" in refused.body
            assert int(refused.headers["Retry-After"]) > 0
        change = call(
            base,
            "POST",
            "/api/v1/users/me/password/",
            token=token,
            body={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert change.status == 429
        assert set(change.body) == {"detail"}
        assert int(change.headers["Retry-After"]) > 0
        assert log_in(base, staff.email).status == 429
        assert (
            call(base, "POST", "/api/v1/auth/password-recovery/", body={"email": staff.email}).status == 429
        )
        # Requests that check no password are not limited.
        assert call(base, "GET", "/api/v1/users/me/", token=token).status == 200


# Token lifecycle


def test_token_lifecycle(servers, inbox, make_user_live):
    a, b = servers
    make_user_live(a, "root@live.example", is_staff=True, is_superuser=True)
    assert register(a, "erin@live.example").status == 201
    erin = User.objects.get(email="erin@live.example")

    bad = log_in(a, "erin@live.example", "wrong-password-x")
    assert bad.status == 401
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")
    assert bad.body == {
        "detail": "Invalid credentials",
        "error": "invalid_grant",
        "error_description": "The email or password is wrong, or the account is deactivated.",
    }

    # A rotated refresh token that comes back revokes every refresh token of the user.
    stolen = log_in(a, erin.email).body
    other = log_in(b, erin.email).body
    rotated = call(b, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": stolen["refresh_token"]})
    assert rotated.status == 200
    reused = call(a, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": stolen["refresh_token"]})
    assert reused.status == 401
    for token in (rotated.body["refresh_token"], other["refresh_token"]):
        assert call(b, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": token}).status == 401

    # Deactivation through the admin's change form (a real browser session) revokes refresh
    # tokens; reactivating through the same form does not bring them back.
    tokens = log_in(a, erin.email).body
    admin = Browser(b)
    assert (
        admin.submit("/admin/login/", {"username": "root@live.example", "password": PASSWORD}).status == 302
    )
    change = f"/admin/accounts/user/{erin.pk}/change/"
    form = {"email": erin.email, "username": erin.username}
    assert admin.submit(change, form).status == 302
    assert call(a, "GET", "/api/v1/users/me/", token=tokens["access_token"]).status == 401
    assert log_in(a, erin.email).status == 401
    assert admin.submit(change, {**form, "is_active": "on"}).status == 302
    assert (
        call(a, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": tokens["refresh_token"]}).status
        == 401
    )
    assert call(a, "GET", "/api/v1/users/me/", token=tokens["access_token"]).status == 200

    # Deactivation in code (a model save) does the same.
    tokens = log_in(b, erin.email).body
    erin.refresh_from_db()
    erin.is_active = False
    erin.save()
    erin.is_active = True
    erin.save()
    assert (
        call(a, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": tokens["refresh_token"]}).status
        == 401
    )

    # A reset ends every earlier token, access tokens issued in the same second included.
    early = log_in(a, erin.email).body
    assert call(a, "POST", "/api/v1/auth/password-recovery/", body={"email": erin.email}).status == 202
    code = wait_for_code(inbox, erin.email)
    reset = call(
        b,
        "POST",
        "/api/v1/auth/password-reset/",
        body={"email": erin.email, "code": code, "new_password": NEW_PASSWORD},
    )
    assert reset.status == 200
    after = log_in(a, erin.email, NEW_PASSWORD).body
    assert call(b, "GET", "/api/v1/users/me/", token=early["access_token"]).status == 401
    assert (
        call(b, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": early["refresh_token"]}).status
        == 401
    )
    assert call(b, "GET", "/api/v1/users/me/", token=after["access_token"]).status == 200


# Recovery limits


def test_recovery_limits(servers, inbox):
    a, b = servers
    assert register(a, "fay@live.example").status == 201
    for n in range(1, 4):
        assert (
            call(
                a if n % 2 else b,
                "POST",
                "/api/v1/auth/password-recovery/",
                body={"email": "fay@live.example"},
            ).status
            == 202
        )
        last = wait_for_code(inbox, "fay@live.example", n)
    extra = call(b, "POST", "/api/v1/auth/password-recovery/", body={"email": "fay@live.example"})
    assert extra.status == 202
    time.sleep(0.5)
    assert inbox.count("fay@live.example") == 3
    assert call(a, "POST", "/api/v1/auth/password-recovery/", body={"email": "bad"}).status == 400

    # Ten wrong codes (the last code voids after five, an older one counts nothing more).
    send_wrong_codes(a, "fay@live.example", next_to=last)
    # An hour later (the codes' creation times moved back), codes are sent again.
    RecoveryCode.objects.update(created_at=timezone.now() - timedelta(hours=1, minutes=1))
    assert (
        call(b, "POST", "/api/v1/auth/password-recovery/", body={"email": "fay@live.example"}).status == 202
    )
    code = wait_for_code(inbox, "fay@live.example", 4)
    send_wrong_codes(b, "fay@live.example", next_to=code)
    assert (
        call(a, "POST", "/api/v1/auth/password-recovery/", body={"email": "fay@live.example"}).status == 202
    )
    code = wait_for_code(inbox, "fay@live.example", 5)
    locked = call(
        a,
        "POST",
        "/api/v1/auth/password-reset/",
        body={"email": "fay@live.example", "code": code, "new_password": NEW_PASSWORD},
    )
    assert (locked.status, locked.body) == (400, INVALID_CODE)
    unknown = call(
        a,
        "POST",
        "/api/v1/auth/password-reset/",
        body={"email": "nobody@live.example", "code": code, "new_password": NEW_PASSWORD},
    )
    assert (unknown.status, unknown.body) == (400, INVALID_CODE)
    assert log_in(b, "fay@live.example").status == 200


# The recovery request takes the same time whether or not the account exists


@pytest.mark.parametrize("backend", ["immediate", "database"])
def test_recovery_takes_the_same_time_for_known_and_unknown_emails(transactional_db, tmp_path, backend):
    require_postgresql()
    slow_inbox, controller, url = smtp_server(delay=0.030)
    # Throttles and the hourly limit off: every request for the known email sends a message.
    environment = production_env(
        EMAIL_URL=url, TASKS_BACKEND=backend, AUTH_THROTTLE_RATE="off", RECOVERY_CODES_PER_HOUR="1000"
    )
    try:
        with gunicorn(tmp_path, GUNICORN_PORTS, env=environment) as [instance]:
            assert register(instance.base, "known@live.example").status == 201
            addresses = ["known@live.example", "unknown@live.example"]
            timings: dict[str, list[float]] = {address: [] for address in addresses}
            for round_number in range(-3, 30):
                # Each round asks for both, in alternating order; three warm-up rounds are not counted.
                for address in addresses if round_number % 2 else reversed(addresses):
                    started = time.perf_counter()
                    # urllib opens a fresh connection for every request.
                    answer = call(
                        instance.base, "POST", "/api/v1/auth/password-recovery/", body={"email": address}
                    )
                    elapsed = time.perf_counter() - started
                    assert answer.status == 202
                    if round_number >= 0:
                        timings[address].append(elapsed * 1000)
                    # Let work left after the response finish before the next request.
                    time.sleep(0.2)
            known, unknown = (statistics.median(timings[address]) for address in addresses)
            assert abs(known - unknown) < 10, f"medians: known {known:.1f} ms, unknown {unknown:.1f} ms"
            if backend == "immediate":
                assert slow_inbox.count("known@live.example") == 33
                assert slow_inbox.count("unknown@live.example") == 0
    finally:
        controller.stop()
