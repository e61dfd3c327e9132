"""Health probes as the kubelet and Docker send them: plain HTTP, `Host: localhost`."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from .manifests import k8s_one

PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


@override_settings(SECURE_SSL_REDIRECT=True)
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_answered_over_plain_http_even_when_https_is_enforced(db, path):
    response = APIClient().get(path, HTTP_HOST="localhost")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@override_settings(SECURE_SSL_REDIRECT=True)
def test_api_over_plain_http_is_redirected_when_https_is_enforced(db):
    response = APIClient().get("/api/v1/posts/", HTTP_HOST="localhost")
    assert response.status_code == 301
    assert response["Location"] == "https://localhost/api/v1/posts/"


@override_settings(ALLOWED_HOSTS=["api.example.com", "localhost"])
def test_a_probe_naming_the_pod_ip_would_be_refused():
    # Why the manifests set the Host header: the kubelet would otherwise send the pod's IP.
    assert APIClient().get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 400
    assert APIClient().get("/healthz", HTTP_HOST="localhost:8000").status_code == 200


def test_k8s_api_probes_name_localhost_and_use_the_health_paths():
    (api,) = k8s_one("Deployment", "blogapi")["spec"]["template"]["spec"]["containers"]
    paths = {probe: api[probe]["httpGet"]["path"] for probe in PROBES}
    assert paths == {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe in PROBES:
        assert {"name": "Host", "value": "localhost"} in api[probe]["httpGet"]["httpHeaders"], probe
    allowed_hosts = k8s_one("ConfigMap")["data"]["ALLOWED_HOSTS"].split(",")
    assert "localhost" in allowed_hosts
