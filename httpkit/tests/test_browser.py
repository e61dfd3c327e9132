"""End to end in headless Chromium: moderators in the admin, a developer in the browsable API.

The server is pytest-django's live_server (a threaded WSGI server inside the test process, on the
test database), so each test sets up rows directly and the browser sees them at once.
"""

import pytest
from playwright.sync_api import APIRequestContext, Page, expect

from conftest import PASSWORD
from posts.models import Post
from posts.tests.factories import make_post

from .conftest import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


def api_token(api: APIRequestContext, email: str) -> dict:
    response = api.post("/api/v1/auth/token/", form={"username": email, "password": PASSWORD})
    assert response.status == 200, response.text()
    return response.json()


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def admin_login(page: Page, shot, email: str) -> None:
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    shot("admin-login")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    expect(page).to_have_title("Site administration | blogapi admin")


def run_admin_action(page: Page, shot, action: str, message: str) -> None:
    page.locator("#result_list tbody input.action-select").check()
    page.select_option("select[name=action]", action)
    shot("action-chosen")
    page.click("button[name=index]")
    expect(page.locator("ul.messagelist")).to_contain_text(message)
    shot("action-done")


def test_moderator_unpublishes_post_and_api_hides_it(page, api, shot, moderator, user, other_user):
    post = make_post(user, title="Miracle cure for everything", content="Buy my pills.")
    make_post(user, title="Harmless bread recipe")
    reader = bearer(api_token(api, other_user.email))
    assert api.get(f"/api/v1/posts/{post.pk}/", headers=reader).status == 200

    admin_login(page, shot, moderator.email)
    page.locator("#posts-post").get_by_role("link", name="Posts").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.fill("#searchbar", "miracle")
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Miracle cure for everything")
    expect(rows.first).to_contain_text(user.email)
    shot("post-found")
    run_admin_action(page, shot, "unpublish_posts", "Unpublished 1 post(s).")

    assert api.get(f"/api/v1/posts/{post.pk}/", headers=reader).status == 404
    feed = api.get("/api/v1/posts/", headers=reader).json()
    assert [p["title"] for p in feed["results"]] == ["Harmless bread recipe"]
    owner_view = api.get(f"/api/v1/posts/{post.pk}/", headers=bearer(api_token(api, user.email)))
    assert owner_view.status == 200
    assert owner_view.json()["published"] is False


def test_moderator_deactivates_user_and_token_is_refused(page, api, shot, moderator, user, other_user):
    tokens = api_token(api, user.email)
    assert api.get("/api/v1/users/me/", headers=bearer(tokens)).status == 200

    admin_login(page, shot, moderator.email)
    page.locator("#accounts-user").get_by_role("link", name="Users").click()
    page.fill("#searchbar", user.email)
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    shot("user-found")
    run_admin_action(page, shot, "deactivate_users", "Deactivated 1 user(s).")
    expect(rows.first.locator("td.field-is_active img")).to_have_attribute("alt", "False")

    refused = api.get("/api/v1/users/me/", headers=bearer(tokens))
    assert refused.status == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    refresh = api.post("/api/v1/auth/token/refresh/", data={"refresh_token": tokens["refresh_token"]})
    assert refresh.status == 401
    login = api.post("/api/v1/auth/token/", form={"username": user.email, "password": PASSWORD})
    assert login.status == 401
    assert login.json()["detail"] == "Invalid credentials"
    assert login.json()["error"] == "invalid_grant"
    assert api.get("/api/v1/users/me/", headers=bearer(api_token(api, other_user.email))).status == 200


def test_developer_creates_post_through_browsable_api_form(page, api, shot, user, other_user):
    page.goto("/api/v1/posts/")
    expect(page.locator(".response-info")).to_contain_text("401 Unauthorized")
    shot("anonymous")
    page.get_by_role("link", name="Log in").click()
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    shot("login")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url("/api/v1/posts/")
    expect(page.locator(".response-info")).to_contain_text("200 OK")
    expect(page.locator(".navbar")).to_contain_text(user.email)
    shot("logged-in")

    form = page.locator("#post-object-form")
    form.locator("[name=title]").fill("Written in a browser")
    form.locator("[name=content]").fill("Through the browsable API's HTML form.")
    expect(form.locator("[name=published]")).to_be_checked()
    shot("form-filled")
    form.get_by_role("button", name="POST").click()
    expect(page.locator(".response-info")).to_contain_text("201 Created")
    expect(page.locator(".response-info")).to_contain_text("Written in a browser")
    shot("created")

    post = Post.objects.get(title="Written in a browser")
    assert (post.owner_id, post.content, post.published) == (
        user.pk,
        "Through the browsable API's HTML form.",
        True,
    )
    seen = api.get(f"/api/v1/posts/{post.pk}/", headers=bearer(api_token(api, other_user.email)))
    assert seen.status == 200
    assert seen.json()["owner"] == {"id": user.pk, "username": user.username}
