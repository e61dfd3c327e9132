"""Request ids, JSON logs and /metrics on gunicorn with two workers, as production runs them."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from testing.live import ROOT, call, gunicorn, production_env, require_postgresql

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Ports 9600-9699 are this module's own on the shared machine.
PORTS = range(9600, 9700)
OBSERVED = {
    "WEB_CONCURRENCY": "2",
    "LOG_FORMAT": "json",
    "METRICS_ENABLED": "true",
    "TASKS_BACKEND": "database",
    "EMAIL_URL": "memorymail://",
    "AUTH_THROTTLE_RATE": "off",
}
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def server(transactional_db, tmp_path):
    """One gunicorn with two workers, JSON logs and metrics on."""
    require_postgresql()
    with gunicorn(tmp_path, PORTS, env=production_env(**OBSERVED)) as (instance,):
        yield instance


def log_lines(instance) -> list[dict]:
    """Every line of the instance's output, each parsed as JSON (a line that is not JSON fails)."""
    return [json.loads(line) for line in instance.log_text().splitlines() if line]


def request_lines(instance) -> dict[str, dict]:
    return {line["request_id"]: line for line in log_lines(instance) if line["logger"] == "blogapi.requests"}


def metric(text: str, sample: str) -> float:
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(sample + " ")]
    return float(values[0]) if values else 0.0


