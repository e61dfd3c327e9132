"""Fixtures for the end-to-end browser tests: headless Chromium against pytest-django's live server."""

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from playwright.sync_api import APIRequestContext, Page, Playwright, sync_playwright

from accounts.models import User

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
LIVE_SERVER_PORTS = range(8300, 8400)


def _free_port(host: str, ports: range) -> int:
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) != 0:
                return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} on {host}")


@pytest.fixture(scope="session", autouse=True)
def _live_server_address() -> None:
    # Loopback only, on a port of the range set aside for these tests on shared machines; the
    # DJANGO_LIVE_TEST_SERVER_ADDRESS variable or --liveserver choose another address.
    if "DJANGO_LIVE_TEST_SERVER_ADDRESS" not in os.environ:
        os.environ["DJANGO_LIVE_TEST_SERVER_ADDRESS"] = (
            f"127.0.0.1:{_free_port('127.0.0.1', LIVE_SERVER_PORTS)}"
        )


@pytest.fixture
def playwright(monkeypatch) -> Iterator[Playwright]:
    # Playwright's sync API keeps an event loop on this thread; the ORM calls in these tests are
    # plain synchronous ones, made between browser steps, so Django's async guard is lifted here only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as driver:
        yield driver
        # Django's connections are per context and Playwright switches contexts, so the ORM calls
        # made meanwhile had their own connection: close it, or the test database cannot be dropped.
        connections.close_all()


@pytest.fixture
def page(playwright, live_server) -> Iterator[Page]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
    browser.close()


@pytest.fixture
def api(playwright, live_server) -> Iterator[APIRequestContext]:
    """Plain HTTP to the live server, with no browser cookies: what an API client sees."""
    context = playwright.request.new_context(base_url=live_server.url)
    yield context
    context.dispose()


class Screenshots:
    """Numbered full-page screenshots of each step, under artifacts/browser/<test>/."""

    def __init__(self, page: Page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def __call__(self, step: str) -> None:
        self.count += 1
        self.page.screenshot(path=self.folder / f"{self.count:02d}-{step}.png", full_page=True)


@pytest.fixture
def shot(page, request) -> Screenshots:
    return Screenshots(page, ARTIFACTS / re.sub(r"[^\w-]+", "_", request.node.name))


@pytest.fixture
def moderator(make_user) -> User:
    """Staff who may view and change users and posts; not a superuser."""
    staff = make_user("moderator@example.com", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(codename__in=["view_user", "change_user", "view_post", "change_post"])
    )
    return staff
