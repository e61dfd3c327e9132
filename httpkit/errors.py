"""Every error answer the API gives outside a view's own validation, in DRF's shape.

- 400/413 for what the client sent wrong (DRF's exception handler, extended);
- 400/404/500 for requests that never reach a DRF view (Django's handlers: API paths get JSON,
  everything else Django's HTML pages);
- 503 while the database is unreachable (a middleware for views, the 500 handler for the rest);
- the serializers that describe these bodies in the OpenAPI schema.
"""

import logging
import sys

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DataError, InterfaceError, OperationalError, connections
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

UNAVAILABLE = "The service is temporarily unavailable; please retry shortly."
DATABASE_DOWN = (OperationalError, InterfaceError)


# Bodies


class DetailSerializer(serializers.Serializer):
    """`{detail}`: a message, for successes that only say what happened and for errors."""

    detail = serializers.CharField()


# Every `code` a 401 body can carry: simplejwt's (and accounts.authentication's) rejections of a
# bearer token. httpkit/tests/test_openapi.py checks the list against their sources.
TOKEN_REJECTION_CODES = [
    "token_not_valid",
    "bad_authorization_header",
    "user_not_found",
    "user_inactive",
    "password_changed",
]


class TokenMessageSerializer(serializers.Serializer):
    token_class = serializers.CharField(help_text="e.g. `AccessToken`")
    token_type = serializers.CharField(help_text="e.g. `access`")
    message = serializers.CharField()


class ErrorSerializer(DetailSerializer):
    """DRF's body for every error that is not about particular fields."""

    code = serializers.ChoiceField(
        choices=TOKEN_REJECTION_CODES, required=False, help_text="On a rejected token: why."
    )
    messages = TokenMessageSerializer(
        many=True, required=False, help_text="On a rejected token: why each token type refused it."
    )


# OAuth2's `error` codes the token endpoint answers with (RFC 6749, section 5.2).
OAUTH2_ERRORS = ["invalid_grant"]


class OAuth2ErrorSerializer(DetailSerializer):
    """The token endpoint's refusal: `{detail}`, with OAuth2's `error` and `error_description`."""

    error = serializers.ChoiceField(choices=OAUTH2_ERRORS)
    error_description = serializers.CharField()


class FieldErrorsSerializer(serializers.Serializer):
    """DRF's field errors: `{field: [message, ...]}` (described in httpkit.openapi)."""


class ValidationErrorSerializer(serializers.Serializer):
    """A 400: field errors, or `{detail}` for a body that cannot be parsed (httpkit.openapi)."""


# 400 and 413 from DRF views


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the server accepts."
    default_code = "request_too_large"


class BadValue(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "A value is out of range or malformed."
    default_code = "invalid"


def api_exception_handler(exc, context):
    """DRF's handler, plus: what the client sent wrong is a 4xx in DRF's shape, never a 500.

    Values the database cannot store are a 400; Django's refusals of oversize, overfull or
    file-carrying bodies (raised while DRF parses) are a 413 or a 400 instead of HTML pages.
    """
    if isinstance(exc, DataError):
        exc = BadValue()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError("The request has too many fields.")
    elif isinstance(exc, TooManyFilesSent):
        exc = exceptions.ParseError("File uploads are not accepted.")
    return exception_handler(exc, context)


# 503 while the database is unreachable


def database_unavailable(exception: Exception) -> JsonResponse:
    """The 503 for a lost database; drops broken connections so the next request reconnects."""
    logger.error("database unavailable: %s", (str(exception).strip().splitlines() or ["?"])[0])
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
    response = JsonResponse({"detail": UNAVAILABLE}, status=503)
    response["Retry-After"] = "5"
    return response


class DatabaseUnavailableMiddleware:
    """Answer 503 `{detail}` (no traceback) for any view that finds the database unreachable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_DOWN):
            return None
        return database_unavailable(exception)


# Django's handlers for requests that never reach a DRF view (blogapi/urls.py)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request, exception):
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    # Django calls this while handling the exception: a database lost outside any view (in a
    # middleware, say) is still the 503 that the middleware gives for views.
    exception = sys.exc_info()[1]
    if isinstance(exception, DATABASE_DOWN):
        return database_unavailable(exception)
    if _is_api(request):
        return JsonResponse({"detail": "A server error occurred."}, status=500)
    return defaults.server_error(request)
