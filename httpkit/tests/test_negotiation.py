"""Renderer choice: JSON for API clients, the browsable API for browsers, 406 for the impossible."""

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_api_clients_get_json(auth_client, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = auth_client.get("/api/v1/posts/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"count", "count_exact", "next", "previous", "results"}


@pytest.mark.django_db
def test_browsers_get_the_browsable_api(auth_client):
    response = auth_client.get("/api/v1/posts/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_format_override_is_still_honoured(auth_client):
    response = auth_client.get("/api/v1/posts/", {"format": "api"}, HTTP_ACCEPT="*/*")
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_unservable_accept_is_406(auth_client):
    assert auth_client.get("/api/v1/posts/", HTTP_ACCEPT="image/png").status_code == 406
