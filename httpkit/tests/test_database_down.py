"""The real thing: gunicorn (DEBUG off) on a throwaway PostgreSQL cluster that the test stops and
starts again. While the database is down every API request answers 503 `{detail}` without a
traceback, /healthz stays 200 and /readyz says 503; once it is back the same worker process
serves normally. The same server shows whitenoise serving collected static files and the
security headers of Django's deploy checklist."""

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from testing.cluster import throwaway_cluster
from testing.live import free_ports

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Free ports of this test's own ranges on the shared machine, all below Linux's ephemeral range
# (32768-60999), where any outgoing connection may take a port between this check and its use.
PG_PORT = free_ports(range(9200, 9210), 1)[0]
WEB_PORT = free_ports(range(8230, 8240), 1)[0]
BASE = f"http://127.0.0.1:{WEB_PORT}"
PASSWORD = "correct-horse-battery-staple"


def call(method, path, body=None, token=None, form=False, accept="application/json", **extra_headers):
    """One HTTP request; returns (status, headers, raw body) whatever the status."""
    headers = {"Accept": accept, **extra_headers}
    data = None
    if body is not None:
        if form:
            data = "&".join(f"{k}={v}" for k, v in body.items()).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # Always http://127.0.0.1 (BASE): the scheme audit does not apply.
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_until(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.fixture(scope="module")
def cluster():
    with throwaway_cluster(PG_PORT) as running:
        yield running


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    database_url = cluster.url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blogapi.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "AUTH_THROTTLE_RATE": "off",
        "CORS_ALLOWED_ORIGINS": "https://app.example.com",
        "SECURE_HSTS_SECONDS": "3600",
        "GUNICORN_BIND": f"127.0.0.1:{WEB_PORT}",
        "WEB_CONCURRENCY": "1",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [*manage, *command], cwd=settings.BASE_DIR, env=env, check=True, capture_output=True, timeout=300
        )
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(gunicorn), "blogapi.wsgi"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: call("GET", "/healthz")[0] == 200)
        yield process, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_database_outage_is_503_and_the_same_process_recovers(cluster, server):
    process, log = server
    status, _, _ = call("POST", "/api/v1/users/", {"email": "ops@example.com", "password": PASSWORD})
    assert status == 201
    status, _, raw = call(
        "POST", "/api/v1/auth/token/", {"username": "ops@example.com", "password": PASSWORD}, form=True
    )
    assert status == 200
    token = json.loads(raw)["access_token"]
    status, _, raw = call("POST", "/api/v1/posts/", {"title": "Before", "content": "the outage"}, token=token)
    assert status == 201
    post_id = json.loads(raw)["id"]
    assert call("GET", "/readyz")[0] == 200

    cluster.stop()
    while_down = [
        ("GET", "/api/v1/posts/", None),
        ("GET", f"/api/v1/posts/{post_id}/", None),
        ("GET", "/api/v1/users/me/", None),
        ("POST", "/api/v1/posts/", {"title": "During", "content": "the outage"}),
        ("POST", "/api/v1/votes/", {"post_id": post_id, "dir": 1}),
    ]
    for method, path, body in while_down:
        status, headers, raw = call(method, path, body, token=token)
        assert status == 503, (method, path, raw)
        assert headers["Content-Type"] == "application/json"
        assert headers["Retry-After"] == "5"
        assert set(json.loads(raw)) == {"detail"}
        assert b"Traceback" not in raw
        assert b"psycopg" not in raw
    for path, body in [
        ("/api/v1/users/", {"email": "new@example.com", "password": PASSWORD}),
        ("/api/v1/auth/token/", {"username": "ops@example.com", "password": PASSWORD}),
    ]:
        status, _, raw = call("POST", path, body)
        assert status == 503, (path, raw)
        assert set(json.loads(raw)) == {"detail"}
    status, _, raw = call("GET", "/healthz")
    assert (status, json.loads(raw)) == (200, {"status": "ok"})
    status, _, raw = call("GET", "/readyz")
    assert status == 503
    assert json.loads(raw)["status"] == "unavailable"

    cluster.start()
    wait_until(lambda: call("GET", "/readyz")[0] == 200)
    status, _, raw = call("GET", f"/api/v1/posts/{post_id}/", token=token)
    assert status == 200
    assert json.loads(raw)["title"] == "Before"
    assert call("GET", "/api/v1/posts/", token=token)[0] == 200
    assert call("POST", "/api/v1/votes/", {"post_id": post_id, "dir": 1}, token=token)[0] == 201

    assert process.poll() is None
    output = log.read_text()
    assert output.count("Booting worker") == 1, output
    assert '" 500 ' not in output
    assert "Traceback" not in output


def test_gunicorn_serves_static_files_and_security_headers(server):
    status, headers, raw = call("GET", "/api/docs/", accept="text/html")
    assert status == 200
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Strict-Transport-Security"] is None  # HSTS is only sent over HTTPS
    # Collected with hashed names (the manifest storage), so they can be cached for good.
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', raw.decode())
    assert any(re.search(r"swagger-ui-bundle\.[0-9a-f]{12}\.js$", a) for a in assets), assets
    status, _, admin_page = call("GET", "/admin/login/", accept="text/html")
    assert status == 200
    assets += re.findall(r'(?:src|href)="(/static/[^"]+)"', admin_page.decode())
    assert any(a.startswith("/static/admin/") for a in assets)
    for path in assets:
        status, headers, body = call("GET", path, accept="*/*")
        assert status == 200, path
        assert body
        assert "immutable" in headers["Cache-Control"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = call("GET", "/api/v1/posts/")
    assert status == 401
    assert headers["X-Frame-Options"] == "DENY"

    _, headers, _ = call("GET", "/api/docs/", accept="text/html", **{"X-Forwarded-Proto": "https"})
    assert headers["Strict-Transport-Security"] == "max-age=3600; includeSubDomains; preload"
