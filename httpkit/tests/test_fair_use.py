"""Fair use in one process: the per-user budgets, their headers, staff, `off`, a dead cache.

The suite runs with the budgets off (test_settings); each test here turns on the ones it needs.
The same rules across two gunicorn instances and Redis: test_fair_use_live.py.
"""

import time

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache

from httpkit import throttling
from httpkit.throttling import Budget, count_hits
from posts.tests.factories import make_post

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
# This module's Redis database on the shared machine, and a loopback port nothing listens on.
REDIS_URL = "redis://127.0.0.1:6379/6"
DEAD_CACHE_URL = "redis://127.0.0.1:9899/0"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    throttling._CacheBreaker.down_until = 0.0
    yield
    cache.clear()
    throttling._CacheBreaker.down_until = 0.0


@pytest.fixture(params=["local memory", "redis"])
def budgets(request, settings):
    """Turn budgets on: `budgets(user="3/min")`; the ones not named stay off. Each test runs
    counting in local memory (counted when the throttles ask) and in Redis (a bearer request's
    count sent ahead by the authentication)."""
    if request.param == "redis":
        settings.CACHES = redis_caches(REDIS_URL)
        redis.Redis.from_url(REDIS_URL).flushdb()

    def turn_on(user: str = "off", posts: str = "off", votes: str = "off") -> None:
        rates = {"user": user, "posts": posts, "votes": votes}
        settings.REST_FRAMEWORK = {**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return turn_on


def redis_caches(url: str) -> dict:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}


def rate_headers(response) -> tuple[int, int, int]:
    return tuple(int(response[name]) for name in RATE_HEADERS)


def test_with_budgets_off_responses_carry_no_rate_headers(auth_client):
    response = auth_client.get("/api/v1/posts/")
    assert response.status_code == 200
    assert not any(name in response for name in RATE_HEADERS)


def test_every_authenticated_response_counts_down_the_user_budget(budgets, auth_client, user):
    budgets(user="5/min")
    started = time.time()
    answers = [
        auth_client.get("/api/v1/posts/"),
        auth_client.get("/api/v1/users/me/"),
        auth_client.get("/api/v1/posts/999999/"),
        auth_client.post("/api/v1/votes/", {"post_id": 1, "dir": 7}),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 404, 400]
    limits, remaining, resets = zip(*(rate_headers(answer) for answer in answers), strict=True)
    assert limits == (5, 5, 5, 5)
    assert remaining == (4, 3, 2, 1)
    # One window for all four, ending at most a minute after the first request.
    assert len(set(resets)) == 1
    assert started + 60 <= resets[0] <= time.time() + 61


def test_over_the_user_budget_is_a_429_with_retry_after(budgets, auth_client):
    budgets(user="3/min")
    assert [auth_client.get("/api/v1/posts/").status_code for _ in range(3)] == [200, 200, 200]
    refused = auth_client.get("/api/v1/users/me/")
    assert refused.status_code == 429
    assert set(refused.json()) == {"detail"}
    assert 1 <= int(refused["Retry-After"]) <= 60
    limit, remaining, reset = rate_headers(refused)
    assert (limit, remaining) == (3, 0)
    assert reset - 1 <= time.time() + int(refused["Retry-After"]) <= reset + 1


def test_another_user_keeps_a_full_budget(budgets, auth_client, other_client):
    budgets(user="2/min")
    assert [auth_client.get("/api/v1/posts/").status_code for _ in range(3)] == [200, 200, 429]
    theirs = other_client.get("/api/v1/posts/")
    assert theirs.status_code == 200
    assert rate_headers(theirs)[:2] == (2, 1)


