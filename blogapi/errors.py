"""Django's error pages for requests that never reach a DRF view (no URL matched, a host or
header Django refused): API paths get DRF's `{detail}` JSON, everything else Django's HTML."""

import sys

from django.http import JsonResponse
from django.views import defaults

from .middleware import DATABASE_DOWN, database_unavailable


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
