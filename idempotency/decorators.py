"""`@idempotent("posts")`: a view's handler takes an Idempotency-Key (docs/retries.md).

The first request with a key runs in one transaction that also claims the key and records the
answer (queries.py): a crash or a lost database leaves neither the write nor the key, and a
committed write always has its answer kept. Repeats get the kept answer; a 5xx is rolled back
with the claim, so a retry after it runs again. A handler whose one write is a new row
(`writes_one_row`) needs no transaction on PostgreSQL: the row's INSERT keeps the answer
itself (writes.py). The header's syntax and its error answers are HTTP matters, in
httpkit/idempotency.py.
"""

import hashlib
import re
from datetime import timedelta
from functools import wraps

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.response import Response

from httpkit.idempotency import (
    KEY_PATTERN,
    META_NAME,
    REPLAYED_HEADER,
    InvalidKey,
    KeyInUse,
    KeyReused,
    mark_takes_idempotency_key,
)

from . import queries, writes

_valid_key = re.compile(KEY_PATTERN).fullmatch


def idempotent(endpoint: str, *, writes_one_row: bool = False):
    """Let the decorated handler take an Idempotency-Key; `endpoint` names it in the key's scope.

    `writes_one_row`: the handler's only write is one new row, saved with `writes.save_new`.
    """

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
            keeping = _keeping(request, endpoint, key)
            if writes_one_row and connection.vendor == "postgresql":
                return _answer_in_the_write(view, request, handler, args, kwargs, keeping)
            return _answer_once(view, request, handler, args, kwargs, keeping)

        mark_takes_idempotency_key(keyed)
        return keyed

    return decorate


def _keeping(request, endpoint: str, key: str) -> queries.Keeping:
    now = timezone.now()
    return queries.Keeping(
        user_id=request.user.pk,
        endpoint=endpoint,
        key=key,
        fingerprint=body_fingerprint(request.data),
        now=now,
        expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS),
    )


def _answer_once(view, request, handler, args, kwargs, keeping: queries.Keeping) -> Response:
    with transaction.atomic():
        claim_id = queries.claim(keeping, lock_id=_lock_id(keeping.user_id, keeping.endpoint, keeping.key))
        if claim_id is not None:
            response = _run(view, request, handler, args, kwargs)
            if response.status_code >= 500:
                transaction.set_rollback(True)
            else:
                body = writes.encode_answer(response.data)
                queries.answer(claim_id=claim_id, status=response.status_code, body=body)
            return response
        return _kept_answer(keeping)


def _answer_in_the_write(
    view, request, handler, args, kwargs, keeping: queries.Keeping, *, again: bool = False
) -> Response:
    """The handler's new row keeps the answer in its own INSERT; a kept key fails that INSERT.

    No claim comes first, so no repeat ever finds this one "still running": a repeat that
    reaches the database while the first's INSERT is in flight waits the moment it takes and
    then gets its answer. An answer without a write (a 4xx) is kept on its own.
    """
    pending = writes.Pending(keeping)
    setattr(request, writes.PENDING, pending)
    try:
        response = _run(view, request, handler, args, kwargs)
    except IntegrityError as error:
        if not queries.key_taken(error):
            raise
        response = None
    finally:
        delattr(request, writes.PENDING)
    if response is None:  # the key is kept already
        kept = queries.kept(keeping)
        if kept is None and not again and queries.drop_expired(keeping):
            # Its answer had expired: this request is a new one.
            return _answer_in_the_write(view, request, handler, args, kwargs, keeping, again=True)
        return _replay(kept, keeping)
    if pending.kept or response.status_code >= 500:
        return response
    if queries.keep(keeping, response.status_code, writes.encode_answer(response.data)):
        return response
    return _kept_answer(keeping)


def _kept_answer(keeping: queries.Keeping) -> Response:
    return _replay(queries.kept(keeping), keeping)


def _replay(kept: queries.Kept | None, keeping: queries.Keeping) -> Response:
    """The kept answer given again; 409 while the request holding the key is still running."""
    if kept is None:
        raise KeyInUse
    if kept.fingerprint != keeping.fingerprint:
        raise KeyReused
    response = Response(orjson.loads(kept.body), status=kept.status)
    response[REPLAYED_HEADER] = "true"
    return response


def _run(view, request, handler, args, kwargs) -> Response:
    """The handler's answer, its API errors (404, 409, ...) included (inside the transaction, if any)."""
    try:
        return handler(view, request, *args, **kwargs)
    except Exception as exc:  # handle_exception re-raises what is not an API error
        return view.handle_exception(exc)


def body_fingerprint(data) -> str:
    """SHA-256 of the parsed body in a canonical form: key order and spacing do not matter."""
    if hasattr(data, "lists"):  # a QueryDict, from a form
        data = dict(data.lists())
    canonical = orjson.dumps(data, default=writes.encode_other, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _lock_id(user_id: int, endpoint: str, key: str) -> int:
    digest = hashlib.sha256(f"{user_id}\0{endpoint}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
