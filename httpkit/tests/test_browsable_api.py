"""The browsable API for a person logged in with a session: pages, login/logout and HTML forms."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conftest import PASSWORD
from posts.models import Post
from posts.tests.factories import make_post
from votes.models import Vote

HTML = {"HTTP_ACCEPT": "text/html"}


@pytest.fixture
def browser(user) -> Client:
    """A CSRF-checking client logged in through the browsable API's own login page."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/api-auth/login/?next=/api/v1/posts/")
    assert page.status_code == 200
    response = client.post(
        "/api-auth/login/",
        {
            "username": user.email,
            "password": PASSWORD,
            "next": "/api/v1/posts/",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/api/v1/posts/"
    return client


def csrf(client: Client) -> str:
    return client.cookies["csrftoken"].value


@pytest.mark.django_db
def test_anonymous_page_offers_a_login_link(api_client):
    response = api_client.get("/api/v1/posts/", **HTML)
    assert response.status_code == 401
    assert "text/html" in response["Content-Type"]
    assert "href='/api-auth/login/?next=/api/v1/posts/'" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/posts/", 200),
        ("/api/v1/posts/mine/", 200),
        ("/api/v1/posts/{post}/", 200),
        ("/api/v1/users/me/", 200),
        ("/api/v1/users/{user}/", 200),
        ("/api/v1/votes/", 200),
        ("/api/v1/auth/logout/", 405),
    ],
)
def test_every_endpoint_renders_for_a_session(browser, user, path, status):
    post = make_post(user)
    response = browser.get(path.format(post=post.pk, user=user.pk), **HTML)
    assert response.status_code == status
    assert "text/html" in response["Content-Type"]
    page = response.content.decode()
    assert 'id="logoutForm" method="post" action="/api-auth/logout/?next=' in page
    assert user.email in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/users/", "/api/v1/auth/token/", "/api/v1/auth/token/refresh/"])
def test_public_endpoints_render_and_ignore_the_session(browser, path):
    # These endpoints read no credentials by design, so the page shows a visitor.
    response = browser.get(path, **HTML)
    assert response.status_code == 405
    assert "text/html" in response["Content-Type"]
    assert "Log in</a>" in response.content.decode()


@pytest.mark.django_db
def test_post_forms_never_list_users(browser, user, make_user):
    others = [make_user().email for _ in range(5)]
    post = make_post(user)
    for path in ("/api/v1/posts/", f"/api/v1/posts/{post.pk}/", "/api/v1/votes/"):
        page = browser.get(path, **HTML).content.decode()
        assert 'name="owner"><option' not in page
        assert not [email for email in others if email in page]
    form = browser.get("/api/v1/posts/", **HTML).content.decode()
    assert 'name="title"' in form
    assert 'name="content"' in form
    filters = browser.get("/api/v1/posts/", **HTML).content.decode()
    assert 'type="number" name="owner"' in filters


@pytest.mark.django_db
def test_session_can_create_post_with_the_html_form(browser, user):
    response = browser.post(
        "/api/v1/posts/",
        {"title": "From the form", "content": "Typed in a browser", "published": "true"},
        HTTP_X_CSRFTOKEN=csrf(browser),
        **HTML,
    )
    assert response.status_code == 201
    post = Post.objects.get()
    assert (post.title, post.owner_id, post.published) == ("From the form", user.pk, True)