def test_new_posts_count_against_the_post_budget_while_reads_still_work(budgets, auth_client):
    budgets(user="100/min", posts="2/hour")
    body = {"title": "t", "content": "c"}
    first, second = auth_client.post("/api/v1/posts/", body), auth_client.post("/api/v1/posts/", body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert rate_headers(first)[:2] == (2, 1)
    assert rate_headers(second)[:2] == (2, 0)

    refused = auth_client.post("/api/v1/posts/", body)
    assert refused.status_code == 429
    assert set(refused.json()) == {"detail"}
    assert 60 < int(refused["Retry-After"]) <= 3600
    assert rate_headers(refused)[:2] == (2, 0)

    # Reads and changes to existing posts draw on the user budget only.
    listed = auth_client.get("/api/v1/posts/")
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert rate_headers(listed)[:2] == (100, 96)
    changed = auth_client.patch(f"/api/v1/posts/{first.json()['id']}/", {"title": "new"})
    assert changed.status_code == 200
    assert rate_headers(changed)[:2] == (100, 95)


def test_likes_and_unlikes_count_against_the_vote_budget(budgets, auth_client, other_user):
    budgets(user="100/min", votes="2/hour")
    post = make_post(owner=other_user)
    liked = auth_client.post("/api/v1/votes/", {"post_id": post.id, "dir": 1})
    unliked = auth_client.post("/api/v1/votes/", {"post_id": post.id, "dir": 0})
    assert (liked.status_code, unliked.status_code) == (201, 200)
    assert rate_headers(liked)[:2] == (2, 1)
    assert rate_headers(unliked)[:2] == (2, 0)
    refused = auth_client.post("/api/v1/votes/", {"post_id": post.id, "dir": 1})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 60
    assert auth_client.get(f"/api/v1/posts/{post.id}/").status_code == 200


def test_the_headers_show_the_budget_with_the_fewest_requests_remaining(budgets, auth_client):
    budgets(user="3/min", posts="30/hour")
    created = auth_client.post("/api/v1/posts/", {"title": "t", "content": "c"})
    assert created.status_code == 201
    # The post budget allows fewer per window, but the user budget has fewer left (2 < 29).
    assert rate_headers(created)[:2] == (3, 2)


def test_on_a_tie_the_budget_that_refills_later_is_the_tighter():
    minute, hour = Budget(10, 3, reset=1_000_060), Budget(30, 3, reset=1_003_600)
    assert hour.tighter_than(minute)
    assert not minute.tighter_than(hour)
    assert Budget(600, 2, reset=1_000_060).tighter_than(hour)


def test_off_disables_one_budget_and_leaves_the_others(budgets, auth_client):
    budgets(user="100/min", posts="off")
    answers = [auth_client.post("/api/v1/posts/", {"title": "t", "content": "c"}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert rate_headers(answers[-1])[:2] == (100, 97)


def test_front_ends_on_other_origins_may_read_the_rate_headers(budgets, settings, auth_client):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    budgets(user="5/min")
    response = auth_client.get("/api/v1/posts/", HTTP_ORIGIN="https://app.example.com")
    assert response.status_code == 200
    exposed = {name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")}
    assert {name.lower() for name in (*RATE_HEADERS, "Retry-After")} <= exposed


def test_staff_users_are_exempt_and_get_no_headers(budgets, make_user):
    from rest_framework.test import APIClient

    from conftest import bearer, login

    staff = make_user("staff@example.com", is_staff=True)
    client = bearer(login(APIClient(), staff.email)["access_token"])
    budgets(user="2/min", posts="1/hour")
    answers = [client.get("/api/v1/posts/") for _ in range(4)]
    answers += [client.post("/api/v1/posts/", {"title": "t", "content": "c"}) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200] * 4 + [201] * 2
    assert not any(name in answer for answer in answers for name in RATE_HEADERS)
    assert cache.get(f"budget:user:{staff.pk}", 0) == 0
    assert cache.get(f"budget:posts:{staff.pk}", 0) == 0


def test_requests_without_valid_credentials_are_not_counted(budgets, api_client, auth_client, user):
    budgets(user="1/min")
    anonymous = api_client.get("/api/v1/posts/")
    assert anonymous.status_code == 401
    registered = api_client.post(
        "/api/v1/users/", {"email": "new@example.com", "password": "a-long-passphrase"}
    )
    assert registered.status_code == 201
    assert not any(name in answer for answer in (anonymous, registered) for name in RATE_HEADERS)
    first = auth_client.get("/api/v1/posts/")
    assert first.status_code == 200
    assert rate_headers(first)[:2] == (1, 0)


def test_a_verified_token_whose_user_may_no_longer_sign_in_is_not_counted(budgets, auth_client, user):
    budgets(user="5/min")
    assert rate_headers(auth_client.get("/api/v1/posts/"))[:2] == (5, 4)
    # The token's signature still holds, and on Redis its count leaves before the row says no.
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert [auth_client.get("/api/v1/posts/").status_code for _ in range(3)] == [401] * 3
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert cache.get(f"budget:user:{user.pk}") == 1
    user.set_password("another-long-passphrase")
    user.save()
    assert [auth_client.get("/api/v1/posts/").status_code for _ in range(3)] == [401] * 3
    assert cache.get(f"budget:user:{user.pk}") == 1


def test_counting_keeps_its_redis_connection_from_request_to_request(budgets, redis_cache, auth_client, user):
    budgets(user="100/min", posts="30/hour")
    assert auth_client.get("/api/v1/posts/").status_code == 200
    _, connection = throttling._connections.current
    socket = connection._sock
    answers = [auth_client.post("/api/v1/posts/", {"title": "t", "content": "c"}) for _ in range(3)]
    answers += [auth_client.get("/api/v1/posts/") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [201] * 3 + [200] * 3
    assert rate_headers(answers[-1])[:2] == (100, 93)
    assert throttling._connections.current[1]._sock is socket


def test_a_request_refused_before_its_throttles_ran_leaves_the_counter_in_step(
    budgets, auth_client, monkeypatch
):
    from rest_framework.permissions import IsAuthenticated

    budgets(user="5/min")
    assert rate_headers(auth_client.get("/api/v1/posts/"))[:2] == (5, 4)
    with monkeypatch.context() as patched:
        patched.setattr(IsAuthenticated, "has_permission", lambda self, request, view: False)
        assert auth_client.get("/api/v1/posts/").status_code == 403
    answer = auth_client.get("/api/v1/posts/")
    # Refused before the throttles: not counted; sent ahead (Redis), its count was taken back.
    assert rate_headers(answer)[:2] == (5, 3)


def test_the_budget_refills_when_its_window_ends(budgets, auth_client):
    budgets(user="1/s")
    allowed = auth_client.get("/api/v1/posts/")
    refused = auth_client.get("/api/v1/posts/")
    assert (allowed.status_code, refused.status_code) == (200, 429)
    reset = rate_headers(refused)[2]
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    again = auth_client.get("/api/v1/posts/")
    assert again.status_code == 200
    assert rate_headers(again)[1] == 0
    assert rate_headers(again)[2] > reset - 1


def test_an_unreachable_cache_lets_requests_through_uncounted(budgets, settings, auth_client, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_CACHE_URL}
    }
    budgets(user="1/min", posts="1/hour")
    answers = [auth_client.get("/api/v1/posts/") for _ in range(3)]
    answers.append(auth_client.post("/api/v1/posts/", {"title": "t", "content": "c"}))
    assert [answer.status_code for answer in answers] == [200, 200, 200, 201]
    assert not any(name in answer for answer in answers for name in RATE_HEADERS)
    # One warning, then the process leaves the cache alone for a while instead of failing per request.
    warnings = [record for record in caplog.records if record.name == "httpkit.throttling"]
    assert len(warnings) == 1
    assert "cache unavailable" in warnings[0].getMessage()


@pytest.fixture
def redis_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    server = redis.Redis.from_url(REDIS_URL)
    server.flushdb()
    yield server
    server.flushdb()


def test_the_redis_counter_counts_in_one_window_that_expires(redis_cache):
    now = time.time()
    first = count_hits({"budget:test:1": 60, "budget:test:2": 3600}, now)
    assert first == {
        "budget:test:1": (1, pytest.approx(now + 60, abs=1)),
        "budget:test:2": (1, pytest.approx(now + 3600, abs=1)),
    }
    count, reset = count_hits({"budget:test:1": 60}, time.time())["budget:test:1"]
    assert count == 2
    # The window's end stays where the first request put it.
    assert reset == pytest.approx(now + 60, abs=1)
    (key,) = redis_cache.keys("*budget:test:1")
    assert 58_000 < redis_cache.pttl(key) <= 60_000


def test_the_redis_counter_gives_a_stray_key_without_expiry_one(redis_cache):
    count_hits({"budget:test:3": 60}, time.time())
    (key,) = redis_cache.keys("*budget:test:3")
    redis_cache.persist(key)
    assert count_hits({"budget:test:3": 60}, time.time())["budget:test:3"][0] == 2
    assert 0 < redis_cache.pttl(key) <= 60_000


def test_the_redis_counter_sends_its_script_again_after_a_redis_restart(redis_cache):
    assert count_hits({"budget:test:4": 60}, time.time())["budget:test:4"][0] == 1
    # A restarted Redis has forgotten the script that EVALSHA names.
    redis_cache.script_flush()
    assert count_hits({"budget:test:4": 60}, time.time())["budget:test:4"][0] == 2
    assert count_hits({"budget:test:4": 60}, time.time())["budget:test:4"][0] == 3


def test_a_request_counts_all_its_budgets_in_one_cache_call(budgets, redis_cache, auth_client, monkeypatch):
    calls = []
    send_count = throttling._send_count

    def spy(backend, windows, now):
        calls.append(sorted(windows.values()))
        return send_count(backend, windows, now)

    monkeypatch.setattr(throttling, "_send_count", spy)
    budgets(user="100/min", posts="30/hour")
    assert auth_client.post("/api/v1/posts/", {"title": "t", "content": "c"}).status_code == 201
    assert auth_client.get("/api/v1/posts/").status_code == 200
    assert calls == [[60, 3600], [60]]


def test_budgets_on_redis_count_requests_and_send_headers(budgets, redis_cache, auth_client):
    budgets(user="2/min")
    answers = [auth_client.get("/api/v1/posts/") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert [rate_headers(answer)[:2] for answer in answers] == [(2, 1), (2, 0), (2, 0)]


def test_the_schema_documents_the_429_and_the_rate_headers(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, method in [
        ("/api/v1/posts/", "get"),
        ("/api/v1/posts/", "post"),
        ("/api/v1/posts/{id}/", "patch"),
        ("/api/v1/votes/", "post"),
        ("/api/v1/users/me/", "get"),
    ]:
        responses = schema["paths"][path][method]["responses"]
        assert "fair-use budget" in responses["429"]["description"], (method, path)
        assert "Retry-After" in responses["429"]["headers"]
        for status, response in responses.items():
            has_rate_headers = set(RATE_HEADERS) <= set(response.get("headers", {}))
            # 401 and 503 are answered before any budget is counted.
            assert has_rate_headers == (status not in ("401", "503")), (method, path, status)
    # Password changes are budgeted and also limited per address and account.
    password_change = schema["paths"]["/api/v1/users/me/password/"]["post"]["responses"]
    assert "another limit" in password_change["429"]["description"]
    assert set(RATE_HEADERS) <= set(password_change["200"]["headers"])
    reset = schema["paths"]["/api/v1/posts/"]["get"]["responses"]["200"]["headers"]["X-RateLimit-Reset"]
    assert reset["schema"] == {"type": "integer"}
    assert "Unix time" in reset["description"]
    # Public endpoints are throttled per address, not budgeted per user.
    token = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert not any(
        name in response.get("headers", {}) for response in token.values() for name in RATE_HEADERS
    )
    assert "fair-use" not in token["429"]["description"]
