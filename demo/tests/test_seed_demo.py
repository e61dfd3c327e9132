from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F
from django.utils import timezone

from accounts import usernames
from accounts.models import User
from demo.management.commands.seed_demo import DEMO_DOMAIN, DEMO_PASSWORD
from posts.models import Post
from posts.tests.factories import make_post
from votes.models import Vote


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def demo_counts() -> tuple[int, int, int]:
    users = User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}")
    return (
        users.count(),
        Post.objects.filter(owner__in=users).count(),
        Vote.objects.filter(user__in=users).count(),
    )


def assert_vote_counts_match_rows() -> None:
    wrong = Post.objects.annotate(rows=Count("votes")).exclude(rows=F("vote_count"))
    assert list(wrong.values_list("id", "vote_count", "rows")) == []


@pytest.mark.django_db
def test_seed_creates_requested_totals_with_drafts_and_counted_likes():
    out = seed(users=6, posts=40, votes=90, drafts=0.25, seed=7, batch_size=16)

    assert demo_counts() == (6, 40, 90)
    assert Post.objects.filter(published=False).count() == 10
    assert not Vote.objects.filter(post__published=False).exists()
    assert_vote_counts_match_rows()
    assert sum(Post.objects.values_list("vote_count", flat=True)) == 90
    assert "posts  [##############################] 40/40" in out
    assert DEMO_PASSWORD in out


@pytest.mark.django_db
def test_seeded_dates_spread_over_the_past_year():
    seed(users=5, posts=60, votes=0, seed=3)
    now = timezone.now()
    dates = list(Post.objects.values_list("created_at", "updated_at"))
    created = [c for c, _ in dates]
    assert min(created) > now - timedelta(days=366)
    assert max(created) <= now
    assert max(created) - min(created) > timedelta(days=60)
    assert all(updated == c for c, updated in dates)
    for post in Post.objects.select_related("owner"):
        assert post.created_at >= post.owner.created_at


@pytest.mark.django_db
def test_demo_users_log_in_with_the_printed_password(api_client):
    seed(users=2, posts=0, votes=0)
    demo = User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}").first()
    response = api_client.post("/api/v1/auth/token/", {"email": demo.email, "password": DEMO_PASSWORD})
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    # One hash computed once and shared, still salted and never the raw password.
    hashes = set(User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}").values_list("password", flat=True))
    assert len(hashes) == 1
    assert DEMO_PASSWORD not in hashes.pop()


@pytest.mark.django_db
def test_rerun_adds_nothing_and_bigger_counts_top_up():
    seed(users=4, posts=20, votes=30, seed=1)
    out = seed(users=4, posts=20, votes=30, seed=1)
    assert demo_counts() == (4, 20, 30)
    assert "users: 4 demo users exist, nothing to add" in out
    assert "likes: 30 demo likes exist, nothing to add" in out

    out = seed(users=7, posts=35, votes=80, seed=1)
    assert demo_counts() == (7, 35, 80)
    assert "adding 3" in out
    assert len(set(User.objects.values_list("email", flat=True))) == 7
    assert_vote_counts_match_rows()

    seed(users=2, posts=5, votes=10)
    assert demo_counts() == (7, 35, 80)


@pytest.mark.django_db
def test_real_accounts_and_their_posts_are_left_alone(user, other_user):
    real = make_post(user, title="Real post")
    Vote.objects.create(user=other_user, post=real)
    seed(users=3, posts=10, votes=20, seed=2)
    assert demo_counts() == (3, 10, 20)
    real.refresh_from_db()
    assert (real.title, real.vote_count) == ("Real post", 1)
    assert not Vote.objects.filter(post=real).exclude(user=other_user).exists()
    assert User.objects.count() == 5
    # Demo users get usernames too, valid and unique ignoring case, next to the real ones.
    names = [name.lower() for name in User.objects.values_list("username", flat=True)]
    assert len(set(names)) == 5
    assert all(usernames.is_valid(name) for name in names)


@pytest.mark.django_db
def test_dry_run_writes_nothing():
    out = seed(users=3, posts=10, votes=5, dry_run=True)
    assert demo_counts() == (0, 0, 0)
    assert "adding 3" in out
    assert "Dry run: nothing written." in out


@pytest.mark.django_db
def test_more_likes_than_pairs_is_refused_before_writing():
    with pytest.raises(CommandError, match="cannot fit"):
        seed(users=2, posts=3, votes=7, drafts=0)
    assert demo_counts() == (0, 0, 0)
    seed(users=2, posts=3, votes=6, drafts=0)
    assert demo_counts() == (2, 3, 6)
    assert set(Post.objects.values_list("vote_count", flat=True)) == {2}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"users": -1}, "--users cannot be negative"),
        ({"drafts": 1.5}, "--drafts is a share"),
        ({"batch_size": 0}, "--batch-size must be at least 1"),
        ({"users": 0, "posts": 5}, "Posts need owners"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(CommandError, match=message):
        seed(**options)
    assert demo_counts() == (0, 0, 0)
