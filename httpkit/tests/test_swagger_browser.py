"""Swagger UI in a real (headless) Chromium: no request leaves 127.0.0.1, and a user authorizes
with email and password (OAuth2 password flow) and then calls an endpoint from the page."""

import shutil
from urllib.parse import urlsplit

import pytest
from pytest_django.live_server_helper import LiveServer

from conftest import PASSWORD
from testing.live import free_ports

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PORT = free_ports(range(8220, 8230), 1)[0]


@pytest.fixture
def server(transactional_db):
    live = LiveServer(f"127.0.0.1:{PORT}")
    yield live
    live.stop()


@pytest.fixture
def swagger_user(make_user):
    return make_user("swagger@example.com")


@pytest.fixture
def browser(swagger_user):
    # Requested after the database work: Playwright's event loop makes Django refuse queries.
    if not shutil.which(CHROMIUM):
        pytest.skip("needs Chromium (Debian package `chromium`); CI's browser stage installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_swagger_ui_authorizes_with_password_and_calls_the_api(server, swagger_user, browser):
    page = browser.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_default_timeout(15_000)

    page.goto(f"{server.url}/api/docs/")
    page.locator(".auth-wrapper .authorize").click()
    page.fill("#oauth_username", swagger_user.email)
    page.fill("#oauth_password", PASSWORD)
    page.get_by_role("button", name="Apply given OAuth2 credentials").click()
    page.get_by_role("button", name="Remove authorization").first.wait_for()
    assert "Authorized" in page.locator(".modal-ux").inner_text()
    page.locator(".modal-ux .close-modal").click()

    page.locator("#operations-users-v1_users_me_retrieve .opblock-summary").click()
    page.locator("#operations-users-v1_users_me_retrieve .try-out__btn").click()
    page.locator("#operations-users-v1_users_me_retrieve .execute").click()
    live = page.locator(
        "#operations-users-v1_users_me_retrieve .live-responses-table tbody .response-col_status"
    )
    live.first.wait_for()
    assert live.first.inner_text().strip() == "200"
    body = page.locator("#operations-users-v1_users_me_retrieve .live-responses-table .microlight").first
    assert '"swagger@example.com"' in body.inner_text()

    outside = [url for url in requested if urlsplit(url).scheme in ("http", "https", "ws", "wss")]
    assert outside, "the page made no requests at all"
    assert {urlsplit(url).hostname for url in outside} == {"127.0.0.1"}, outside
