"""Request ids, JSON logs and /metrics, in process (the gunicorn side: test_observability_live.py)."""

import io
import json
import logging.config
import subprocess
import sys
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import OperationalError
from django.test import RequestFactory, override_settings
from django.urls import resolve
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.tasks import email_recovery_code
from httpkit import errors, logs, metrics, metrics_files, request_id

HEX_ID = r"[0-9a-f]{32}"
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
ROOT = settings.BASE_DIR


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_counted(route: str, method: str, status: int) -> float:
    return sample("blogapi_http_requests_total", route=route, method=method, status=str(status))


@pytest.fixture
def json_log():
    """The app's LOG_FORMAT=json configuration, writing to a buffer; returns the parsed lines."""
    buffer = io.StringIO()
    config = logs.django_config("json", level="INFO")
    config["handlers"]["console"]["stream"] = buffer
    logging.config.dictConfig(config)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        logging.config.dictConfig(settings.LOGGING)


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "blogapi.requests"]


# X-Request-ID


@pytest.mark.parametrize("offered", ["a", "x" * 128, "Req-1_2.3:4", "0f5e7d6c-aaaa-4bbb-8ccc-123456789abc"])
def test_a_sane_client_request_id_is_kept(db, offered):
    response = APIClient().get("/healthz", HTTP_X_REQUEST_ID=offered)
    assert response["X-Request-ID"] == offered


