from rest_framework_simplejwt.authentication import JWTAuthentication


class BearerAuthentication(JWTAuthentication):
    """JWT bearer tokens; the user row is read on every request, so deactivation bites at once."""

    www_authenticate_realm = "api"
