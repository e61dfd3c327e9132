from functools import lru_cache

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import aware_utcnow, get_md5_hash_password

from httpkit import throttling

from . import queries


class BearerAuthentication(JWTAuthentication):
    """JWT bearer tokens; the user row is read on every request, so deactivation bites at once."""

    www_authenticate_realm = "api"

    def authenticate(self, request):
        """simplejwt's authentication, with the request's fair-use count sent while the user's row
        is read (httpkit.throttling.count_ahead): the token names the user before the row does."""
        header = self.get_header(request)
        if header is None:
            return None
        raw_token = self.get_raw_token(header)
        if raw_token is None:
            return None
        validated_token = self.get_validated_token(raw_token)
        throttling.count_ahead(request, self.user_id(validated_token))
        try:
            user = self.get_user(validated_token)
        except (AuthenticationFailed, InvalidToken):
            throttling.take_back(request._request)
            raise
        return user, validated_token

    def get_validated_token(self, raw_token: bytes):
        """simplejwt's validation, done once per token: a signed token's claims never change.

        Its expiry is still checked on every request, and the user row is still read (get_user).
        """
        token = _validated(bytes(raw_token))
        try:
            token.check_exp(current_time=aware_utcnow())
        except TokenError:
            # Expired since it was first seen: simplejwt refuses it with its usual answer.
            return super().get_validated_token(raw_token)
        return token

    def get_user(self, validated_token):
        """simplejwt's checks (the user exists, is active, kept the password) on a plain-SQL read.

        Building the ORM query for the row cost a tenth of a typical request.
        """
        user = queries.user_by_id(self.user_id(validated_token))
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user

    @staticmethod
    def user_id(validated_token) -> int:
        try:
            return int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken(_("Token contained no recognizable user identification")) from exc


@lru_cache(maxsize=4096)
def _validated(raw_token: bytes):
    # Only tokens that pass are remembered: an exception is never cached.
    return JWTAuthentication().get_validated_token(raw_token)