@pytest.mark.django_db
def test_post_form_starts_published_and_unticked_box_makes_a_draft(browser, user):
    page = browser.get("/api/v1/posts/", **HTML).content.decode()
    assert '<input type="checkbox" name="published" value="true" checked>' in page
    # An unticked checkbox is simply absent from the submitted form.
    response = browser.post(
        "/api/v1/posts/", {"title": "Draft", "content": "Not yet"}, HTTP_X_CSRFTOKEN=csrf(browser)
    )
    assert response.status_code == 201
    assert response.json()["published"] is False
    json_post = browser.post(
        "/api/v1/posts/",
        {"title": "JSON", "content": "No flag"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf(browser),
    )
    assert json_post.json()["published"] is True


@pytest.mark.django_db
def test_session_post_without_csrf_token_is_refused(browser):
    response = browser.post("/api/v1/posts/", {"title": "t", "content": "c"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_vote_form_renders_and_works(browser, user, other_user):
    post = make_post(other_user)
    page = browser.get("/api/v1/votes/", **HTML).content.decode()
    assert 'name="post_id"' in page
    assert 'name="dir"' in page

    liked = browser.post(
        "/api/v1/votes/", {"post_id": post.pk, "dir": 1}, HTTP_X_CSRFTOKEN=csrf(browser), **HTML
    )
    assert liked.status_code == 201
    again = browser.post("/api/v1/votes/", {"post_id": post.pk, "dir": 1}, HTTP_X_CSRFTOKEN=csrf(browser))
    assert again.status_code == 409
    assert again.json() == {"detail": "You have already liked this post."}
    assert Vote.objects.filter(user=user, post=post).count() == 1


@pytest.mark.django_db
def test_file_upload_is_a_400_not_stored(browser):
    response = browser.post(
        "/api/v1/posts/",
        {"title": "t", "content": "c", "attachment": SimpleUploadedFile("big.bin", b"x" * 1024)},
        HTTP_X_CSRFTOKEN=csrf(browser),
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "File uploads are not accepted."}
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_oversize_body_is_a_413(browser, auth_client):
    body = {"title": "t", "content": "c" * 300_000}
    by_session = browser.post("/api/v1/posts/", body, HTTP_X_CSRFTOKEN=csrf(browser))
    by_bearer = auth_client.post("/api/v1/posts/", body, format="multipart")
    as_json = auth_client.post("/api/v1/posts/", body)
    for response in (by_session, by_bearer, as_json):
        assert response.status_code == 413
        assert response.json() == {"detail": "The request body is larger than the server accepts."}
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_pages_show_indented_json_and_plain_json_stays_compact(browser, auth_client):
    page = browser.get("/api/v1/users/me/", **HTML).content.decode()
    assert "</span>{\n  &quot;id&quot;: " in page
    assert auth_client.get("/api/v1/users/me/").content.startswith(b'{"id":')
    indented = auth_client.get("/api/v1/users/me/", HTTP_ACCEPT="application/json; indent=4")
    assert indented.content.startswith(b'{\n  "id": ')


@pytest.mark.django_db
def test_logout_link_ends_the_session(browser):
    response = browser.post("/api-auth/logout/", {"csrfmiddlewaretoken": csrf(browser)})
    assert response.status_code in (200, 302)
    assert browser.get("/api/v1/users/me/").status_code == 401


def pager_links(html: str) -> dict[str, str | None]:
    """The previous/next buttons of the browsable API's pager: their targets, None when disabled."""
    pager = html.split('<ul class="pager">', 1)[1].split("</ul>", 1)[0]
    links = {}
    for rel, label in (("prev", "Previous"), ("next", "Next")):
        item = next(part for part in pager.split("<li") if label in part)
        links[rel] = item.split('href="', 1)[1].split('"', 1)[0] if f'rel="{rel}"' in item else None
    return links


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/v1/posts/mine/"])
def test_page_controls_follow_the_cursor_links(browser, user, path):
    posts = [make_post(user, title=f"post {i}") for i in range(5)]
    newest_first = [post.id for post in reversed(posts)]
    first = browser.get(f"{path}?limit=2", **HTML).content.decode()
    links = pager_links(first)
    assert links["prev"] is None
    assert "cursor=" in links["next"]
    second = browser.get(links["next"].replace("&amp;", "&"), **HTML)
    assert second.status_code == 200
    links = pager_links(second.content.decode())
    assert "cursor=" in links["prev"]
    assert "cursor=" in links["next"]
    as_json = browser.get(links["next"].replace("&amp;", "&"), HTTP_ACCEPT="application/json").json()
    assert [post["id"] for post in as_json["results"]] == newest_first[4:]
    back = browser.get(links["prev"].replace("&amp;", "&"), HTTP_ACCEPT="application/json").json()
    assert [post["id"] for post in back["results"]] == newest_first[:2]


@pytest.mark.django_db
def test_single_page_has_no_page_controls(browser, user):
    make_post(user)
    assert '<ul class="pager">' not in browser.get("/api/v1/posts/", **HTML).content.decode()
