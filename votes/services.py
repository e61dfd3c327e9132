from contextlib import nullcontext

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from posts.models import Post

from .models import Vote


class AlreadyVoted(Exception):
    pass


class VoteNotFound(Exception):
    pass


class PostNotFound(Exception):
    pass


def _visible_post(*, user, post_id: int) -> Post:
    post = Post.objects.visible_to(user).filter(pk=post_id).only("id").first()
    if post is None:
        raise PostNotFound
    return post


def vote_cast(*, user, post_id: int) -> None:
    """Like a post once; the unique constraint decides races, not a prior SELECT.

    Visibility check and insert are one statement (a like costs one round trip); which posts
    are visible comes from PostQuerySet.visible_to, the one place that rule is written.
    """
    visible, visible_params = (
        Post.objects.visible_to(user).filter(pk=post_id).values("id").query.sql_with_params()
    )
    # Only SQL compiled by the ORM is interpolated; every value travels as a parameter.
    insert = f"INSERT INTO votes_vote (user_id, post_id, created_at) SELECT %s, v.id, %s FROM ({visible}) v"  # noqa: S608
    # A lone statement is atomic by itself; inside a caller's transaction a savepoint keeps
    # a refused insert from aborting it.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard, connection.cursor() as cursor:
            cursor.execute(insert, [user.pk, timezone.now(), *visible_params])
            inserted = cursor.rowcount
    except IntegrityError:
        # Either the like exists already, or the post was deleted in the meantime.
        if Post.objects.filter(pk=post_id).exists():
            raise AlreadyVoted from None
        raise PostNotFound from None
    if not inserted:
        raise PostNotFound


def vote_withdraw(*, user, post_id: int) -> None:
    """Take a like back; the triggers on votes_vote keep the post's count right."""
    post = _visible_post(user=user, post_id=post_id)
    deleted, _ = Vote.objects.filter(user=user, post=post).delete()
    if not deleted:
        raise VoteNotFound
