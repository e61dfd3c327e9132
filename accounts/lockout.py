"""The brute-force policy of every password check, and the reset lock of recovery codes.

Per account (API.md, "Brute-force limits"): after LOGIN_FAILURE_LIMIT failed password checks
for one submitted email within LOGIN_FAILURE_WINDOW_MINUTES, every check for that email is
refused (the right password included) until enough of those failures have left the sliding
window. Failures are rows of AuthFailure in the database, so every instance sees the same
count whatever CACHE_URL is; refused checks are not failures, so a lock ends when the window
has passed. Resets: after RESET_FAILURE_LIMIT wrong codes for one account within 24 hours,
resets of that account are refused for 24 hours from the last of them.

Every refusal (these and the per-IP AUTH_THROTTLE_RATE) goes through `refuse()`.
"""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import AuthFailure

RESET_WINDOW = timedelta(hours=24)
LOCKED = "Too many failed attempts for this account; try again later."


class Refusal(Exception):
    """A check refused before it ran: `kind` says which limit, `retry_after` when to come back (s)."""

    def __init__(self, *, kind: str, retry_after: int, detail: str = LOCKED):
        super().__init__(detail)
        self.kind, self.retry_after, self.detail = kind, retry_after, detail


def refuse(kind: str, retry_after: float, detail: str = LOCKED) -> Refusal:
    """The one place every brute-force refusal passes (account locks and the per-IP limit)."""
    return Refusal(kind=kind, retry_after=max(1, math.ceil(retry_after)), detail=detail)


def login_key(email: str) -> str:
    # Keyed, so the table does not list who tried which address.
    return salted_hmac("accounts.lockout.login", email.strip().lower(), algorithm="sha256").hexdigest()


def _reset_key(user_id: int) -> str:
    return salted_hmac("accounts.lockout.reset", str(user_id), algorithm="sha256").hexdigest()


def _latest_failures(scope: str, key: str, *, since: datetime, limit: int) -> list[datetime]:
    return list(
        AuthFailure.objects.filter(scope=scope, key=key, failed_at__gt=since)
        .order_by("-failed_at")
        .values_list("failed_at", flat=True)[:limit]
    )


def check_login(email: str) -> None:
    """Raise a Refusal while the email is locked: the LOGIN_FAILURE_LIMIT-th latest failure is
    still inside the window, and the check may run again once it has left."""
    limit = settings.LOGIN_FAILURE_LIMIT
    window = timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    now = timezone.now()
    failures = _latest_failures(AuthFailure.Scope.LOGIN, login_key(email), since=now - window, limit=limit)
    if len(failures) >= limit:
        raise refuse("login_locked", (failures[-1] + window - now).total_seconds())


def record_login_failure(email: str) -> None:
    AuthFailure.objects.create(scope=AuthFailure.Scope.LOGIN, key=login_key(email))


def lift_login_lock(email: str) -> None:
    """A successful password reset: the account's failures are forgotten."""
    AuthFailure.objects.filter(scope=AuthFailure.Scope.LOGIN, key=login_key(email)).delete()


def reset_locked(user_id: int) -> bool:
    """RESET_FAILURE_LIMIT wrong codes within 24 hours, the last of them under 24 hours ago."""
    limit = settings.RESET_FAILURE_LIMIT
    now = timezone.now()
    failures = _latest_failures(
        AuthFailure.Scope.RESET, _reset_key(user_id), since=now - 2 * RESET_WINDOW, limit=limit
    )
    return (
        len(failures) >= limit
        and failures[0] > now - RESET_WINDOW
        and failures[0] - failures[-1] < RESET_WINDOW
    )


def record_reset_failure(user_id: int) -> None:
    AuthFailure.objects.create(scope=AuthFailure.Scope.RESET, key=_reset_key(user_id))


def expired_failures(*, now: datetime | None = None) -> QuerySet:
    """Failures that no window can count any more (purge_expired_credentials deletes them)."""
    now = now or timezone.now()
    login_window = timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    return AuthFailure.objects.filter(
        Q(scope=AuthFailure.Scope.LOGIN, failed_at__lte=now - login_window)
        | Q(scope=AuthFailure.Scope.RESET, failed_at__lte=now - 2 * RESET_WINDOW)
    )