def raw_request(base: str, request_id_header: bytes) -> bytes:
    """GET /healthz with a header line as given, which no HTTP client library would send."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
            + request_id_header
            + b"\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def files_of_dead_processes(folder: Path) -> list[str]:
    names = [path.name for path in folder.glob("*.db")]
    return [
        name
        for name in names
        if not name.endswith("_archive.db") and not alive(int(name[:-3].split("_")[-1]))
    ]


def test_request_counters_add_up_across_workers_and_their_replacements(transactional_db, tmp_path):
    require_postgresql()
    # Workers are recycled after 15 requests here (200,000 in production): the counts of the
    # workers that are gone must stay in the sums, and their files must not pile up.
    recycled = production_env(**OBSERVED, GUNICORN_CMD_ARGS="--max-requests 15 --max-requests-jitter 0")
    with gunicorn(tmp_path, PORTS, env=recycled) as (server,):
        counted = '{method="GET",route="/healthz",status="200"}'
        # The readiness check before the test already made one request.
        before = metric(call(server.base, "GET", "/metrics").body, "blogapi_http_requests_total" + counted)
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda n: call(server.base, "GET", "/healthz"), range(120)))
        assert {answer.status for answer in answers} == {200}
        pids = {line["pid"] for line in request_lines(server).values() if line["route"] == "/healthz"}
        assert len(pids) > 2, "no worker was recycled"

        [folder] = [
            Path(line["message"].split(": ", 1)[1])
            for line in log_lines(server)
            if line["message"].startswith("metrics folder: ")
        ]
        deadline = time.monotonic() + 20
        while files_of_dead_processes(folder) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert files_of_dead_processes(folder) == []
        assert {"counter_archive.db", "histogram_archive.db"} <= {path.name for path in folder.glob("*.db")}

        # Whichever worker answers the scrape, it reports what all of them served.
        for _ in range(6):
            scrape = call(server.base, "GET", "/metrics")
            assert scrape.status == 200
            assert metric(scrape.body, "blogapi_http_requests_total" + counted) == before + len(answers)
            latency = 'blogapi_http_request_duration_seconds_count{method="GET",route="/healthz"}'
            assert metric(scrape.body, latency) == before + len(answers)
        # A scrape that came through a proxy (the Ingress adds X-Forwarded-For) is refused.
        proxied = call(server.base, "GET", "/metrics", headers={"X-Forwarded-For": "198.51.100.4"})
        assert proxied.status == 404
    assert not folder.exists(), "the folder outlived the server"


def test_every_log_line_is_json_and_each_request_line_has_the_id_its_response_carried(server):
    email = "observed@example.com"
    password = "observed-horse-battery"
    answers = [
        call(server.base, "POST", "/api/v1/users/", body={"email": email, "password": password}),
        call(server.base, "POST", "/api/v1/auth/token/", form={"username": email, "password": password}),
        call(server.base, "GET", "/api/v1/posts/", headers={"X-Request-ID": "client-chosen:1"}),
        call(server.base, "GET", "/api/v1/posts/99/"),
        call(server.base, "GET", "/no-such-page"),
    ]
    token = answers[1].body["access_token"]
    answers.append(call(server.base, "GET", "/api/v1/users/me/", token=token))
    user_id = answers[0].body["id"]
    # Recovery is queued with the request's id; the worker's records carry it.
    recovery = call(server.base, "POST", "/api/v1/auth/password-recovery/", body={"email": email})
    assert recovery.status == 202
    answers.append(recovery)

    lines = request_lines(server)  # parses every line: gunicorn's own records are JSON too
    expected = [
        ("POST", "/api/v1/users/", 201, None),
        ("POST", "/api/v1/auth/token/", 200, None),
        ("GET", "/api/v1/posts/", 401, None),
        ("GET", "/api/v1/posts/<id:pk>/", 401, None),
        ("GET", "unmatched", 404, None),
        ("GET", "/api/v1/users/me/", 200, user_id),
        ("POST", "/api/v1/auth/password-recovery/", 202, None),
    ]
    assert answers[2].headers["X-Request-ID"] == "client-chosen:1"
    for answer, (method, route, status, user) in zip(answers, expected, strict=True):
        line = lines[answer.headers["X-Request-ID"]]
        assert (line["method"], line["route"], line["status"], line["user_id"]) == (
            method,
            route,
            status,
            user,
        )
        assert line["duration_ms"] >= 0
    assert any(line["logger"] == "gunicorn.error" for line in log_lines(server))

    worker = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay", "--no-reload"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    worker_lines = [json.loads(line) for line in worker.stderr.splitlines() if line]
    sent = [line for line in worker_lines if line["logger"] == "accounts.tasks"]
    assert [line["request_id"] for line in sent] == [recovery.headers["X-Request-ID"]]


HOSTILE = [
    b'"><script>alert(1)</script>',
    b"a\"b'c",
    b"a" * 8000,
    # A folded header line, which joins a second line onto the value.
    b"first\r\n second",
    b"\xc3\xa9t\xc3\xa9",
]


def test_a_hostile_request_id_is_replaced(server):
    for offered in HOSTILE:
        answer = raw_request(server.base, b"X-Request-ID: " + offered)
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        if head.startswith("HTTP/1.1 400"):
            # gunicorn refuses some shapes outright, before the app: nothing reaches a log line.
            assert "X-Request-ID" not in head, offered
        else:
            assert head.startswith("HTTP/1.1 200"), head
            [given] = re.findall(r"^X-Request-ID: (.*)$", head, flags=re.MULTILINE)
            assert HEX_ID.fullmatch(given), offered
            assert request_lines(server)[given]["route"] == "/healthz"
        assert offered.decode("latin-1") not in server.log_text()

    # 10 kB: gunicorn's header size limit (8190 bytes) answers first; the app never sees it.
    logged = len(request_lines(server))
    answer = raw_request(server.base, b"X-Request-ID: " + b"a" * 10_240)
    assert answer.startswith(b"HTTP/1.1 431")
    assert "a" * 200 not in server.log_text()
    assert len(request_lines(server)) == logged


def test_a_client_outside_the_allowed_networks_gets_404(transactional_db, tmp_path):
    require_postgresql()
    environment = production_env(**OBSERVED, METRICS_ALLOWED_CIDRS="192.0.2.0/24,2001:db8::/32")
    with gunicorn(tmp_path, PORTS, env=environment) as (instance,):
        refused = instance.call("GET", "/metrics")
        assert refused.status == 404
        assert "blogapi_" not in str(refused.body)
        assert instance.call("GET", "/healthz").status == 200
