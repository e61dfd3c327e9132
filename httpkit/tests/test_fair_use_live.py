"""Fair use over HTTP: two gunicorn instances on one database and one Redis keep one budget per user.

Requests alternate between the instances, so only a counter shared through CACHE_URL gives the
answers asserted here.
"""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import redis

from accounts.models import User
from testing.live import Answer, Instance, gunicorn, production_env, require_postgresql

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Redis database 6 and ports 9800-9899 are these tests' own on the shared machine.
REDIS_URL = "redis://127.0.0.1:6379/6"
PORTS = range(9800, 9900)
PASSWORD = "fair-use-horse-battery"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
DEFAULTS = {"USER_RATE_LIMIT": "600/min", "POST_RATE_LIMIT": "30/hour", "VOTE_RATE_LIMIT": "300/hour"}


@pytest.fixture
def start(transactional_db, tmp_path) -> Iterator[Callable[..., list[Instance]]]:
    """`start(USER_RATE_LIMIT=...)`: two instances sharing Redis; rates not given are API.md's."""
    require_postgresql()
    server = redis.Redis.from_url(REDIS_URL)
    server.flushdb()
    with ExitStack() as stack:

        def started(**rates: str) -> list[Instance]:
            environment = production_env(CACHE_URL=REDIS_URL, **{**DEFAULTS, **rates})
            return stack.enter_context(gunicorn(tmp_path, PORTS, count=2, env=environment))

        try:
            yield started
        finally:
            server.flushdb()


def sign_up(instance: Instance, email: str) -> str:
    registered = instance.call("POST", "/api/v1/users/", body={"email": email, "password": PASSWORD})
    assert registered.status == 201, registered.body
    token = instance.call("POST", "/api/v1/auth/token/", form={"username": email, "password": PASSWORD})
    assert token.status == 200, token.body
    return token.body["access_token"]


def budget(answer: Answer) -> tuple[int, int, int]:
    return tuple(int(answer.headers[name]) for name in RATE_HEADERS)


def test_a_users_budget_is_shared_by_both_instances(start):
    a, b = start(USER_RATE_LIMIT="6/min")
    alice, bob = sign_up(a, "alice@example.com"), sign_up(b, "bob@example.com")

    answers = [instance.call("GET", "/api/v1/posts/", token=alice) for instance in (a, b, a, b, a, b)]
    assert [answer.status for answer in answers] == [200] * 6
    limits, remaining, resets = zip(*(budget(answer) for answer in answers), strict=True)
    assert limits == (6,) * 6
    assert remaining == (5, 4, 3, 2, 1, 0)
    assert len(set(resets)) == 1
    # Whole seconds, rounded up: the window ends within a minute of now.
    assert time.time() < resets[0] <= time.time() + 61

    for instance in (a, b):
        refused = instance.call("GET", "/api/v1/users/me/", token=alice)
        assert refused.status == 429, refused.body
        assert set(refused.body) == {"detail"}
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert budget(refused) == (6, 0, resets[0])

    # Another user has a budget of their own.
    theirs = a.call("GET", "/api/v1/posts/", token=bob)
    assert theirs.status == 200
    assert budget(theirs)[:2] == (6, 5)

    # Concurrent requests on both instances: the counter is atomic, exactly the 5 left get through.
    with ThreadPoolExecutor(max_workers=8) as pool:
        burst = list(pool.map(lambda instance: instance.call("GET", "/api/v1/posts/", token=bob), (a, b) * 6))
    assert sorted(answer.status for answer in burst) == [200] * 5 + [429] * 7
    assert sorted(budget(answer)[1] for answer in burst if answer.status == 200) == [0, 1, 2, 3, 4]

    # Staff are not counted, and get no headers.
    staff = sign_up(b, "staff@example.com")
    User.objects.filter(email="staff@example.com").update(is_staff=True)
    staff_answers = [instance.call("GET", "/api/v1/posts/", token=staff) for instance in (a, b) * 4]
    assert [answer.status for answer in staff_answers] == [200] * 8
    assert not any(name in answer.headers for answer in staff_answers for name in RATE_HEADERS)


def test_the_31st_post_in_an_hour_is_refused_while_reads_still_work(start):
    a, b = start()
    alice, bob = sign_up(a, "alice@example.com"), sign_up(b, "bob@example.com")
    body = {"title": "Fair", "content": "One of thirty."}

    created = [instance.call("POST", "/api/v1/posts/", body=body, token=alice) for instance in (a, b) * 15]
    assert [answer.status for answer in created] == [201] * 30
    # Each answer shows the post budget: fewer left there (29 ... 0) than in the user budget.
    assert [budget(answer)[:2] for answer in created] == [(30, left) for left in range(29, -1, -1)]

    refused = a.call("POST", "/api/v1/posts/", body=body, token=alice)
    assert refused.status == 429, refused.body
    assert set(refused.body) == {"detail"}
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert budget(refused)[:2] == (30, 0)

    listed = b.call("GET", "/api/v1/posts/?limit=1", token=alice)
    assert listed.status == 200
    assert listed.body["count"] == 30
    # 30 posts, the refused one and this read: 32 of the 600 per minute.
    assert budget(listed)[:2] == (600, 568)
    assert a.call("GET", f"/api/v1/posts/{created[0].body['id']}/", token=alice).status == 200

    theirs = b.call("POST", "/api/v1/posts/", body=body, token=bob)
    assert theirs.status == 201
    assert budget(theirs)[:2] == (30, 29)


def test_the_headers_count_down_and_the_budget_refills_when_they_say(start):
    a, b = start(VOTE_RATE_LIMIT="2/s")
    alice, bob = sign_up(a, "alice@example.com"), sign_up(b, "bob@example.com")

    def vote(instance: Instance, post_id: int, direction: int) -> Answer:
        return instance.call(
            "POST", "/api/v1/votes/", body={"post_id": post_id, "dir": direction}, token=alice
        )

    # Three votes must land in one 1-second window; on a slow machine, try again in a fresh one.
    for _ in range(3):
        post_id = b.call("POST", "/api/v1/posts/", body={"title": "t", "content": "c"}, token=bob).body["id"]
        answers = [vote(a, post_id, 1), vote(b, post_id, 0), vote(a, post_id, 1)]
        resets = {budget(answer)[2] for answer in answers}
        if len(resets) == 1:
            break
        time.sleep(max(0.0, max(resets) - time.time()) + 0.05)
    else:
        pytest.fail("three requests never fitted in one 1-second window")

    assert [answer.status for answer in answers] == [201, 200, 429]
    assert [budget(answer)[:2] for answer in answers] == [(2, 1), (2, 0), (2, 0)]
    assert int(answers[2].headers["Retry-After"]) == 1
    (reset,) = resets

    time.sleep(max(0.0, reset - time.time()) + 0.05)
    again = vote(b, post_id, 1)
    assert again.status == 201, again.body
    assert budget(again)[:2] == (2, 1)
    assert budget(again)[2] > reset - 1
