from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from . import lockout


class EmailBackend(ModelBackend):
    """ModelBackend that also accepts `email=`, looks users up case-insensitively, and applies the
    per-account brute-force lock (accounts/lockout.py) to every authenticate() call.

    Like ModelBackend it hashes the given password even when no account matches, so an
    unknown email costs the same time as a wrong password. A locked email is refused before
    any hashing: the Refusal is left on the request (`login_refusal`) for the caller's 429,
    and PermissionDenied stops authenticate() from trying another backend.
    """

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        login = username or email or kwargs.get("email")
        if login is None or password is None:
            return None
        try:
            lockout.check_login(login)
        except lockout.Refusal as refusal:
            if request is not None:
                request.login_refusal = refusal
            raise PermissionDenied from refusal
        user = super().authenticate(request, username=login, password=password, **kwargs)
        if user is None:
            lockout.record_login_failure(login)
        return user


def login_refusal(request) -> "lockout.Refusal | None":
    """The Refusal the backend left on this request, if authenticate() was refused."""
    return getattr(request, "login_refusal", None)
