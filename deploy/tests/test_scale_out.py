"""Two gunicorn instances on one PostgreSQL database and one Redis behave as one API.

What Kubernetes does with several API pods, on this machine: each instance is a real gunicorn
with production settings (DEBUG off), both on the test database and on one Redis cache.
"""

import pytest
import redis

from testing.live import Answer, call, gunicorn, production_env, require_postgresql

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Redis database 4 and ports 8400-8499 are this test's own on the shared machine.
REDIS_URL = "redis://127.0.0.1:6379/4"
PORTS = range(8400, 8500)
THROTTLE_RATE = "5/min"
PASSWORD = "scale-out-horse-battery"


@pytest.fixture
def instances(transactional_db, tmp_path):
    """Base URLs of two gunicorn instances sharing the test database and one Redis."""
    require_postgresql()
    redis.Redis.from_url(REDIS_URL).flushdb()
    environment = production_env(CACHE_URL=REDIS_URL, AUTH_THROTTLE_RATE=THROTTLE_RATE)
    try:
        with gunicorn(tmp_path, PORTS, count=2, env=environment) as running:
            yield [instance.base for instance in running]
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()


def log_in(base: str, email: str) -> Answer:
    return call(base, "POST", "/api/v1/auth/token/", form={"username": email, "password": PASSWORD})


def test_tokens_and_the_auth_throttle_hold_across_two_instances(instances):
    a, b = instances
    email = "scale-out@example.com"

    # Auth requests alternate between the instances: 1 A, 2 B, 3 A, 4 B, 5 A, 6 B.
    registered = call(a, "POST", "/api/v1/users/", body={"email": email, "password": PASSWORD})
    assert registered.status == 201, registered.body
    from_b = log_in(b, email)
    assert from_b.status == 200, from_b.body
    from_a = log_in(a, email)
    assert from_a.status == 200, from_a.body

    # A token issued by one instance works on the other.
    me_on_a = call(a, "GET", "/api/v1/users/me/", token=from_b.body["access_token"])
    assert me_on_a.status == 200
    assert me_on_a.body == registered.body
    me_on_b = call(b, "GET", "/api/v1/users/me/", token=from_a.body["access_token"])
    assert me_on_b.status == 200
    assert me_on_b.body == registered.body

    # Refresh is not throttled; a refresh token rotated on B is spent on A as well.
    refresh = from_a.body["refresh_token"]
    rotated = call(b, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": refresh})
    assert rotated.status == 200, rotated.body
    assert set(rotated.body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert call(a, "POST", "/api/v1/auth/token/refresh/", body={"refresh_token": refresh}).status == 401

    assert log_in(b, email).status == 200
    assert log_in(a, email).status == 200
    # B has seen two auth requests of its own; only a shared counter makes this the sixth.
    throttled = log_in(b, email)
    assert throttled.status == 429, throttled.body
    assert set(throttled.body) == {"detail"}
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert log_in(a, email).status == 429
