"""votes/queries.py: each statement against the ORM query it replaces, on the same rows."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef

from posts.models import Post
from posts.tests.factories import make_post
from votes import queries
from votes.models import Vote


def likes() -> set[tuple[int, int]]:
    return set(Vote.objects.values_list("user_id", "post_id"))


@pytest.fixture
def liked_posts(user, other_user):
    """Three posts, two liked by `user`, one by `other_user`, one draft liked by its owner."""
    posts = [make_post(other_user), make_post(other_user), make_post(user), make_post(user, published=False)]
    for liker, post in [(user, posts[0]), (user, posts[2]), (other_user, posts[1]), (user, posts[3])]:
        Vote.objects.create(user=liker, post=post)
    return posts


@pytest.mark.django_db
def test_has_voted_gives_the_rows_of_the_orm_exists(liked_posts, user, other_user, make_user):
    answers = {}
    for person in (user, other_user, make_user()):
        orm = Exists(Vote.objects.filter(post_id=OuterRef("pk"), user_id=person.pk))
        expected = list(Post.objects.annotate(has_voted=orm).order_by("id").values_list("id", "has_voted"))
        written = Post.objects.annotate(has_voted=queries.has_voted(person.pk))
        assert list(written.order_by("id").values_list("id", "has_voted")) == expected
        # The same query is what post lists run, through the slot votes fills in posts.
        listed = Post.objects.with_votes(person).order_by("id").values_list("id", "has_voted")
        assert list(listed) == expected
        answers[person] = [liked for _, liked in expected]
    assert answers[user] == [True, False, True, True]
    assert answers[other_user] == [False, True, False, False]


def orm_like(user, post_id: int) -> int:
    """What vote_insert_if_visible replaces: a visibility check, then a create."""
    if not Post.objects.visible_to(user).filter(pk=post_id).exists():
        return 0
    Vote.objects.create(user=user, post_id=post_id)
    return 1


def outcome(insert, user, post_id: int):
    """Run one insert in a savepoint that is rolled back: what it returned or raised, and the likes after."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                result = insert(user, post_id)
        except IntegrityError:
            result = "already liked"
        after = likes()
        transaction.set_rollback(True)
    return result, after


@pytest.mark.django_db
def test_vote_insert_if_visible_writes_the_rows_of_the_orm(liked_posts, user, other_user):
    mine_draft = make_post(user, published=False)
    their_draft = make_post(other_user, published=False)
    published_unliked = make_post(other_user)
    cases = [
        (user, published_unliked.id, 1),
        (user, mine_draft.id, 1),
        (user, their_draft.id, 0),
        (user, 987_654_321, 0),
        (user, liked_posts[0].id, "already liked"),
        (other_user, liked_posts[2].id, 1),
    ]
    for person, post_id, result in cases:
        written = outcome(lambda u, p: queries.vote_insert_if_visible(user=u, post_id=p), person, post_id)
        replaced = outcome(orm_like, person, post_id)
        assert written == replaced, (person.email, post_id)
        assert replaced[0] == result, (person.email, post_id)


@pytest.mark.postgres
@pytest.mark.django_db
def test_votes_insert_many_writes_the_rows_of_bulk_create(user, other_user):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the statement reads arrays with unnest")
    posts = [make_post(other_user) for _ in range(3)]
    pairs = [(user.id, posts[0].id), (user.id, posts[2].id), (other_user.id, posts[1].id)]

    def counts():
        return {post.id: post.vote_count for post in Post.objects.order_by("id")}

    with transaction.atomic():
        Vote.objects.bulk_create([Vote(user_id=u, post_id=p) for u, p in pairs])
        expected = (likes(), counts())
        transaction.set_rollback(True)
    queries.votes_insert_many(pairs)
    assert (likes(), counts()) == expected
    assert expected[0] == set(pairs)
