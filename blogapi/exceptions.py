from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DataError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler


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