@pytest.mark.parametrize(
    "offered",
    [
        "",
        "x" * 129,
        "x" * 10_000,
        "a\nb",
        "ab\n",
        "a\r\nX-Injected: 1",
        'a"b',
        "a'b",
        "a b",
        "a,b",
        "é",
        "a\x00b",
    ],
    ids=[
        "empty",
        "129",
        "10kB",
        "newline",
        "trailing-newline",
        "crlf",
        "double-quote",
        "quote",
        "space",
        "comma",
        "unicode",
        "nul",
    ],
)
def test_an_insane_client_request_id_is_replaced(db, offered):
    response = APIClient().get("/healthz", HTTP_X_REQUEST_ID=offered)
    assert response["X-Request-ID"] != offered
    assert len(response["X-Request-ID"]) == 32
    int(response["X-Request-ID"], 16)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/healthz", 200), ("/api/v1/posts/", 401), ("/api/v1/nowhere/", 404), ("/api/schema/", 200)],
)
def test_every_response_carries_a_request_id(db, path, status):
    first, second = APIClient().get(path), APIClient().get(path)
    assert first.status_code == status
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
def test_browser_front_ends_may_send_and_read_the_request_id(db):
    preflight = APIClient().options(
        "/api/v1/posts/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, x-request-id",
    )
    assert "x-request-id" in preflight["Access-Control-Allow-Headers"]
    response = APIClient().get("/api/v1/posts/", HTTP_ORIGIN="https://app.example.com")
    exposed = {name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")}
    assert "x-request-id" in exposed


def test_the_request_id_is_unbound_after_the_request(db):
    APIClient().get("/healthz", HTTP_X_REQUEST_ID="done-1")
    assert request_id.current() is None


# Logs


def test_each_request_is_one_json_line_with_its_fields(auth_client, user, json_log):
    response = auth_client.get("/api/v1/posts/", HTTP_X_REQUEST_ID="list-1")
    assert response.status_code == 200
    [line] = request_lines(json_log())
    assert line["request_id"] == "list-1"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/posts/"
    assert line["status"] == 200
    assert line["user_id"] == user.id
    assert isinstance(line["duration_ms"], float)
    assert {"time", "level", "logger", "pid", "message"} <= line.keys()


def test_the_log_names_the_route_pattern_not_the_path(auth_client, json_log):
    auth_client.get("/api/v1/posts/123456/?search=secret")
    auth_client.get("/api/v1/users/42/")
    auth_client.get("/no/such/page")
    routes = [line["route"] for line in request_lines(json_log())]
    assert routes == ["/api/v1/posts/<id:pk>/", "/api/v1/users/<id:pk>/", "unmatched"]


def test_server_errors_are_logged_at_error_level(db, json_log):
    APIClient().get("/healthz")
    with mock.patch("httpkit.health.connection.cursor", side_effect=OperationalError("down")):
        assert APIClient().get("/readyz").status_code == 503
    levels = {line["route"]: line["level"] for line in request_lines(json_log())}
    assert levels == {"/healthz": "INFO", "/readyz": "ERROR"}


def test_regex_routes_are_named_by_their_groups():
    request = RequestFactory().get("/admin/accounts/")
    request.resolver_match = resolve("/admin/accounts/")
    assert metrics.route_label(request) == "/admin/<app_label>/"


def test_anonymous_requests_log_no_user(db, json_log):
    APIClient().get("/healthz")
    [line] = request_lines(json_log())
    assert line["user_id"] is None


def test_records_made_while_serving_carry_the_request_id(user, mailoutbox, json_log):
    # The recovery email is sent by a task after the response (immediate backend); it logs.
    response = APIClient().post(
        "/api/v1/auth/password-recovery/", {"email": user.email}, format="json", HTTP_X_REQUEST_ID="rec-1"
    )
    assert response.status_code == 202
    assert len(mailoutbox) == 1
    sent = [line for line in json_log() if line["logger"] == "accounts.tasks"]
    assert [line["request_id"] for line in sent] == ["rec-1"]


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_the_worker_logs_a_task_with_the_id_of_the_request_that_queued_it(user, json_log):
    response = APIClient().post("/api/v1/auth/password-recovery/", {"email": user.email}, format="json")
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    sent = [line for line in json_log() if line["logger"] == "accounts.tasks"]
    assert [line["request_id"] for line in sent] == [response["X-Request-ID"]]


def test_records_outside_a_request_have_no_id(json_log):
    logging.getLogger("blogapi.test").warning("outside")
    [line] = json_log()
    assert line["request_id"] is None
    assert line["message"] == "outside"


def test_the_text_format_shows_the_id():
    buffer = io.StringIO()
    config = logs.django_config("text", level="INFO")
    config["handlers"]["console"]["stream"] = buffer
    logging.config.dictConfig(config)
    try:
        with request_id.bound("text-1"):
            logging.getLogger("blogapi.test").info("inside")
        logging.getLogger("blogapi.test").info("outside")
    finally:
        logging.config.dictConfig(settings.LOGGING)
    inside, outside = buffer.getvalue().splitlines()
    assert inside.endswith("INFO blogapi.test [text-1] inside")
    assert outside.endswith("INFO blogapi.test [-] outside")


def test_logging_a_request_costs_no_query(db, django_assert_num_queries):
    client = APIClient()
    client.get("/healthz")
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_FORMAT", "xml", "blogapi: LOG_FORMAT must be 'text' or 'json'."),
        ("METRICS_ALLOWED_CIDRS", "10.0.0.0/8,not-a-network", "blogapi: METRICS_ALLOWED_CIDRS:"),
    ],
)
def test_a_bad_setting_stops_startup_with_one_sentence(variable, value, message):
    result = subprocess.run(
        [sys.executable, "-c", "import blogapi.settings"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "k" * 40, variable: value},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


# /metrics


def test_metrics_are_not_served_when_disabled(db):
    assert APIClient().get("/metrics").status_code == 404


@override_settings(METRICS_ENABLED=True)
def test_metrics_are_served_to_an_allowed_client_in_prometheus_format(db):
    APIClient().get("/healthz")
    response = APIClient().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    for family in (
        "blogapi_http_requests_total",
        "blogapi_http_request_duration_seconds",
        "blogapi_database_errors_total",
        "blogapi_database_up",
        "blogapi_tasks",
        "blogapi_tasks_oldest_ready_age_seconds",
    ):
        assert f"# TYPE {family} " in text
    assert 'blogapi_http_requests_total{method="GET",route="/healthz",status="200"}' in text


@override_settings(METRICS_ENABLED=True)
@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_may_read_metrics_by_default(db, address):
    assert APIClient(REMOTE_ADDR=address).get("/metrics").status_code == 200


@override_settings(METRICS_ENABLED=True)
@pytest.mark.parametrize(
    "client",
    [
        {"REMOTE_ADDR": "203.0.113.7"},
        {"REMOTE_ADDR": "10.1.2.3"},
        # Through a proxy (the Ingress adds these): refused even from an allowed address.
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "127.0.0.1"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "127.0.0.1"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=127.0.0.1"},
    ],
    ids=["public", "private", "x-forwarded-for", "x-real-ip", "forwarded"],
)
def test_metrics_are_not_found_for_other_clients(db, client):
    response = APIClient(**client).get("/metrics")
    assert response.status_code == 404
    assert b"blogapi_" not in response.content


@override_settings(METRICS_ENABLED=True, METRICS_ALLOWED_CIDRS=["10.0.0.0/8", "fd00::/8"])
def test_metrics_follow_the_allowed_networks(db):
    assert APIClient(REMOTE_ADDR="10.244.3.9").get("/metrics").status_code == 200
    assert APIClient(REMOTE_ADDR="fd12::5").get("/metrics").status_code == 200
    assert APIClient(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404


@override_settings(METRICS_ENABLED=True)
def test_only_get_reads_metrics(db):
    assert APIClient().post("/metrics").status_code == 404


@override_settings(METRICS_ENABLED=True)
def test_requests_are_counted_by_route_pattern_method_and_status(auth_client):
    route = "/api/v1/posts/<id:pk>/"
    before = requests_counted(route, "GET", 404)
    latency_before = sample("blogapi_http_request_duration_seconds_count", route=route, method="GET")
    for post_id in (11, 12, 13):
        assert auth_client.get(f"/api/v1/posts/{post_id}/").status_code == 404
    assert requests_counted(route, "GET", 404) == before + 3
    assert (
        sample("blogapi_http_request_duration_seconds_count", route=route, method="GET") == latency_before + 3
    )


@override_settings(METRICS_ENABLED=True)
def test_unmatched_paths_and_odd_methods_share_one_label(db):
    before = requests_counted("unmatched", "GET", 404)
    for path in ("/a", "/b/c", "/d/e/f?g=h"):
        APIClient().get(path)
    assert requests_counted("unmatched", "GET", 404) == before + 3
    odd_before = requests_counted("/healthz", "other", 405)
    APIClient().generic("BREW", "/healthz")
    assert requests_counted("/healthz", "other", 405) == odd_before + 1


def test_nothing_is_counted_while_metrics_are_disabled(db):
    before = requests_counted("/healthz", "GET", 200)
    APIClient().get("/healthz")
    assert requests_counted("/healthz", "GET", 200) == before


@override_settings(METRICS_ENABLED=True)
def test_database_outages_are_counted(db):
    before = sample("blogapi_database_errors_total")
    errors.database_unavailable(OperationalError("connection refused"))
    with mock.patch("httpkit.health.connection.cursor", side_effect=OperationalError("down")):
        assert APIClient().get("/readyz").status_code == 503
    assert sample("blogapi_database_errors_total") == before + 2


@override_settings(METRICS_ENABLED=True, AUTH_THROTTLE_RATE="1/min")
def test_auth_throttle_refusals_are_counted(db):
    cache.clear()
    before = sample("blogapi_auth_refusals_total", kind="ip_throttled")
    try:
        assert APIClient().post("/api/v1/users/", {}, format="json").status_code == 400
        assert APIClient().post("/api/v1/users/", {}, format="json").status_code == 429
    finally:
        cache.clear()
    assert sample("blogapi_auth_refusals_total", kind="ip_throttled") == before + 1


@override_settings(METRICS_ENABLED=True, LOGIN_FAILURE_LIMIT=2)
def test_account_lockout_refusals_are_counted(user):
    before = sample("blogapi_auth_refusals_total", kind="login_locked")
    wrong = {"email": user.email, "password": "wrong-password-guess"}
    for _ in range(2):
        assert APIClient().post("/api/v1/auth/token/", wrong, format="json").status_code == 401
    assert APIClient().post("/api/v1/auth/token/", wrong, format="json").status_code == 429
    assert sample("blogapi_auth_refusals_total", kind="login_locked") == before + 1


def scraped(text: str, name: str) -> float:
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


@override_settings(METRICS_ENABLED=True, TASKS=DATABASE_TASKS)
def test_task_queue_gauges_are_read_at_scrape_time(db):
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        email_recovery_code.enqueue(address)
    DBTaskResult.objects.filter(args_kwargs__args=["a@example.com"]).update(
        enqueued_at=timezone.now() - timedelta(minutes=10)
    )
    DBTaskResult.objects.filter(args_kwargs__args=["c@example.com"]).update(status=TaskResultStatus.FAILED)
    text = APIClient().get("/metrics").content.decode()
    assert scraped(text, 'blogapi_tasks{status="ready"}') == 2
    assert scraped(text, 'blogapi_tasks{status="failed"}') == 1
    assert scraped(text, 'blogapi_tasks{status="running"}') == 0
    assert 600 <= scraped(text, "blogapi_tasks_oldest_ready_age_seconds") < 700
    assert scraped(text, "blogapi_database_up") == 1


@override_settings(METRICS_ENABLED=True)
def test_an_unreachable_database_is_a_gauge_not_a_failed_scrape(db):
    with mock.patch.object(DBTaskResult.objects, "values_list", side_effect=OperationalError("down")):
        response = APIClient().get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert scraped(text, "blogapi_database_up") == 0
    assert "blogapi_tasks{" not in text


# The multiprocess folder


def write_worker_file(folder, kind: str, pid: int, name: str, labels: dict, value: float) -> None:
    """What a worker's metric writes in multiprocess mode."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    db = MmapedDict(str(folder / f"{kind}_{pid}.db"))
    db.write_value(mmap_key(name, name, list(labels), list(labels.values()), "help"), value, 0.0)
    db.close()


def collected(folder) -> dict:
    from prometheus_client.multiprocess import MultiProcessCollector

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in MultiProcessCollector(None, path=str(folder)).collect()
        for sample in family.samples
    }


def test_a_dead_workers_counts_are_folded_into_the_archive(tmp_path):
    hits = ("blogapi_http_requests_total", {"route": "/healthz"})
    bucket = ("blogapi_http_request_duration_seconds_bucket", {"le": "0.1", "route": "/healthz"})
    write_worker_file(tmp_path, "counter", 101, *hits, 3)
    write_worker_file(tmp_path, "histogram", 101, *bucket, 3)
    write_worker_file(tmp_path, "counter", 102, *hits, 4)
    write_worker_file(tmp_path, "counter", 103, *hits, 5)
    before = collected(tmp_path)
    assert before[("blogapi_http_requests_total", (("route", "/healthz"),))] == 12

    metrics_files.fold_dead_worker(str(tmp_path), 101)
    metrics_files.fold_dead_worker(str(tmp_path), 102)

    assert collected(tmp_path) == before
    assert sorted(path.name for path in tmp_path.glob("*.db")) == [
        "counter_103.db",
        "counter_archive.db",
        "histogram_archive.db",
    ]


def test_folding_an_unknown_worker_changes_nothing(tmp_path):
    write_worker_file(tmp_path, "counter", 101, "blogapi_http_requests_total", {"route": "/a"}, 1)
    metrics_files.fold_dead_worker(str(tmp_path), 999)
    assert [path.name for path in tmp_path.glob("*.db")] == ["counter_101.db"]
