"""The request id: one per request, in the `X-Request-ID` response header and in every log record.

A client's (or the Ingress controller's) own id is kept when it is sane; anything else is replaced,
so a hostile header never reaches a log line. The id lives in a context variable while the request
is served; `RequestIdLogFilter` copies it onto each log record, and background tasks take it as an
argument and bind it again where they run.
"""

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
MAX_LENGTH = 128
_SANE = re.compile(r"[A-Za-z0-9._:-]+")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_or_make(offered: str | None) -> str:
    """The client's id when it is 1-128 letters, digits, `-`, `_`, `.` or `:`; else 32 random hex digits."""
    if offered and len(offered) <= MAX_LENGTH and _SANE.fullmatch(offered):
        return offered
    # As random as a uuid4 and a quarter of its cost on the request path.
    return os.urandom(16).hex()


def current() -> str | None:
    """The id of the request (or task) being served in this context, None outside one."""
    return _current.get()


@contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Make `request_id` the current one for the block (a background task runs in one)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


class RequestIdLogFilter(logging.Filter):
    """Adds `request_id` to every record the handler emits (`missing` outside a request)."""

    def __init__(self, missing: str | None = None):
        super().__init__()
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or self.missing
        return True
