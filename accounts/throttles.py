import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from . import lockout

logger = logging.getLogger(__name__)

IP_LIMITED = "Too many attempts from this address; try again later."


class AuthRateThrottle(SimpleRateThrottle):
    """Per client IP limit on the unauthenticated account endpoints, kept in the shared cache.

    If the cache cannot be reached the request is let through (and logged) rather than failing.
    """

    scope = "auth"
    refusal: "lockout.Refusal | None" = None

    def get_rate(self):
        rate = settings.AUTH_THROTTLE_RATE
        return None if rate.lower() in ("", "off", "none") else rate

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view):
        try:
            allowed = super().allow_request(request, view)
        except Exception:
            logger.warning("auth throttle cache unavailable; request allowed", exc_info=True)
            return True
        if not allowed:
            self.refusal = lockout.refuse("ip_throttled", self.wait() or 1, detail=IP_LIMITED)
        return allowed
