"""The usernames migration (accounts 0003) on a database that already holds users, posts and likes.

Runs on whichever database the suite uses (PostgreSQL and SQLite in CI).
"""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts import usernames

BEFORE = [("accounts", "0002_recoverycode")]
AFTER = [("accounts", "0003_user_username")]


def migrate(accounts_target):
    """Migrate accounts to `accounts_target`, every other app to its latest; the state's apps."""
    executor = MigrationExecutor(connection)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "accounts"]
    executor.migrate(accounts_target)
    executor = MigrationExecutor(connection)
    return executor.loader.project_state(accounts_target + others).apps


@pytest.fixture
def at_0002(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    # Back to the latest state for the tests that follow.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_users_get_usernames_and_keep_their_posts_and_likes(at_0002):
    User = at_0002.get_model("accounts", "User")
    Post = at_0002.get_model("posts", "Post")
    Vote = at_0002.get_model("votes", "Vote")
    now = timezone.now()
    emails = [
        "Ann@one.org",
        "ann@two.org",
        "ANN@three.org",
        "12@four.org",
        "x@five.org",
        "o'neil+blog@six.org",
        "very.long.local.part.that.goes.on.and.on@seven.org",
        "very.long.local.part.that.goes.on.and.on@eight.org",
    ]
    users = [User.objects.create(email=email, password="!", created_at=now) for email in emails]
    posts = [Post.objects.create(owner=owner, title="t", content="c") for owner in users[:3]]
    Vote.objects.bulk_create([Vote(user=voter, post=posts[0]) for voter in users[1:6]])
    Vote.objects.create(user=users[0], post=posts[1])

    apps = migrate(AFTER)

    User = apps.get_model("accounts", "User")
    Post = apps.get_model("posts", "Post")
    names = dict(User.objects.values_list("email", "username"))
    assert [names[email] for email in emails] == [
        "Ann",
        "ann2",
        "ANN3",
        "user_12",
        "user_x",
        "oneilblog",
        "very.long.local.part.that.goes",
        "very.long.local.part.that.goe2",
    ]
    assert all(usernames.is_valid(name) for name in names.values())
    assert dict(Post.objects.values_list("id", "vote_count")) == {
        posts[0].id: 5,
        posts[1].id: 1,
        posts[2].id: 0,
    }
    assert Post.objects.count() == 3
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(email="x@five.org").update(username="ANN")
