import logging

from django.db import InterfaceError, OperationalError, connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)

UNAVAILABLE = "The service is temporarily unavailable; please retry shortly."


class DatabaseUnavailableMiddleware:
    """Answer 503 `{detail}` (no traceback) for any view that finds the database unreachable.

    The broken connection is dropped, so the next request connects afresh once the database
    is back.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_DOWN):
            return None
        return database_unavailable(exception)


DATABASE_DOWN = (OperationalError, InterfaceError)


def database_unavailable(exception: Exception) -> JsonResponse:
    """The 503 for a lost database; drops broken connections so the next request reconnects."""
    logger.error("database unavailable: %s", (str(exception).strip().splitlines() or ["?"])[0])
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
    response = JsonResponse({"detail": UNAVAILABLE}, status=503)
    response["Retry-After"] = "5"
    return response
