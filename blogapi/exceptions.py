from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.db import DataError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def api_exception_handler(exc, context):
    """DRF's handler, plus: values the database cannot store are the client's error (400), and
    bodies Django refuses to read (too large, or carrying files) get DRF's shape too."""
    if isinstance(exc, DataError):
        exc = exceptions.ValidationError({"detail": "A value is out of range or malformed."})
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, TooManyFilesSent):
        exc = exceptions.ParseError("File uploads are not accepted.")
    return exception_handler(exc, context)
