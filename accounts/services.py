import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from .models import RecoveryCode, User

logger = logging.getLogger(__name__)


class InvalidCredentials(Exception):
    """Unknown email, wrong password or deactivated account: callers cannot tell which."""


class InvalidRefreshToken(Exception):
    """A refresh token that is malformed, expired, spent, revoked or not the caller's."""


class EmailTaken(Exception):
    pass


class InvalidRecoveryCode(Exception):
    """Wrong, expired, spent or voided code, or no such account: callers cannot tell which."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


def user_create(*, email: str, password: str) -> User:
    """Register an account; the Lower(email) unique index settles concurrent sign-ups."""
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password)
    except IntegrityError as exc:
        raise EmailTaken from exc


def tokens_issue(*, user: User) -> TokenPair:
    """A fresh refresh token (recorded as outstanding, so it can be revoked) and its access token."""
    refresh = RefreshToken.for_user(user)
    return TokenPair(
        access_token=str(refresh.access_token),
        refresh_token=str(refresh),
        expires_in=int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def tokens_obtain(*, request, login: str, password: str) -> TokenPair:
    """Password login; ModelBackend hashes even for unknown emails, so timing tells nothing."""
    user = authenticate(request, username=login, password=password)
    if user is None:
        raise InvalidCredentials
    return tokens_issue(user=user)


def _parse_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise InvalidRefreshToken from exc


@transaction.atomic
def tokens_refresh(*, raw_refresh: str) -> TokenPair:
    """Rotate: spend the given refresh token and issue a new pair.

    The outstanding-token row is locked, so two concurrent refreshes with one token cannot
    both succeed.
    """
    refresh = _parse_refresh(raw_refresh)
    outstanding = (
        OutstandingToken.objects.select_for_update(of=("self",))
        .filter(jti=refresh[jwt_settings.JTI_CLAIM])
        .first()
    )
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise InvalidRefreshToken
    user = User.objects.filter(pk=refresh[jwt_settings.USER_ID_CLAIM], is_active=True).first()
    if user is None or not _password_unchanged(refresh, user):
        raise InvalidRefreshToken
    BlacklistedToken.objects.create(token=outstanding)
    return tokens_issue(user=user)


def _password_unchanged(token: RefreshToken, user: User) -> bool:
    claim = token.get(jwt_settings.REVOKE_TOKEN_CLAIM)
    return claim is None or claim == get_md5_hash_password(user.password)


def token_revoke(*, user: User, raw_refresh: str) -> None:
    """Logout: the refresh token, which must be the caller's own, stops working."""
    refresh = _parse_refresh(raw_refresh)
    if str(refresh.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
        raise InvalidRefreshToken
    refresh.blacklist()


def user_revoke_all_tokens(*, user: User) -> int:
    """Blacklist every refresh token the user still holds (after a password reset)."""
    pending = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=token) for token in pending]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _recovery_code_hash(*, user_id: int, code: str) -> str:
    # Keyed with SECRET_KEY: a leaked table alone does not let anyone try the million codes offline.
    return salted_hmac("accounts.RecoveryCode", f"{user_id}:{code}", algorithm="sha256").hexdigest()


@transaction.atomic
def recovery_code_issue(*, email: str) -> tuple[User, str] | None:
    """Give an active account a fresh code and void its older ones; the user row lock orders requests.

    Returns the user and the plain code (to be mailed, never stored), or None when no active
    account has that email.
    """
    user = User.objects.select_for_update().filter(email__lower=email.lower(), is_active=True).first()
    if user is None:
        return None
    RecoveryCode.objects.filter(user=user, state=RecoveryCode.State.ACTIVE).update(
        state=RecoveryCode.State.VOIDED
    )
    code = f"{secrets.randbelow(10**6):06d}"
    RecoveryCode.objects.create(
        user=user,
        code_hash=_recovery_code_hash(user_id=user.pk, code=code),
        expires_at=timezone.now() + timedelta(minutes=settings.PASSWORD_RESET_CODE_MINUTES),
    )
    return user, code


def password_reset(*, email: str, code: str, new_password: str) -> User:
    """Redeem a recovery code for a new password; a wrong code uses up one of the code's tries.

    The code row is locked while it is checked, so concurrent guesses cannot exceed the limit.
    """
    with transaction.atomic():
        user = User.objects.filter(email__lower=email.lower(), is_active=True).first()
        recovery = (
            RecoveryCode.objects.select_for_update().usable().filter(user=user).first() if user else None
        )
        if recovery is not None:
            if constant_time_compare(recovery.code_hash, _recovery_code_hash(user_id=user.pk, code=code)):
                recovery.state = RecoveryCode.State.SPENT
                recovery.save(update_fields=["state"])
                user.set_password(new_password)
                user.save(update_fields=["password"])
                user_revoke_all_tokens(user=user)
                logger.info("password reset by recovery code for user %s", user.pk)
                return user
            recovery.attempts += 1
            if recovery.attempts >= RecoveryCode.MAX_ATTEMPTS:
                recovery.state = RecoveryCode.State.VOIDED
            recovery.save(update_fields=["attempts", "state"])
    # Raised after the block so the counted try is committed.
    raise InvalidRecoveryCode
