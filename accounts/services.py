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

from . import lockout
from .backends import login_refusal
from .models import RecoveryCode, User

logger = logging.getLogger(__name__)


class InvalidCredentials(Exception):
    """Unknown email, wrong password or deactivated account: callers cannot tell which."""


class InvalidRefreshToken(Exception):
    """A refresh token that is malformed, expired, spent, revoked or not the caller's."""


class EmailTaken(Exception):
    pass


class UsernameTaken(Exception):
    pass


class WrongPassword(Exception):
    """The password given to confirm a change is not the account's."""


class InvalidRecoveryCode(Exception):
    """Wrong, expired, spent or voided code, or no such account: callers cannot tell which."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


USERNAME_ATTEMPTS = 5
EMAIL_INDEX = "accounts_user_email_ci_unique"


def user_create(*, email: str, password: str, username: str = "") -> User:
    """Register an account; the Lower(email) and Lower(username) unique indexes settle races.

    A username made from the email that another sign-up took meanwhile is made again.
    """
    for _ in range(USERNAME_ATTEMPTS):
        try:
            with transaction.atomic():
                return User.objects.create_user(email=email, password=password, username=username)
        except IntegrityError as exc:
            # PostgreSQL and SQLite both name the index that refused the row.
            if EMAIL_INDEX in str(exc):
                raise EmailTaken from exc
            if username:
                raise UsernameTaken from exc
    raise UsernameTaken


def user_rename(*, user: User, username: str) -> User:
    """Set a new username; the unique index decides between two users asking for the same one."""
    user.username = username
    try:
        with transaction.atomic():
            user.save(update_fields=["username"])
    except IntegrityError as exc:
        user.refresh_from_db(fields=["username"])
        raise UsernameTaken from exc
    return user


def password_verify(*, user: User, password: str) -> None:
    """A password check outside authenticate(), under the same brute-force lock (lockout.py).

    Raises lockout.Refusal while the account is locked, WrongPassword (counted) when it fails.
    """
    lockout.check_login(user.email)
    if not user.check_password(password):
        lockout.record_login_failure(user.email)
        raise WrongPassword


def password_change(*, user: User, current_password: str, new_password: str) -> TokenPair:
    """Set a new password; every token issued before stops working, the caller gets a new pair."""
    password_verify(user=user, password=current_password)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        tokens_revoke_all(user_id=user.pk)
    logger.info("password changed by user %s", user.pk)
    return tokens_issue(user=user)


def user_delete(*, user: User, password: str) -> None:
    """Delete the account with everything it owns; vote-count triggers keep other posts' tallies."""
    password_verify(user=user, password=password)
    user_id = user.pk
    with transaction.atomic():
        # simplejwt keeps token rows of deleted users (SET_NULL); these go with the account.
        OutstandingToken.objects.filter(user_id=user_id).delete()
        user.delete()
    logger.info("account %s deleted by its user", user_id)


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
        refusal = login_refusal(request)
        if refusal is not None:
            raise refusal
        raise InvalidCredentials
    return tokens_issue(user=user)


class _SpentOrNotRefreshToken(RefreshToken):
    """A refresh token checked for signature, expiry and type, but not the blacklist: rotation
    looks at its row itself, to tell a reused spent token from an unknown one."""

    def check_blacklist(self) -> None:
        pass


def _parse_refresh(raw: str, token_class: type[RefreshToken] = RefreshToken) -> RefreshToken:
    try:
        return token_class(raw)
    except TokenError as exc:
        raise InvalidRefreshToken from exc


def tokens_refresh(*, raw_refresh: str) -> TokenPair:
    """Rotate: spend the given refresh token and issue a new pair.

    The outstanding-token row is locked, so two concurrent refreshes with one token cannot
    both succeed. A token already spent (rotated, logged out or revoked) that comes back is
    treated as stolen: every refresh token of its user is revoked, whoever holds them.
    """
    refresh = _parse_refresh(raw_refresh, _SpentOrNotRefreshToken)
    with transaction.atomic():
        outstanding = (
            OutstandingToken.objects.select_for_update(of=("self",))
            .filter(jti=refresh[jwt_settings.JTI_CLAIM])
            .first()
        )
        if outstanding is None:
            raise InvalidRefreshToken
        if not BlacklistedToken.objects.filter(token=outstanding).exists():
            user = User.objects.filter(pk=refresh[jwt_settings.USER_ID_CLAIM], is_active=True).first()
            if user is None or not _password_unchanged(refresh, user):
                raise InvalidRefreshToken
            BlacklistedToken.objects.create(token=outstanding)
            return tokens_issue(user=user)
    # Committed before the 401, outside the block that the exception would roll back.
    if outstanding.user_id is not None:
        revoked = tokens_revoke_all(user_id=outstanding.user_id)
        logger.warning(
            "spent refresh token reused for user %s: %d refresh token(s) revoked",
            outstanding.user_id,
            revoked,
        )
    raise InvalidRefreshToken


