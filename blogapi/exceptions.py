from django.db import DataError
from rest_framework import exceptions
from rest_framework.views import exception_handler


def api_exception_handler(exc, context):
    """DRF's handler, plus: values the database cannot store are the client's error (400)."""
    if isinstance(exc, DataError):
        exc = exceptions.ValidationError({"detail": "A value is out of range or malformed."})
    return exception_handler(exc, context)
