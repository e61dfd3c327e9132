from contextlib import nullcontext

from django.db import IntegrityError, connection, transaction

from posts.models import Post

from . import queries
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

    Visibility check and insert are one statement (a like costs one round trip).
    """
    # A lone statement is atomic by itself; inside a caller's transaction a savepoint keeps
    # a refused insert from aborting it.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            inserted = queries.vote_insert_if_visible(user=user, post_id=post_id)
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
