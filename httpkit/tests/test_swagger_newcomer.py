"""Swagger UI as a newcomer meets it, in headless Chromium: Authorize offers only the password
flow and shows the server's reason for a refusal, and Execute on the prefilled examples of
register, login, create post and like succeeds against a fresh database."""

import pytest
from playwright.sync_api import Page, expect

from .conftest import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    # The like example names post 1: the post the walk creates must get that id.
    pytest.mark.django_db(transaction=True, reset_sequences=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


def execute_example(page: Page, operation_id: str) -> str:
    """Open an operation, Try it out, Execute as prefilled; the live status code."""
    block = page.locator(f"#operations-{operation_id}")
    block.locator(".opblock-summary").click()
    block.locator(".try-out__btn").click()
    block.locator(".execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    return status.inner_text().strip()


def open_authorize(page: Page):
    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_be_visible()
    return dialog


def test_swagger_authorize_offers_only_the_password_flow_and_says_why_it_refuses(page, shot, user):
    page.goto("/api/docs/")
    dialog = open_authorize(page)
    expect(dialog.locator("#oauth_username")).to_be_visible()
    expect(dialog.locator("#oauth_password")).to_be_visible()
    for hidden in ("#client_id_password", "#client_secret_password", "#password_type"):
        expect(dialog.locator(hidden)).to_be_hidden()
    assert "sessionid" not in dialog.inner_text()
    assert "cookie" not in dialog.inner_text().lower()
    assert dialog.locator(".auth-container").count() == 1
    shot("authorize-dialog")

    refusal = page.request.post(
        "/api/v1/auth/token/", form={"username": user.email, "password": "not-the-password"}
    )
    assert refusal.status == 401
    reason = refusal.json().get("error_description") or refusal.json()["detail"]
    dialog.locator("#oauth_username").fill(user.email)
    dialog.locator("#oauth_password").fill("not-the-password")
    dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    expect(dialog.locator(".errors")).to_contain_text(reason)
    shot("wrong-password")


def test_swagger_examples_register_log_in_write_and_like_as_they_come(page, shot):
    page.goto("/api/docs/")
    assert execute_example(page, "users-v1_users_create") == "201"
    shot("registered")
    assert execute_example(page, "auth-v1_auth_token_create") == "200"
    shot("logged-in")

    # Authorize with the same example account, then write and like as it.
    dialog = open_authorize(page)
    dialog.locator("#oauth_username").fill("ada@example.com")
    dialog.locator("#oauth_password").fill("analytical-engine-1843")
    dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    dialog.get_by_role("button", name="Remove authorization").wait_for()
    dialog.locator(".close-modal").click()

    assert execute_example(page, "posts-v1_posts_create") == "201"
    shot("post-written")
    assert execute_example(page, "votes-v1_votes_create") == "201"
    shot("post-liked")
