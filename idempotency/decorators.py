"""`@idempotent("posts")`: a view's handler takes an Idempotency-Key (docs/retries.md).

The first request with a key runs in one transaction that also claims the key and records the
answer (queries.py): a crash or a lost database leaves neither the write nor the key, and a
committed write always has its answer kept. Repeats get the kept answer; a 5xx is rolled back
with the claim, so a retry after it runs again. The header's syntax and its error answers are
HTTP matters, in httpkit/idempotency.py.
"""

import hashlib
import re
from datetime import timedelta
from functools import wraps

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from httpkit.idempotency import (
    KEY_PATTERN,
    META_NAME,
    REPLAYED_HEADER,
    InvalidKey,
    KeyInUse,
    KeyReused,
    mark_takes_idempotency_key,
)

from . import queries

_valid_key = re.compile(KEY_PATTERN).fullmatch
_fallback = JSONEncoder()


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

        mark_takes_idempotency_key(keyed)
        return keyed

    return decorate


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
