"""Fair use: per-user request budgets as DRF throttles, and the X-RateLimit-* headers.

Every budget is a DRF throttle scope; `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` in settings.py
is the one place that gives each scope its rate (from USER_RATE_LIMIT, POST_RATE_LIMIT,
VOTE_RATE_LIMIT). `UserBudget` counts every authenticated request; `ActionBudget` counts the
actions a view maps to a scope in `throttle_scopes`. Both run as DEFAULT_THROTTLE_CLASSES.

Counting: a fixed window per user and scope that opens at the user's first request (as GitHub's
hourly budget does) and holds one integer. DRF's SimpleRateThrottle keeps a list of timestamps
instead, read and rewritten whole on every request: at 600/min a 600-float list (5.4 kB)
unpickled and pickled per request, 2 round trips and ~220 us of CPU against Redis, where the
counter is one Lua call and ~35-60 us of CPU (measured on the development machine; docs/fair-use.md).
The first budget throttle of a request counts all of the request's budgets in that one call, so a
new post or a like (two budgets) costs one round trip too. With a bearer token that call is sent
ahead, by the authentication, as soon as the token names its user and before the user's row is
read (`count_ahead`): the two round trips overlap and the throttle finds the answer waiting. A
request whose credentials then fail, whose user is staff, or that ends before its throttles ran
(a permission refused; by the middleware) gets its count taken back.

The count records the tightest budget on the request; `RateLimitHeadersMiddleware`
writes the tightest one (fewest requests remaining, then the later reset) as headers.
If the cache cannot be reached, requests are let through (fair use protects capacity; an outage
of the cache must not become an outage of the API) and the process leaves the cache alone for
CACHE_RETRY_SECONDS before trying again, so a dead cache costs one timeout, not one per request.
"""

import functools
import hashlib
import logging
import math
import threading
import time
from typing import NamedTuple

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from hiredis import pack_command
from redis.connection import Connection
from redis.exceptions import NoScriptError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

OFF = ("", "off", "none")
CACHE_RETRY_SECONDS = 5.0
# Where a request's tightest budget is kept between the throttles and the middleware.
REQUEST_ATTRIBUTE = "rate_limit"


class Budget(NamedTuple):
    limit: int
    remaining: int
    reset: float  # Unix time when the window ends and the budget refills

    def tighter_than(self, other: "Budget") -> bool:
        return (self.remaining, -self.reset) < (other.remaining, -other.reset)


def count_hits(windows: dict[str, int], now: float) -> dict[str, tuple[int, float]]:
    """Count one request in each window (cache key -> seconds); return each key's count so far
    and the Unix time its window ends."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _read_count(_send_count(backend, windows, now))
    return {key: _count_hit_generic(backend, key, duration, now) for key, duration in windows.items()}


# One atomic call for every budget of a request: count it, open the window on the first request
# (or give a stray key without expiry one), and say in milliseconds when the window ends.
COUNT_HITS_LUA = """
local answers = {}
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
        ttl = tonumber(ARGV[i])
        redis.call('PEXPIRE', key, ttl)
    end
    answers[i] = {count, ttl}
