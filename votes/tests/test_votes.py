import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from conftest import PASSWORD, bearer, login
from httpkit.converters import MAX_ID
from posts.models import Post
from posts.tests.factories import make_post
from votes.models import Vote


def vote(client, post_id, direction):
    return client.post("/api/v1/votes/", {"post_id": post_id, "dir": direction}, format="json")


@pytest.mark.django_db
def test_user_can_like_a_post(auth_client, user, other_user):
    post = make_post(other_user)
    response = vote(auth_client, post.id, 1)
    assert response.status_code == 201
    assert set(response.json()) == {"detail"}
    assert Vote.objects.filter(user=user, post=post).count() == 1
    body = auth_client.get(f"/api/v1/posts/{post.id}/").json()
    assert (body["votes"], body["has_voted"]) == (1, True)


@pytest.mark.django_db
def test_user_can_like_own_post(auth_client, user):
    post = make_post(user)
    assert vote(auth_client, post.id, 1).status_code == 201


@pytest.mark.django_db
def test_second_like_is_409(auth_client, other_user):
    post = make_post(other_user)
    assert vote(auth_client, post.id, 1).status_code == 201
    response = vote(auth_client, post.id, 1)
    assert response.status_code == 409
    assert set(response.json()) == {"detail"}
    post.refresh_from_db()
    assert post.vote_count == 1


@pytest.mark.django_db
def test_user_can_take_a_like_back(auth_client, other_user):
    post = make_post(other_user)
    vote(auth_client, post.id, 1)
    response = vote(auth_client, post.id, 0)
    assert response.status_code == 200
    assert set(response.json()) == {"detail"}
    assert not Vote.objects.exists()
    body = auth_client.get(f"/api/v1/posts/{post.id}/").json()
    assert (body["votes"], body["has_voted"]) == (0, False)


@pytest.mark.django_db
def test_taking_back_a_missing_like_is_404(auth_client, other_user):
    post = make_post(other_user)
    response = vote(auth_client, post.id, 0)
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


@pytest.mark.django_db
@pytest.mark.parametrize("direction", [0, 1])
def test_voting_on_missing_or_invisible_post_is_404(auth_client, other_user, direction):
    draft = make_post(other_user, published=False)
    for post_id in (draft.id, 987654321, MAX_ID):
        response = vote(auth_client, post_id, direction)
        assert response.status_code == 404, post_id
        assert set(response.json()) == {"detail"}
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_owner_can_like_own_draft(auth_client, user):
    draft = make_post(user, published=False)
    assert vote(auth_client, draft.id, 1).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"post_id": 1, "dir": 2}, "dir"),
        ({"post_id": 1, "dir": -1}, "dir"),
        ({"post_id": 1, "dir": "up"}, "dir"),
        ({"post_id": 1, "dir": None}, "dir"),
        ({"post_id": 1}, "dir"),
        ({"post_id": "abc", "dir": 1}, "post_id"),
        ({"post_id": 1.5, "dir": 1}, "post_id"),
        ({"post_id": 2**70, "dir": 1}, "post_id"),
        ({"post_id": -3, "dir": 1}, "post_id"),
        ({"dir": 1}, "post_id"),
    ],
)
def test_invalid_vote_is_400(auth_client, user, body, field):
    make_post(user)
    response = auth_client.post("/api/v1/votes/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_anonymous_cannot_vote(api_client, user):
    post = make_post(user)
    response = vote(api_client, post.id, 1)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_vote_counts_follow_cascades(user, other_user, make_user):
    post = make_post(user)
    Vote.objects.create(user=other_user, post=post)
    Vote.objects.create(user=user, post=post)
    post.refresh_from_db()
    assert post.vote_count == 2
    other_user.delete()
    post.refresh_from_db()
    assert post.vote_count == 1
    Vote.objects.bulk_create([Vote(user=make_user(), post=post) for _ in range(3)])
    post.refresh_from_db()
    assert post.vote_count == 4


@pytest.mark.django_db
def test_database_refuses_a_duplicate_like(user):
    from django.db import IntegrityError

    post = make_post(user)
    Vote.objects.create(user=user, post=post)
    with pytest.raises(IntegrityError):
        Vote.objects.create(user=user, post=post)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_likes_give_one_201(make_user):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to show")
    owner = make_user("owner@example.com")
    liker = make_user("liker@example.com")
    post = make_post(owner)
    token = login(APIClient(), liker.email, PASSWORD)["access_token"]
    barrier = threading.Barrier(20)
    statuses = []

    def like():
        try:
            barrier.wait()
            statuses.append(vote(bearer(token), post.id, 1).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=like) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 19
    assert Post.objects.get(pk=post.pk).vote_count == 1
    assert Vote.objects.count() == 1
