"""Compose and Kubernetes turn on JSON logs and metrics, and keep /metrics off the public entry."""

import ipaddress
import re

import pytest
from django.urls import get_resolver

from . import test_network_policies as policies
from .manifests import compose, k8s_one


def top_level_paths() -> list[str]:
    """A path under each of the app's top-level routes (blogapi/urls.py), /metrics aside."""
    return ["/" + re.sub(r"<[^>]+>", "1", str(pattern.pattern)) for pattern in get_resolver().url_patterns]


PUBLIC_PATHS = [
    *top_level_paths(),
    "/api/v1/posts/1/",
    "/admin/login/",
    "/api-auth/login/",
    "/static/rest_framework/css/bootstrap.min.css",
]
PRIVATE_PATHS = ["/metrics", "/metrics/", "/metricsx"]


def ingress_routes(path: str) -> bool:
    """Whether a path matches one of the Ingress rules, as Kubernetes defines Exact and Prefix."""
    for rule in k8s_one("Ingress")["spec"]["rules"]:
        for route in rule["http"]["paths"]:
            pattern, kind = route["path"], route["pathType"]
            if kind == "Exact" and path == pattern:
                return True
            if kind == "Prefix" and (
                pattern == "/" or path == pattern.rstrip("/") or path.startswith(pattern.rstrip("/") + "/")
            ):
                return True
    return False


def test_every_top_level_route_is_found():
    assert {"/", "/api/v1/", "/admin/", "/healthz", "/readyz"} <= set(top_level_paths())
    assert "/metrics" not in top_level_paths()


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_the_ingress_routes_every_public_path(path):
    assert ingress_routes(path)


@pytest.mark.parametrize("path", PRIVATE_PATHS)
def test_the_ingress_never_routes_metrics(path):
    assert not ingress_routes(path)


def networks(value: str) -> list:
    return [ipaddress.ip_network(cidr) for cidr in value.split(",")]


def allowed(value: str, address: str) -> bool:
    return any(ipaddress.ip_address(address) in network for network in networks(value))


def test_kubernetes_logs_json_and_serves_metrics_to_the_pod_network():
    config = k8s_one("ConfigMap")["data"]
    assert config["LOG_FORMAT"] == "json"
    assert config["METRICS_ENABLED"] == "true"
    # Typical pod addresses (kubeadm/flannel, Calico, GKE) may scrape; a public one may not.
    for pod in ("10.244.1.17", "192.168.3.4", "172.17.0.5"):
        assert allowed(config["METRICS_ALLOWED_CIDRS"], pod)
    assert not allowed(config["METRICS_ALLOWED_CIDRS"], "203.0.113.9")


def test_api_pods_invite_prometheus_to_scrape_their_port():
    template = k8s_one("Deployment", "blogapi")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    (api,) = template["spec"]["containers"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == api["ports"][0]["containerPort"]


def test_compose_logs_json_and_serves_metrics_to_its_own_containers_only():
    environment = compose()["x-app"]["environment"]
    assert environment["LOG_FORMAT"] == "json"
    assert environment["METRICS_ENABLED"] == "true"
    [pool] = compose()["networks"]["default"]["ipam"]["config"]
    subnet, containers = ipaddress.ip_network(pool["subnet"]), ipaddress.ip_network(pool["ip_range"])
    gateway = next(subnet.hosts())
    assert containers.subnet_of(subnet)
    assert allowed(environment["METRICS_ALLOWED_CIDRS"], str(next(containers.hosts())))
    # The host's own connections to the published port arrive from the gateway.
    assert not allowed(environment["METRICS_ALLOWED_CIDRS"], str(gateway))


PROMETHEUS = policies.pod("", "monitoring", **{"app.kubernetes.io/name": "prometheus"})


def test_prometheus_reaches_the_api_pods_through_the_network_policies():
    api = policies.PODS["api"]
    assert policies.allowed(PROMETHEUS, api, policies.API_PORT)
    assert not policies.allowed(PROMETHEUS, policies.PODS["cache"], (6379, "redis"))
    impostor = policies.pod("", "shop", **{"app.kubernetes.io/name": "prometheus"})
    assert not policies.allowed(impostor, api, policies.API_PORT)