end
return answers
"""

# Redis names scripts by their SHA-1 (EVALSHA); not a security use.
COUNT_HITS_SHA = hashlib.sha1(COUNT_HITS_LUA.encode(), usedforsecurity=False).hexdigest()
_connections = threading.local()


def _redis_connection(backend: RedisCache) -> Connection:
    """This thread's own connection to the cache's Redis (same address, database, credentials,
    timeouts), made once.

    Through redis-py's client each call also goes through the pool, retries and instrumentation:
    measured inside requests, ~2x the CPU of a bare send and read on a kept connection.
    """
    owner, connection = getattr(_connections, "current", (None, None))
    if owner is not backend._cache:
        pool = backend._cache.get_client(write=True).connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)
        _connections.current = (backend._cache, connection)
    return connection


class _Sent(NamedTuple):
    """A count sent to Redis whose answer is still to be read on `connection`."""

    connection: Connection
    windows: dict[str, int]  # cache key -> window seconds
    arguments: tuple
    now: float


def _send_count(backend: RedisCache, windows: dict[str, int], now: float) -> _Sent:
    # Django's cache API would need add, incr (itself EXISTS + INCR) and a second key for the
    # window's end, per budget: 4 round trips each where the script takes one for all.
    # The keys are ours (no validation needed) and hiredis packs the command in one C call:
    # together ~25 us less per request than make_and_validate_key and send_command.
    keys = [backend.make_key(key) for key in windows]
    arguments = (len(keys), *keys, *(seconds * 1000 for seconds in windows.values()))
    connection = _redis_connection(backend)
    if getattr(connection, "budget_answer_due", False):
        # A request that sent its count ahead ended without reading the answer (it always should):
        # a new connection rather than that stale answer for this request.
        connection.disconnect()
    try:
        connection.send_packed_command([pack_command(("EVALSHA", COUNT_HITS_SHA, *arguments))])
    except Exception:
        connection.disconnect()
        raise
    connection.budget_answer_due = True
    return _Sent(connection, windows, arguments, now)


def _read_count(sent: _Sent) -> dict[str, tuple[int, float]]:
    connection = sent.connection
    try:
        try:
            answers = connection.read_response()
        except NoScriptError:
            # First call on this Redis (or after a restart): EVAL sends the script and caches it.
            connection.send_packed_command([pack_command(("EVAL", COUNT_HITS_LUA, *sent.arguments))])
            answers = connection.read_response()
    except Exception:
        # The next call connects afresh instead of reading a half-finished answer.
        connection.disconnect()
        raise
    connection.budget_answer_due = False
    now = sent.now
    return {
        key: (count, now + ttl_ms / 1000) for key, (count, ttl_ms) in zip(sent.windows, answers, strict=True)
    }


def _take_back(sent: _Sent) -> None:
    """Undo a count whose request turned out not to count (its answer not read yet)."""
    connection = sent.connection
    try:
        try:
            connection.read_response()
        except NoScriptError:
            # Redis did not know the script: nothing was counted.
            connection.budget_answer_due = False
            return
        keys = sent.arguments[1 : 1 + sent.arguments[0]]
        connection.send_packed_command([pack_command(("DECR", key)) for key in keys])
        for _ in keys:
            connection.read_response()
        connection.budget_answer_due = False
    except Exception:
        connection.disconnect()
        raise


def _count_hit_generic(backend, key: str, duration: int, now: float) -> tuple[int, float]:
    # Any other cache (local memory by default): add and incr are atomic in each backend.
    reset_key = f"{key}:reset"
    if backend.add(key, 0, duration):
        backend.set(reset_key, now + duration, duration)
    try:
        count = backend.incr(key)
    except ValueError:
        # Expired between add and incr: this request opens the next window.
        backend.set(key, 1, duration)
        backend.set(reset_key, now + duration, duration)
        return 1, now + duration
    return count, backend.get(reset_key, now + duration)


class _CacheBreaker:
    """Per process: after a cache error, skip the cache for CACHE_RETRY_SECONDS."""

    down_until = 0.0

    @classmethod
    def skipping(cls) -> bool:
        return time.monotonic() < cls.down_until

    @classmethod
    def trip(cls) -> None:
        cls.down_until = time.monotonic() + CACHE_RETRY_SECONDS
        logger.warning(
            "fair-use budgets: cache unavailable, requests allowed uncounted for %ss",
            CACHE_RETRY_SECONDS,
            exc_info=True,
        )


# Where a count sent ahead waits to be read, on the Django request.
SENT_ATTRIBUTE = "_budgets_sent"


def count_ahead(request, user_id: int) -> None:
    """Send the count of the request's budgets for `user_id` (from a verified token) without
    waiting for the answer: the authentication calls this before it reads the user's row, so
    the two round trips overlap. `_counted` reads the answer; `take_back` undoes it if the
    credentials fail. Only on Redis; any other cache counts when the throttles ask."""
    backend = caches["default"]
    view = request.parser_context.get("view")
    if not isinstance(backend, RedisCache) or view is None or _CacheBreaker.skipping():
        return
    windows = _windows(view, request, user_id)
    if not windows:
        return
    try:
        sent = _send_count(backend, {key: seconds for key, _, seconds in windows.values()}, time.time())
    except Exception:
        _CacheBreaker.trip()
        return
    setattr(request._request, SENT_ATTRIBUTE, (sent, windows))


def take_back(http_request) -> None:
    """Undo a count sent ahead for a request that does not count after all: its credentials
    failed, its user is staff, or it ended before its throttles ran (the Django request)."""
    if waiting := http_request.__dict__.pop(SENT_ATTRIBUTE, None):
        try:
            _take_back(waiting[0])
        except Exception:
            _CacheBreaker.trip()


def _counted(request, view) -> dict[type, Budget]:
    """Every budget of the request by throttle class, counted once by the first throttle that
    asks: one round trip (or its answer, if the count was sent ahead). The tightest is recorded
    for the headers. Empty for anonymous and staff requests, while every budget the request
    touches is off, and when the cache is unreachable (nothing counted, nothing refused)."""
    http_request = request._request
    try:
        return http_request._budgets_counted
    except AttributeError:
        pass
    counted = http_request._budgets_counted = {}
    user = request.user
    if not user.is_authenticated or user.is_staff:
        # Staff: a count sent ahead (the token named the user, the row said staff) is undone.
        take_back(http_request)
        return counted
    if waiting := http_request.__dict__.pop(SENT_ATTRIBUTE, None):
        sent, windows = waiting
        try:
            hits = _read_count(sent)
        except Exception:
            _CacheBreaker.trip()
            return counted
    else:
        if not (windows := _windows(view, request, user.pk)) or _CacheBreaker.skipping():
            return counted
        try:
            hits = count_hits({key: seconds for key, _, seconds in windows.values()}, time.time())
        except Exception:
            _CacheBreaker.trip()
            return counted
    tightest = None
    for throttle_class, (key, limit, _) in windows.items():
        count, reset = hits[key]
        budget = counted[throttle_class] = Budget(limit, limit - count, reset)
        if tightest is None or budget.tighter_than(tightest):
            tightest = budget
    # On the Django request, where the middleware finds it (DRF's Request wraps it).
    setattr(http_request, REQUEST_ATTRIBUTE, tightest._replace(remaining=max(0, tightest.remaining)))
    return counted


def _windows(view, request, user_id: int) -> dict[type, tuple[str, int, int]]:
    """Throttle class -> (cache key, limit, window seconds) of each budget the request counts
    against that is on."""
    rates = api_settings.DEFAULT_THROTTLE_RATES
    windows = {}
    action = getattr(view, "action", None) or request.method.lower()
    for throttle_class, scope in _scopes(type(view), action):
        if window := _window(rates.get(scope)):
            key = BudgetThrottle.cache_format % {"scope": scope, "ident": user_id}
            windows[throttle_class] = (key, *window)
    return windows


@functools.cache
def _scopes(view_class: type, action: str) -> tuple[tuple[type, str], ...]:
    """(throttle class, scope) of each budget an action of a view class counts against."""
    budgets = [throttle for throttle in view_class.throttle_classes if issubclass(throttle, BudgetThrottle)]
    scoped = ((throttle, throttle.scope_of(view_class, action)) for throttle in budgets)
    return tuple((throttle, scope) for throttle, scope in scoped if scope)


@functools.lru_cache
def _window(rate: str | None) -> tuple[int, int] | None:
    """(requests, window seconds) of a rate, or None when the budget is off. DRF's own parser (it
    reads no instance state), once per rate instead of per request."""
    if rate is None or rate.strip().lower() in OFF:
        return None
    return SimpleRateThrottle.parse_rate(None, rate)


class BudgetThrottle(SimpleRateThrottle):
    """A per-user budget of one scope: a fixed-window counter in the default cache.

    Anonymous requests and staff users are not counted. A subclass names its scope with `scope`,
    or per view and action with `scope_of` (known from the view class, so resolved once).
    """

    cache_format = "budget:%(scope)s:%(ident)s"

    def __init__(self):
        # The rate depends on the scope, which may depend on the view: resolved per request.
        pass

    @classmethod
    def scope_of(cls, view_class: type, action: str) -> str | None:
        return cls.scope

    def allow_request(self, request, view):
        budget = _counted(request, view).get(type(self))
        if budget is None:
            return True
        self.reset = budget.reset
        return budget.remaining >= 0

    def wait(self):
        return max(1, math.ceil(self.reset - self.timer()))


class UserBudget(BudgetThrottle):
    """USER_RATE_LIMIT: every authenticated request."""

    scope = "user"


class ActionBudget(BudgetThrottle):
    """The narrower budget of a write: the view class maps actions to scopes in `throttle_scopes`.

    The key is the viewset action (`create`) or, on a plain APIView, the method (`post`).
    """

    @classmethod
    def scope_of(cls, view_class, action):
        return getattr(view_class, "throttle_scopes", {}).get(action)


class RateLimitHeadersMiddleware:
    """X-RateLimit-Limit, -Remaining and -Reset of the tightest budget the request counted in.

    A count sent ahead that no throttle read (the request ended before its throttles ran, e.g.
    a permission refused) is taken back here: such a request is not counted, as on any cache."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        take_back(request)
        budget = getattr(request, REQUEST_ATTRIBUTE, None)
        if budget is not None:
            response["X-RateLimit-Limit"] = str(budget.limit)
            response["X-RateLimit-Remaining"] = str(budget.remaining)
            response["X-RateLimit-Reset"] = str(math.ceil(budget.reset))
        return response