def _password_unchanged(token: RefreshToken, user: User) -> bool:
    claim = token.get(jwt_settings.REVOKE_TOKEN_CLAIM)
    return claim is None or claim == get_md5_hash_password(user.password)


def token_revoke(*, user: User, raw_refresh: str) -> None:
    """Logout: the refresh token, which must be the caller's own, stops working (its row goes)."""
    refresh = _parse_refresh(raw_refresh)
    if str(refresh.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
        raise InvalidRefreshToken
    OutstandingToken.objects.filter(jti=refresh[jwt_settings.JTI_CLAIM], user_id=user.pk).delete()


def tokens_revoke_all(*, user_id: int) -> int:
    """Forget every refresh token the user may still use (password change or reset,
    deactivation, a reused refresh token).

    Their rows are deleted, so refreshing with one is a plain 401; rows spent by rotation
    (blacklisted) stay until they expire, so a rotated token that comes back is still seen as reuse.
    """
    deleted, _ = OutstandingToken.objects.filter(user_id=user_id, blacklistedtoken__isnull=True).delete()
    return deleted


def _recovery_code_hash(*, user_id: int, code: str) -> str:
    # Keyed with SECRET_KEY: a leaked table alone does not let anyone try the million codes offline.
    return salted_hmac("accounts.RecoveryCode", f"{user_id}:{code}", algorithm="sha256").hexdigest()


@transaction.atomic
def recovery_code_issue(*, email: str) -> tuple[User, str] | None:
    """Give an active account a fresh code and void its older ones; the user row lock orders requests.

    Returns the user and the plain code (to be mailed, never stored), or None when no active
    account has that email or it had RECOVERY_CODES_PER_HOUR codes in the last hour.
    """
    user = User.objects.select_for_update().filter(email__lower=email.lower(), is_active=True).first()
    if user is None:
        return None
    hour_ago = timezone.now() - timedelta(hours=1)
    if (
        RecoveryCode.objects.filter(user=user, created_at__gt=hour_ago).count()
        >= settings.RECOVERY_CODES_PER_HOUR
    ):
        # Nothing sent, and the last code stays valid: more requests cannot wear it down.
        logger.info("recovery code for user %s not sent: RECOVERY_CODES_PER_HOUR reached", user.pk)
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
    """Redeem a recovery code for a new password; a wrong code uses up one of the code's tries
    and counts towards the account's RESET_FAILURE_LIMIT.

    The code row is locked while it is checked, so concurrent guesses cannot exceed the limit.
    A successful reset also lifts the account's login lock.
    """
    with transaction.atomic():
        user = User.objects.filter(email__lower=email.lower(), is_active=True).first()
        if user is not None and lockout.reset_locked(user.pk):
            user = None
        recovery = (
            RecoveryCode.objects.select_for_update().usable().filter(user=user).first() if user else None
        )
        if recovery is not None:
            if constant_time_compare(recovery.code_hash, _recovery_code_hash(user_id=user.pk, code=code)):
                recovery.state = RecoveryCode.State.SPENT
                recovery.save(update_fields=["state"])
                user.set_password(new_password)
                user.save(update_fields=["password"])
                tokens_revoke_all(user_id=user.pk)
                lockout.lift_login_lock(user.email)
                logger.info("password reset by recovery code for user %s", user.pk)
                return user
            recovery.attempts += 1
            if recovery.attempts >= RecoveryCode.MAX_ATTEMPTS:
                recovery.state = RecoveryCode.State.VOIDED
            recovery.save(update_fields=["attempts", "state"])
            lockout.record_reset_failure(user.pk)
    # Raised after the block so the counted try is committed.
    raise InvalidRecoveryCode
