"""The brute-force policy on the HTML login pages (/api-auth/login/ and /admin/login/).

Both are Django's LoginView; their password check is authenticate(), which applies the
per-account lock (accounts/backends.py). This wrapper adds the per-IP AUTH_THROTTLE_RATE to
their form posts and turns either refusal into a readable 429 page with Retry-After.
"""

from functools import wraps

from django.shortcuts import render

from .backends import login_refusal
from .lockout import Refusal
from .throttles import AuthRateThrottle


def refusal_page(request, refusal: Refusal):
    minutes, seconds = divmod(refusal.retry_after, 60)
    response = render(
        request,
        "accounts/login_refused.html",
        {"detail": refusal.detail, "minutes": minutes, "seconds": seconds, "login_path": request.path},
        status=429,
    )
    response["Retry-After"] = str(refusal.retry_after)
    return response


def guarded_login(view):
    """`view` (a login page) with the per-IP limit on its posts and the 429 page for refusals."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if request.method == "POST":
            throttle = AuthRateThrottle()
            if not throttle.allow_request(request, None):
                return refusal_page(request, throttle.refusal)
        response = view(request, *args, **kwargs)
        refusal = login_refusal(request)
        return response if refusal is None else refusal_page(request, refusal)

    return guarded
