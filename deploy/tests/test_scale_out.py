"""Two gunicorn instances on one PostgreSQL database and one Redis behave as one API.

What Kubernetes does with several API pods, on this machine: each instance is a real gunicorn
with production settings (DEBUG off), both on the test database and on one Redis cache.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import redis
from django.db import connection

from .manifests import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Redis database 4 and ports 8400-8499 are this test's own on the shared machine.
REDIS_URL = "redis://127.0.0.1:6379/4"
PORTS = range(8400, 8500)
THROTTLE_RATE = "5/min"
PASSWORD = "scale-out-horse-battery"
START_TIMEOUT = 30


@dataclass
class Answer:
    status: int
    headers: dict
    body: object


def call(
    base: str,
    method: str,
    path: str,
    *,
    body: dict | None = None,
    form: dict | None = None,
    token: str | None = None,
) -> Answer:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data, headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), json.loads(response.read() or b"null"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), json.loads(error.read() or b"null"))


def free_ports(count: int) -> list[int]:
    ports = []
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"fewer than {count} free ports in {PORTS}")


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_until_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if call(base, "GET", "/readyz").status == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    pytest.fail(f"gunicorn at {base} not ready after {START_TIMEOUT}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def instances(transactional_db, tmp_path):
    """Base URLs of two gunicorn instances sharing the test database and one Redis."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: instances in other processes cannot share SQLite's test database")
    redis.Redis.from_url(REDIS_URL).flushdb()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blogapi.settings",
        "DEBUG": "false",
        "SECRET_KEY": "scale-out-test-key-shared-by-both-instances-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(),
        "CACHE_URL": REDIS_URL,
        "AUTH_THROTTLE_RATE": THROTTLE_RATE,
        "TASKS_BACKEND": "immediate",
        "EMAIL_URL": "consolemail://",
        "WEB_CONCURRENCY": "1",
    }
    processes, bases = [], []
    try:
        for port in free_ports(2):
            log = tmp_path / f"gunicorn-{port}.log"
            with log.open("w") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "blogapi.wsgi"],
                    cwd=ROOT,
                    env={**environment, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            processes.append(process)
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(base, process, log)
            bases.append(base)
        yield bases
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        redis.Redis.from_url(REDIS_URL).flushdb()


def log_in(base: str, email: str) -> Answer:
    return call(base, "POST", "/api/v1/auth/token/", form={"username": email, "password": PASSWORD})


def test_tokens_and_the_auth_throttle_hold_across_two_instances(instances):
    a, b = instances
    email = "scale-out@example.com"

    # Auth requests alternate between the instances: 1 A, 2 B, 3 A, 4 B, 5 A, 6 B.
    registered = call(a, "POST", "/api/v1/users/", body={"email": email, "password": PASSWORD})
    assert registered.status == 201, registered.body
    from_b = log_in(b, email)
    assert from_b.status == 200, from_b.body
    from_a = log_in(a, email)
    assert from_a.status == 200, from_a.body

    # A token issued by one instance works on the other.
    me_on_a = call(a, "GET", "/api/v1/users/me/", token=from_b.body["access_token"])
    assert me_on_a.status == 200
    assert me_on_a.body == registered.body
    me_on_b = call(b, "GET", "/api/v1/users/me/", token=from_a.body["access_token"])
    assert me_on_b.status == 200
    assert me_on_b.body == registered.body

    # Refresh is not throttled; a refresh token rotated on B is spent on A as well.
    refresh = from_a.body["refresh_token"]
    rotated = call(b, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": refresh})
    assert rotated.status == 200, rotated.body
    assert set(rotated.body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert call(a, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": refresh}).status == 401

    assert log_in(b, email).status == 200
    assert log_in(a, email).status == 200
    # B has seen two auth requests of its own; only a shared counter makes this the sixth.
    throttled = log_in(b, email)
    assert throttled.status == 429, throttled.body
    assert set(throttled.body) == {"detail"}
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert log_in(a, email).status == 429
