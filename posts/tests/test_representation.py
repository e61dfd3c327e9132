"""PostSerializer builds a post's JSON by hand for speed; it must say exactly what the declared
fields say, key by key and value by value, whatever the post and whoever reads it."""

import pytest
from rest_framework import serializers

from posts.models import Post
from posts.serializers import PostSerializer
from posts.tests.factories import make_post, utc
from votes.models import Vote


def declared(post: Post) -> dict:
    """What DRF makes of the declared fields (the path the hand-built one replaces)."""
    serializer = PostSerializer(post)
    return serializers.ModelSerializer.to_representation(serializer, post)


def assert_same(post: Post) -> dict:
    by_hand = PostSerializer(post).data
    from_fields = declared(post)
    assert list(by_hand) == list(from_fields)
    for key, value in from_fields.items():
        if isinstance(value, dict):
            assert list(by_hand[key]) == list(value), key
        assert by_hand[key] == value, key
    return by_hand


@pytest.mark.django_db
def test_hand_built_post_equals_the_declared_fields(user, other_user, make_user):
    reader = make_user()
    posts = [
        make_post(user, title="Published", created_at=utc(2024, 2, 29, 12, 30, 1)),
        make_post(user, title="Draft", published=False),
        make_post(other_user, title="Liked", content="  spaced  "),
        make_post(other_user, title="Liked by all"),
    ]
    for liker, post in [(reader, posts[2]), (reader, posts[3]), (user, posts[3]), (other_user, posts[3])]:
        Vote.objects.create(user=liker, post=post)
    shown = []
    for viewer in (user, other_user, reader):
        for post in Post.objects.visible_to(viewer).with_votes(viewer).order_by("id"):
            shown.append(assert_same(post))
    # Every case came by: drafts and published posts, liked and not, read by owner and others.
    assert {(p["published"], p["has_voted"], p["votes"]) for p in shown} >= {
        (True, False, 0),
        (False, False, 0),
        (True, True, 1),
        (True, False, 1),
        (True, True, 3),
    }
    assert {p["owner"]["id"] for p in shown} == {user.id, other_user.id}


@pytest.mark.django_db
def test_a_post_just_written_has_the_declared_shape(user):
    # Create and update answer with a post that carries no has_voted annotation.
    post = make_post(user)
    assert assert_same(post)["has_voted"] is False
