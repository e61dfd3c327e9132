"""CORS for browser front ends on other origins, Django's security headers, and the operations
endpoints (docs/api.md, Operations)."""

import json

import pytest
from django.db import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from conftest import bearer, login
from httpkit.errors import UNAVAILABLE, server_error

APP = "https://app.example.com"


def preflight(client, path, origin=APP, method="POST", headers="authorization,content-type"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


# CORS


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[APP])
@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/v1/posts/", "POST"), ("/api/v1/posts/1/", "DELETE"), ("/api/v1/auth/token/", "POST")],
)
def test_preflight_from_allowed_origin_allows_the_authorization_header(client, path, method):
    response = preflight(client, path, method=method)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    allowed_headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert method in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Max-Age"] == "86400"


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[APP])
def test_preflight_from_other_origin_gets_no_cors_headers(client):
    response = preflight(client, "/api/v1/posts/", origin="https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_no_origin_is_allowed_by_default(client):
    response = preflight(client, "/api/v1/posts/")
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[APP])
def test_cross_origin_call_with_bearer_token_gets_cors_headers(user):
    client = bearer(login(APIClient(), user.email)["access_token"])
    response = client.get("/api/v1/users/me/", HTTP_ORIGIN=APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[APP])
def test_cors_is_only_for_the_api(client):
    response = preflight(client, "/admin/login/", method="POST")
    assert "Access-Control-Allow-Origin" not in response


def test_cors_origins_come_from_the_environment():
    import subprocess
    import sys

    from django.conf import settings

    code = "from django.conf import settings; print(settings.CORS_ALLOWED_ORIGINS)"
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "blogapi.settings",
        "SECRET_KEY": "x" * 50,
        "CORS_ALLOWED_ORIGINS": "https://a.example.com,http://localhost:3000",
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "['https://a.example.com', 'http://localhost:3000']"


# Security headers


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/docs/", "/healthz", "/admin/login/"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@override_settings(SECURE_HSTS_SECONDS=31536000)
def test_hsts_is_sent_over_https_when_configured(client):
    assert client.get("/healthz", secure=True)["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert "Strict-Transport-Security" not in client.get("/healthz")


@pytest.mark.django_db
def test_https_from_the_proxy_is_recognised(client):
    response = client.get("/api/v1/users/me/", HTTP_X_FORWARDED_PROTO="https")
    assert response.wsgi_request.is_secure()


# Operations endpoints


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_200_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_does_not(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.backends.base.base.BaseDatabaseWrapper.cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_api_answers_503_detail_when_the_database_is_lost(auth_client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", refuse)
    response = auth_client.get("/api/v1/posts/")
    assert response.status_code == 503
    assert set(response.json()) == {"detail"}
    assert response["Retry-After"] == "5"
    assert b"connection" not in response.content


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_health_endpoints_are_read_only(client, method):
    assert getattr(client, method)("/healthz").status_code == 405


# Errors outside DRF's views are JSON on API paths, Django's pages elsewhere


@pytest.mark.django_db
def test_unknown_host_on_an_api_path_is_a_json_400(client):
    response = client.get("/api/v1/posts/", HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request."}


@pytest.mark.django_db
def test_unknown_page_outside_the_api_is_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_unexpected_error_on_an_api_path_is_a_json_500_without_traceback(auth_client, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("posts.views.PostViewSet.list", crash)
    auth_client.raise_request_exception = False
    response = auth_client.get("/api/v1/posts/")
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}
    assert b"secret internals" not in response.content


@pytest.mark.django_db
def test_value_the_database_cannot_store_is_a_400(auth_client, monkeypatch):
    from django.db import DataError

    def refuse(*args, **kwargs):
        raise DataError("value too long for type character varying(200)")

    monkeypatch.setattr("posts.views.PostViewSet.perform_create", refuse)
    response = auth_client.post("/api/v1/posts/", {"title": "t", "content": "c"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "A value is out of range or malformed."}


@pytest.mark.django_db
def test_database_lost_outside_a_view_is_also_503(rf):
    request = rf.get("/admin/")
    try:
        raise OperationalError("could not connect to server")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503
    assert json.loads(response.content) == {"detail": UNAVAILABLE}
    assert response["Retry-After"] == "5"


def test_other_server_errors_on_api_paths_are_json_500(rf):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = server_error(rf.get("/api/v1/posts/"))
    assert response.status_code == 500
    assert json.loads(response.content) == {"detail": "A server error occurred."}
