"""The pages a newcomer opens, in headless Chromium at 1280 px, with screenshots under
artifacts/browser/: the front door, the browsable API (root, filters, likes form, titles) and the
admin (branding, likes that read well and are view-only, a posts list that fits)."""

import pytest
from playwright.sync_api import Page, expect

from conftest import PASSWORD
from posts.tests.factories import make_post
from votes.models import Vote

from .conftest import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]

LONG_TITLE = "Notes on the Analytical Engine, with a translation of the memoir by Menabrea"


def api_login(page: Page, email: str, next_path: str) -> None:
    page.goto(f"/api-auth/login/?next={next_path}")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(next_path)


def test_front_door_leads_to_docs_api_root_and_admin(page, shot):
    page.goto("/")
    expect(page).to_have_title("blogapi")
    expect(page.locator("h1")).to_have_text("blogapi")
    shot("front-door")
    page.get_by_role("link", name="API root").click()
    expect(page).to_have_url("/api/v1/")
    expect(page.locator("h1")).to_have_text("blogapi API root")
    for path in ("/api/v1/posts/", "/api/v1/users/me/", "/api/v1/votes/", "/api/v1/auth/token/"):
        expect(page.locator(".response-info")).to_contain_text(path)
    shot("api-root")
    page.go_back()
    page.get_by_role("link", name="API documentation").click()
    expect(page.locator(".swagger-ui .info")).to_contain_text("blogapi")
    page.goto("/")
    page.get_by_role("link", name="Administration").click()
    expect(page.locator("#site-name")).to_have_text("blogapi administration")
    assert page.request.get("/favicon.ico").ok


def test_browsable_api_labels_filters_offers_a_likes_form_and_reads_well(page, shot, user, other_user):
    post = make_post(other_user, title="Worth a like")
    api_login(page, user.email, "/api/v1/posts/")
    expect(page.locator("h1")).to_have_text("Published posts plus your drafts")
    page.get_by_role("button", name="Filters").click()
    filters = page.locator("#filtersModal")
    expect(filters).to_be_visible()
    for label in ("Search", "Created on or after", "Created on or before", "Owner", "Ordering"):
        expect(filters.locator("label", has_text=label)).to_be_visible()
    expect(filters).not_to_contain_text("[invalid name]")
    shot("filters")

    page.goto("/api/v1/votes/")
    expect(page.locator(".response-info")).to_contain_text("200 OK")
    expect(page.locator(".response-info")).not_to_contain_text("405")
    expect(page.locator("h1")).to_have_text("Like a post, or take the like back")
    form = page.locator("form").filter(has=page.locator("[name=dir]"))
    expect(form).to_contain_text("1 likes the post, 0 takes the like back.")
    form.locator("[name=post_id]").fill(str(post.pk))
    form.locator("[name=dir]").fill("1")
    shot("likes-form")
    form.get_by_role("button", name="POST").click()
    expect(page.locator(".response-info")).to_contain_text("201 Created")
    shot("liked")
    assert Vote.objects.filter(user=user, post=post).exists()

    page.goto("/api/v1/users/")
    expect(page.locator("h1")).to_have_text("Register")
    expect(page).not_to_have_title("User Create")
    shot("register-page")


def test_admin_is_branded_likes_read_well_and_the_posts_list_fits(page, shot, make_user):
    admin = make_user("root@example.com", is_staff=True, is_superuser=True)
    reader = make_user("charles@example.com")
    for number in range(3):
        make_post(admin, title=f"{LONG_TITLE} ({number})")
    like = Vote.objects.create(user=reader, post=make_post(admin, title="Liked post"))

    page.goto("/admin/login/")
    page.fill("#id_username", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text("blogapi administration")
    expect(page.get_by_role("link", name="View site")).to_have_attribute("href", "/")
    shot("admin-index")

    page.goto("/admin/posts/post/")
    titles = page.locator("#result_list tbody th.field-title a")
    expect(titles).to_have_count(4)
    line_height = page.get_by_role("link", name="Liked post").bounding_box()["height"]
    long_titles = page.locator("#result_list tbody th.field-title a", has_text=LONG_TITLE[:20])
    expect(long_titles).to_have_count(3)
    for index in range(3):
        # Long titles wrap at most once, never one word per line.
        assert long_titles.nth(index).bounding_box()["height"] <= 2 * line_height + 1
    table = page.locator("#result_list").bounding_box()
    assert table["x"] + table["width"] <= 1280
    shot("posts-list")

    page.goto(f"/admin/votes/vote/{like.pk}/change/")
    readable = "charles@example.com likes “Liked post”"
    expect(page.locator(".breadcrumbs")).to_contain_text(readable)
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator("input[name=_continue]")).to_have_count(0)
    shot("like-view-only")
    page.get_by_role("link", name="Delete").click()
    expect(page.locator("#content")).to_contain_text(readable)
    shot("like-delete")
