import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from conftest import admin_action, session_client
from posts.models import Post
from posts.tests.factories import make_post
from votes.models import Vote

CHANGELIST = "/admin/posts/post/"


@pytest.fixture
def moderator(make_user) -> User:
    staff = make_user("mod@example.com", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["posts", "votes", "accounts"],
            codename__in=["view_post", "change_post", "view_vote", "add_vote", "view_user"],
        )
    )
    return staff


@pytest.fixture
def moderator_client(moderator) -> Client:
    return session_client(moderator)


def run_action(client: Client, action: str, posts: list[Post]):
    return admin_action(client, CHANGELIST, action, posts)


@pytest.mark.django_db
def test_changelist_shows_moderator_columns(moderator_client, user, other_user):
    post = make_post(user, title="Liked post")
    Vote.objects.create(user=other_user, post=post)
    response = moderator_client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    for column in ("column-title", "column-owner", "column-published", "column-votes", "column-created_at"):
        assert column in page
    assert "Liked post" in page
    assert '<td class="field-votes">1</td>' in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("term", "found"),
    [("needle", "In the title: needle"), ("haystack", "Plain title"), ("bob@example", "Posted by Bob")],
)
def test_search_matches_title_content_and_owner_email(moderator_client, user, other_user, term, found):
    make_post(user, title="In the title: needle")
    make_post(user, title="Plain title", content="a haystack inside")
    make_post(other_user, title="Posted by Bob")
    make_post(user, title="Unrelated")
    page = moderator_client.get(CHANGELIST, {"q": term}).content.decode()
    assert found in page
    assert "Unrelated" not in page
    assert "1 result" in page


@pytest.mark.django_db
def test_filter_by_published(moderator_client, user):
    make_post(user, title="Out there")
    make_post(user, title="Hidden draft", published=False)
    page = moderator_client.get(CHANGELIST, {"published__exact": "0"}).content.decode()
    assert "Hidden draft" in page
    assert "Out there" not in page


@pytest.mark.django_db
def test_changelist_query_count_does_not_grow_with_rows(moderator_client, make_user):
    def changelist_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = moderator_client.get(CHANGELIST)
        assert response.status_code == 200
        return len(queries)

    make_post(make_user())
    at_one = changelist_queries()
    for _ in range(99):
        make_post(make_user())
    at_hundred = changelist_queries()
    assert Post.objects.count() == 100
    assert at_hundred == at_one


@pytest.mark.django_db
def test_unpublish_action_hides_post_from_other_users(moderator_client, user, auth_client, other_client):
    post = make_post(user, title="Too spicy")
    keep = make_post(user, title="Fine")
    assert other_client.get(f"/api/v1/posts/{post.pk}/").status_code == 200

    response = run_action(moderator_client, "unpublish_posts", [post])

    assert "Unpublished 1 post(s)." in response.content.decode()
    assert other_client.get(f"/api/v1/posts/{post.pk}/").status_code == 404
    assert [p["id"] for p in other_client.get("/api/v1/posts/").json()["results"]] == [keep.pk]
    owner_view = auth_client.get(f"/api/v1/posts/{post.pk}/")
    assert owner_view.status_code == 200
    assert owner_view.json()["published"] is False


@pytest.mark.django_db
def test_publish_action_shows_draft_to_everyone(moderator_client, user, other_client):
    draft = make_post(user, title="Ready now", published=False)
    before = Post.objects.get(pk=draft.pk).updated_at
    response = run_action(moderator_client, "publish_posts", [draft])
    assert "Published 1 post(s)." in response.content.decode()
    draft.refresh_from_db()
    assert draft.published
    assert draft.updated_at > before
    assert other_client.get(f"/api/v1/posts/{draft.pk}/").status_code == 200


@pytest.mark.django_db
def test_change_form_keeps_vote_count_and_timestamps_read_only(moderator_client, user, other_user):
    post = make_post(user, title="Counted")
    Vote.objects.create(user=other_user, post=post)
    url = f"/admin/posts/post/{post.pk}/change/"
    page = moderator_client.get(url).content.decode()
    assert 'name="vote_count"' not in page
    assert 'name="created_at' not in page
    assert 'class="readonly">1</div>' in page

    response = moderator_client.post(
        url,
        {"title": "Renamed", "content": "c", "published": "on", "owner": user.pk, "vote_count": 99},
    )
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.title == "Renamed"
    assert post.vote_count == 1


@pytest.mark.django_db
def test_owner_autocomplete_searches_users_by_email(moderator_client, user, other_user):
    response = moderator_client.get(
        "/admin/autocomplete/",
        {"app_label": "posts", "model_name": "post", "field_name": "owner", "term": "bob"},
    )
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(other_user.pk), "text": other_user.email}]


@pytest.mark.django_db
def test_vote_admin_lists_likes_and_adding_one_counts(moderator_client, user, other_user):
    post = make_post(user, title="Vote target")
    page = moderator_client.get("/admin/votes/vote/").content.decode()
    assert page.count('class="action-select"') == 0

    response = moderator_client.post("/admin/votes/vote/add/", {"user": other_user.pk, "post": post.pk})
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.vote_count == 1
    page = moderator_client.get("/admin/votes/vote/", {"q": "vote target"}).content.decode()
    assert "bob@example.com" in page

    duplicate = moderator_client.post("/admin/votes/vote/add/", {"user": other_user.pk, "post": post.pk})
    assert duplicate.status_code == 200
    assert Vote.objects.count() == 1


@pytest.mark.django_db
def test_vote_change_form_cannot_move_a_like(user, other_user):
    post = make_post(user, title="First")
    other = make_post(user, title="Second")
    vote = Vote.objects.create(user=other_user, post=post)
    client = session_client(User.objects.create_superuser(email="root@example.com", password="x-long-pass"))
    response = client.post(f"/admin/votes/vote/{vote.pk}/change/", {"user": user.pk, "post": other.pk})
    # A like's page is view-only: even a superuser's change is refused.
    assert response.status_code == 403
    vote.refresh_from_db()
    assert (vote.user_id, vote.post_id) == (other_user.pk, post.pk)
    assert Post.objects.get(pk=post.pk).vote_count == 1
    assert Post.objects.get(pk=other.pk).vote_count == 0
