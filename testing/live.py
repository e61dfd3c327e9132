"""Real gunicorn instances for tests that exercise the API over HTTP, as clients meet it.

Each instance runs `gunicorn blogapi.wsgi` with the production settings (DEBUG off) and
gunicorn.conf.py, on the test database, from a port range the calling test owns on the shared
machine. `call()` is a small urllib client that never raises on an HTTP error status.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30
TEST_SECRET_KEY = "live-test-key-shared-by-every-instance-0123456789abcdef"  # noqa: S105


@dataclass
class Answer:
    status: int
    headers: dict
    body: object


@dataclass
class Instance:
    base: str
    process: subprocess.Popen
    log: Path
    env: dict = field(repr=False)

    def call(self, method: str, path: str, **kwargs) -> Answer:
        return call(self.base, method, path, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the children of this instance's master process."""
        return children(self.process.pid)


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces, so split after it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return sorted(found)


def call(
    base: str,
    method: str,
    path: str,
    *,
    body: dict | None = None,
    form: dict | None = None,
    token: str | None = None,
    headers: dict | None = None,
    timeout: float = 15,
) -> Answer:
    """One request; the JSON body parsed (None when empty, the text when not JSON)."""
    sent = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data, sent["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), _parse(response.read()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), _parse(error.read()))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping client for Django's HTML forms, as a person with a browser uses them:
    GET the page (CSRF cookie and token), POST the form. Redirects are answers, not followed."""

    CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

    def __init__(self, base: str):
        self.base = base
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects()
        )

    def request(
        self, method: str, path: str, form: dict | None = None, headers: dict | None = None
    ) -> Answer:
        data = urlencode(form, doseq=True).encode() if form is not None else None
        sent = {"Accept": "text/html", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)  # noqa: S310
        try:
            with self._opener.open(request, timeout=15) as response:
                return Answer(
                    response.status, dict(response.headers), response.read().decode(errors="replace")
                )
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read().decode(errors="replace"))

    def submit(self, path: str, fields: dict) -> Answer:
        """GET the form page at `path`, then POST `fields` to it with the page's CSRF token."""
        page = self.request("GET", path)
        assert page.status == 200, (path, page.status)
        token = self.CSRF_TOKEN.search(page.body)
        assert token, f"no CSRF token on {path}"
        return self.request("POST", path, {"csrfmiddlewaretoken": token.group(1), **fields})

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)


def _parse(raw: bytes) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def free_ports(ports: range, count: int) -> list[int]:
    found = []
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"fewer than {count} free ports in {ports.start}-{ports.stop - 1}")


def database_url() -> str:
    """The URL of the database the test runs on (pytest-django's test database)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: servers in other processes cannot share SQLite's test database")


def production_env(**overrides: str) -> dict:
    """The environment of a production-like instance on the test database; overrides win."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blogapi.settings",
        "DEBUG": "false",
        "SECRET_KEY": TEST_SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(),
        "TASKS_BACKEND": "immediate",
        "EMAIL_URL": "consolemail://",
        "WEB_CONCURRENCY": "1",
        **overrides,
    }


def collect_static() -> None:
    """Run collectstatic into STATIC_ROOT, as the image build does: production settings serve
    HTML pages (admin, login, browsable API) from its manifest, and fail without it."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env={**production_env(), "DATABASE_URL": "sqlite:///:memory:"},
        check=True,
        timeout=120,
    )


def wait_until_ready(instance: Instance, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {instance.process.returncode}:\n{instance.log_text()[-3000:]}")
        try:
            if call(instance.base, "GET", "/healthz", timeout=2).status == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn at {instance.base} not ready after {timeout}s:\n{instance.log_text()[-3000:]}")


def stop(instance: Instance) -> None:
    if instance.process.poll() is None:
        instance.process.send_signal(signal.SIGTERM)
    try:
        instance.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        instance.process.kill()
        instance.process.wait()


@contextmanager
def gunicorn(
    tmp_path: Path, ports: range, *, count: int = 1, env: dict | None = None
) -> Iterator[list[Instance]]:
    """`count` gunicorn instances from `ports`, ready to serve; stopped (SIGTERM) on exit."""
    environment = env if env is not None else production_env()
    instances: list[Instance] = []
    try:
        for port in free_ports(ports, count):
            log = tmp_path / f"gunicorn-{port}.log"
            with log.open("w") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "blogapi.wsgi"],
                    cwd=ROOT,
                    env={**environment, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            instance = Instance(f"http://127.0.0.1:{port}", process, log, environment)
            instances.append(instance)
            wait_until_ready(instance)
        yield instances
    finally:
        for instance in instances:
            stop(instance)
