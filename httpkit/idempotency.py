"""The Idempotency-Key header at the HTTP level (docs/api.md, Idempotent retries).

What any view needs to know about the header, with no model behind it: its syntax, the error
answers about it, the mark on a handler that takes one (set by `idempotency.decorators.idempotent`,
read here and by the OpenAPI schema), and the middleware that refuses a key everywhere else:
a key that was silently ignored would let a client believe its retry was safe.
"""

from django.http import JsonResponse
from rest_framework import exceptions, status

HEADER = "Idempotency-Key"
META_NAME = "HTTP_IDEMPOTENCY_KEY"
# On a kept answer given again, so a client (and a log) can tell a replay from a fresh run.
REPLAYED_HEADER = "Idempotent-Replayed"
# 1-255 visible ASCII characters (RFC 5234 VCHAR): no spaces, no control characters.
KEY_PATTERN = r"^[!-~]{1,255}$"
KEY_NOT_ACCEPTED = f"{HEADER} is only accepted on POST /api/v1/posts/ and POST /api/v1/votes/."
_MARK = "takes_idempotency_key"


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


def mark_takes_idempotency_key(handler) -> None:
    setattr(handler, _MARK, True)


def takes_idempotency_key(handler) -> bool:
    return getattr(handler, _MARK, False)


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
