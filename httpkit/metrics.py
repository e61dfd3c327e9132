"""Prometheus metrics: what they are, how they are recorded, and who may read them at /metrics.

Request metrics are labelled by route pattern (never the raw path), method and status, so the
number of series stays bounded whatever clients send. Under gunicorn the metrics live in
prometheus_client's multiprocess mode (gunicorn.conf.py gives each master start a fresh
PROMETHEUS_MULTIPROC_DIR), so a scrape answered by any worker sums every worker. Task-queue
gauges are read from the database at scrape time.

Every metric is listed in docs/operations.md.
"""

import ipaddress
import os
import re
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from . import metrics_files

# `*_created` series double the output and say nothing a counter's reset does not.
disable_created_metrics()

PATH = "/metrics"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Headers a reverse proxy adds: a request carrying one came through the Ingress, not a scraper.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")

REQUESTS = Counter(
    "blogapi_http_requests_total",
    "HTTP requests answered, by route pattern, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "blogapi_http_request_duration_seconds",
    "Time from the request reaching Django to the response leaving it, by route pattern and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DATABASE_ERRORS = Counter(
    "blogapi_database_errors_total",
    "Requests that found the database unreachable (each answered 503), readiness probes included.",
)
AUTH_REFUSALS = Counter(
    "blogapi_auth_refusals_total",
    "Password checks and account requests refused by a brute-force limit, by kind "
    "(`ip_throttled`: the per-IP limit; `login_locked`: the per-account lock).",
    ["kind"],
)


# Recording (no-ops while METRICS_ENABLED is false)


def record_request(*, route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    REQUESTS.labels(route, method, status).inc()
    LATENCY.labels(route, method).observe(seconds)


def record_database_error() -> None:
    if settings.METRICS_ENABLED:
        DATABASE_ERRORS.inc()


def record_auth_refusal(kind: str) -> None:
    """Count a refusal by a brute-force limit; accounts.lockout.refuse() names the kind."""
    if settings.METRICS_ENABLED:
        AUTH_REFUSALS.labels(kind).inc()


# Route labels

# A regex route, e.g. the admin's `admin/(?P<app_label>auth|accounts|...)/$`, reads `/admin/<app_label>/`.
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_route_labels: dict[str, str] = {}


def route_label(request: HttpRequest) -> str:
    """The pattern of the route that served the request, or `unmatched` when none did."""
    match = request.resolver_match
    if match is None:
        return UNMATCHED
    route = match.route
    label = _route_labels.get(route)
    if label is None:
        label = "/" + _REGEX_GROUP.sub(r"<\1>", route).replace("^", "").replace("$", "")
        _route_labels[route] = label
    return label


# Task-queue gauges, read at scrape time


class TaskQueueCollector:
    """Background tasks (django-tasks' database backend) waiting, failed, and the oldest wait."""

    def collect(self):
        from django_tasks_db.models import DBTaskResult

        up = GaugeMetricFamily(
            "blogapi_database_up", "Whether the database answered the scrape's task-queue query."
        )
        try:
            counts = dict(DBTaskResult.objects.values_list("status").annotate(Count("id")).order_by())
            oldest = DBTaskResult.objects.ready().aggregate(oldest=Min("enqueued_at"))["oldest"]
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        tasks = GaugeMetricFamily(
            "blogapi_tasks", "Background tasks in the database queue, by status.", labels=["status"]
        )
        for status in ("READY", "RUNNING", "FAILED", "SUCCESSFUL"):
            tasks.add_metric([status.lower()], counts.get(status, 0))
        yield tasks
        age = (timezone.now() - oldest).total_seconds() if oldest else 0
        yield GaugeMetricFamily(
            "blogapi_tasks_oldest_ready_age_seconds",
            "How long the oldest task that is ready to run has waited (0 when none): "
            "a growing value means no worker is taking tasks.",
            value=max(age, 0),
        )


# Exposition


def exposition() -> bytes:
    """Every metric in Prometheus text format: all gunicorn workers' when in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TaskQueueCollector())
    folder = os.environ.get(metrics_files.ENVIRONMENT_VARIABLE)
    if folder is None:
        registry.register(REGISTRY)
        return generate_latest(registry)
    MultiProcessCollector(registry, path=folder)
    with metrics_files.locked(folder, exclusive=False):
        return generate_latest(registry)


@lru_cache(maxsize=4)
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def client_allowed(meta: dict) -> bool:
    """Whether the peer (REMOTE_ADDR, never a client header) is in METRICS_ALLOWED_CIDRS, unproxied."""
    if any(header in meta for header in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(meta.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_CIDRS)))


def scrape(request: HttpRequest) -> HttpResponse | None:
    """The /metrics answer for an allowed GET, None otherwise (the request then finds no route: 404)."""
    if request.method not in ("GET", "HEAD") or not client_allowed(request.META):
        return None
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
