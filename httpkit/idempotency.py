"""Idempotency-Key: a client may retry a write it got no answer for without writing twice.

`@idempotent("posts")` on a view's handler makes it take the header (API.md, Idempotent
retries). The first request with a key runs in one transaction that also claims the key and
records the answer (idempotency/queries.py): a crash or a lost database leaves neither the
write nor the key, and a committed write always has its answer kept. Repeats get the kept
answer; a 5xx is rolled back with the claim, so a retry after it runs again.

Everywhere else in the API the header is a 400 (IdempotencyKeyScopeMiddleware): a key that
was silently ignored would let a client believe its retry was safe.
"""

import hashlib
import re
from datetime import timedelta
from functools import wraps

import orjson
from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from idempotency import queries

HEADER = "Idempotency-Key"
META_NAME = "HTTP_IDEMPOTENCY_KEY"
# On a kept answer given again, so a client (and a log) can tell a replay from a fresh run.
REPLAYED_HEADER = "Idempotent-Replayed"
# 1-255 visible ASCII characters (RFC 5234 VCHAR): no spaces, no control characters.
KEY_PATTERN = r"^[!-~]{1,255}$"
_valid_key = re.compile(KEY_PATTERN).fullmatch
_fallback = JSONEncoder()


class InvalidKey(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = f"{HEADER} must be 1-255 visible ASCII characters (no spaces or control characters)."
    default_code = "invalid_idempotency_key"


class KeyInUse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = f"A request with this {HEADER} is still being processed; retry shortly."
    default_code = "idempotency_key_in_use"
    # DRF's exception handler turns `wait` into a Retry-After header.
    wait = 1


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = f"This {HEADER} was already used with a different request body."
    default_code = "idempotency_key_reused"


KEY_NOT_ACCEPTED = f"{HEADER} is only accepted on POST /api/v1/posts/ and POST /api/v1/votes/."


def idempotent(endpoint: str):
    """Let the decorated handler take an Idempotency-Key; `endpoint` names it in the key's scope."""

    def decorate(handler):
        @wraps(handler)
        def keyed(view, request, *args, **kwargs):
            key = request.META.get(META_NAME)
            if key is None:
                return handler(view, request, *args, **kwargs)
            if not _valid_key(key):
                raise InvalidKey
            if settings.IDEMPOTENCY_KEY_HOURS <= 0:
                # Switched off: the key is checked, then the request runs as if it had none.
                return handler(view, request, *args, **kwargs)
            return _answer_once(view, request, handler, args, kwargs, endpoint=endpoint, key=key)

        keyed.takes_idempotency_key = True
        return keyed

    return decorate


def takes_idempotency_key(handler) -> bool:
    return getattr(handler, "takes_idempotency_key", False)


def _answer_once(view, request, handler, args, kwargs, *, endpoint: str, key: str) -> Response:
    user_id = request.user.pk
    fingerprint = body_fingerprint(request.data)
    now = timezone.now()
    with transaction.atomic():
        claim_id = queries.claim(
            lock_id=_lock_id(user_id, endpoint, key),
            user_id=user_id,
            endpoint=endpoint,
            key=key,
            fingerprint=fingerprint,
            now=now,
            expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS),
        )
        if claim_id is not None:
            response = _run(view, request, handler, args, kwargs)
            if response.status_code >= 500:
                transaction.set_rollback(True)
            else:
                body = orjson.dumps(response.data, default=_fallback.default).decode()
                queries.answer(claim_id=claim_id, status=response.status_code, body=body)
            return response
        kept = queries.kept(user_id=user_id, endpoint=endpoint, key=key, now=now)
    if kept is None:
        raise KeyInUse
    if kept.fingerprint != fingerprint:
        raise KeyReused
    response = Response(orjson.loads(kept.body), status=kept.status)
    response[REPLAYED_HEADER] = "true"
    return response


def _run(view, request, handler, args, kwargs) -> Response:
    """The handler's answer, its API errors (404, 409, ...) included, inside the transaction."""
    try:
        return handler(view, request, *args, **kwargs)
    except Exception as exc:  # handle_exception re-raises what is not an API error
        return view.handle_exception(exc)


def body_fingerprint(data) -> str:
    """SHA-256 of the parsed body in a canonical form: key order and spacing do not matter."""
    if hasattr(data, "lists"):  # a QueryDict, from a form
        data = dict(data.lists())
    canonical = orjson.dumps(data, default=_fallback.default, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _lock_id(user_id: int, endpoint: str, key: str) -> int:
    digest = hashlib.sha256(f"{user_id}\0{endpoint}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class IdempotencyKeyScopeMiddleware:
    """400 for an Idempotency-Key sent to an API operation that does not take one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if META_NAME not in request.META:
            return None
        view_class = getattr(view_func, "cls", None)
        if view_class is None:  # not a DRF view: the admin, health probes, static files
            return None
        method = request.method.lower()
        actions = getattr(view_func, "actions", None)  # a viewset: which action serves the method
        name = actions.get(method) if actions is not None else method
        if name and takes_idempotency_key(getattr(view_class, name, None)):
            return None
        return JsonResponse({"detail": KEY_NOT_ACCEPTED}, status=400)
