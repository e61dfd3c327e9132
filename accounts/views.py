from collections.abc import Callable
from dataclasses import asdict
from functools import partial

from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from httpkit.errors import DetailSerializer, OAuth2ErrorSerializer
from httpkit.openapi import error_responses
from httpkit.parsers import FastJSONParser

from . import lockout, queries, services, tasks
from .models import USERNAME_TAKEN, User
from .serializers import (
    EMAIL_TAKEN,
    PasswordChangeSerializer,
    PasswordConfirmSerializer,
    PasswordRecoverySerializer,
    PasswordResetSerializer,
    RefreshTokenSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
    UserCreateSerializer,
    UserOwnSerializer,
    UserPublicSerializer,
    UserUpdateSerializer,
)
from .throttles import AuthRateThrottle

INVALID_CREDENTIALS = "Invalid credentials"
INVALID_GRANT_DESCRIPTION = "The email or password is wrong, or the account is deactivated."
WRONG_PASSWORD = "The password is wrong."  # noqa: S105 (a message, not a secret)
INVALID_REFRESH = "Token is invalid or expired."
RECOVERY_ACCEPTED = "If an account with that email exists, a recovery code is on its way to it."
RESET_DONE = "Your password has been reset; log in with the new one."
INVALID_RECOVERY_CODE = "The code is wrong, expired or no longer valid."


class PublicAuthView(APIView):
    """Base for the unauthenticated account endpoints: no credentials read, throttled per IP."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    def get_authenticate_header(self, request):
        # Keeps bad-credential answers at 401 (DRF turns a 401 without this header into 403).
        return 'Bearer realm="api"'


def refused(refusal: lockout.Refusal) -> Throttled:
    """The API's answer to a brute-force refusal: 429 `{detail}` with Retry-After."""
    return Throttled(wait=refusal.retry_after, detail=refusal.detail)


def checked_password(check: Callable[[], object], *, field: str = "password"):
    """Run a password-confirmed service: 429 while locked, a field error for a wrong password."""
    try:
        return check()
    except lockout.Refusal as refusal:
        raise refused(refusal) from None
    except services.WrongPassword:
        raise serializers.ValidationError({field: [WRONG_PASSWORD]}) from None


class UserCreateView(PublicAuthView):
    @extend_schema(
        request=UserCreateSerializer,
        responses={
            201: UserOwnSerializer,
            **error_responses(
                {400: "Invalid email, weak password, email already registered, username invalid or taken"}
            ),
        },
        auth=[],
        summary="Register",
    )
    def post(self, request):
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.user_create(**serializer.validated_data)
        except services.EmailTaken:
            raise serializers.ValidationError({"email": [EMAIL_TAKEN]}) from None
        except services.UsernameTaken:
            raise serializers.ValidationError({"username": [USERNAME_TAKEN]}) from None
        return Response(UserOwnSerializer(user).data, status=status.HTTP_201_CREATED)


class UserMeView(generics.GenericAPIView):
    serializer_class = UserOwnSerializer
    # DELETE carries the password that confirms it (httpkit.openapi documents the body).
    delete_takes_body = True

    def get_throttles(self):
        # Deleting the account checks the password: the per-IP limit of password checks applies.
        throttles = super().get_throttles()
        if self.request is not None and self.request.method == "DELETE":
            throttles.append(AuthRateThrottle())
        return throttles

    @extend_schema(summary="The current user (with the email)")
    def get(self, request):
        return Response(UserOwnSerializer(request.user).data)

    @extend_schema(
        request=UserUpdateSerializer,
        responses={200: UserOwnSerializer, **error_responses({400: "Username invalid or taken"})},
        summary="Change your username",
    )
    def patch(self, request):
        serializer = UserUpdateSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        try:
            user = services.user_rename(user=request.user, username=serializer.validated_data["username"])
        except services.UsernameTaken:
            raise serializers.ValidationError({"username": [USERNAME_TAKEN]}) from None
        return Response(UserOwnSerializer(user).data)

    @extend_schema(
        request=PasswordConfirmSerializer,
        responses={204: None, **error_responses({400: "Wrong password", 429: None})},
        summary="Delete your account, with its posts and likes (confirm with the password)",
    )
    def delete(self, request):
        serializer = PasswordConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        password = serializer.validated_data["password"]
        checked_password(lambda: services.user_delete(user=request.user, password=password))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    throttle_classes = [*APIView.throttle_classes, AuthRateThrottle]

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={
            200: TokenPairSerializer,
            **error_responses({400: "Wrong current password, or a weak new one"}),
        },
        summary="Change your password: a new token pair; every other token stops working",
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        pair = checked_password(
            lambda: services.password_change(user=request.user, **serializer.validated_data),
            field="current_password",
        )
        if isinstance(request.successful_authenticator, SessionAuthentication):
            # The browsable API's session survives its own password change; other sessions end.
            update_session_auth_hash(request, request.user)
        return Response(asdict(pair))


class UserDetailView(generics.RetrieveAPIView):
    serializer_class = UserPublicSerializer
    queryset = User.objects.filter(is_active=True)


class TokenObtainView(PublicAuthView):
    parser_classes = [FormParser, FastJSONParser]

    @extend_schema(
        # The OAuth2 form only, as generated clients and Swagger UI send it; JSON works too.
        request={"application/x-www-form-urlencoded": TokenObtainSerializer},
        responses={
            200: TokenPairSerializer,
            401: OpenApiResponse(
                OAuth2ErrorSerializer,
                description=f"{INVALID_CREDENTIALS}: `error` is `invalid_grant` (OAuth2), with "
                "`error_description`",
            ),
            **error_responses(
                {
                    429: "Too many attempts from this address, or for this account; retry after "
                    "`Retry-After` seconds",
                }
            ),
        },
        auth=[],
        summary="Log in (OAuth2 password flow)",
    )
    def post(self, request):
        serializer = TokenObtainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = services.tokens_obtain(
                request=request,
                login=serializer.validated_data["login"],
                password=serializer.validated_data["password"],
            )
        except services.InvalidCredentials:
            raise AuthenticationFailed(
                {
                    "detail": INVALID_CREDENTIALS,
                    "error": "invalid_grant",
                    "error_description": INVALID_GRANT_DESCRIPTION,
                }
            ) from None
        except lockout.Refusal as refusal:
            raise refused(refusal) from None
        return Response(asdict(pair))


class TokenRefreshView(PublicAuthView):
    throttle_classes: list = []

    @extend_schema(
        request=RefreshTokenSerializer,
        responses={
            200: TokenPairSerializer,
            **error_responses({401: "Refresh token invalid, expired or spent"}),
        },
        auth=[],
        summary="Exchange a refresh token for a new pair (the old one is spent)",
    )
    def post(self, request):
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = services.tokens_refresh(raw_refresh=serializer.validated_data["refresh_token"])
        except services.InvalidRefreshToken:
            raise AuthenticationFailed(INVALID_REFRESH, code="token_not_valid") from None
        return Response(asdict(pair))


class LogoutView(APIView):
    @extend_schema(
        request=RefreshTokenSerializer,
        responses={204: None, **error_responses({400: "Refresh token invalid or not yours"})},
        summary="Log out: the refresh token stops working",
    )
    def post(self, request):
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.token_revoke(user=request.user, raw_refresh=serializer.validated_data["refresh_token"])
        except services.InvalidRefreshToken:
            raise serializers.ValidationError({"refresh_token": [INVALID_REFRESH]}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunAfterResponse(Response):
    """A Response that runs `after` in close(), which WSGI and ASGI servers call once it is sent."""

    def __init__(self, *args, after: Callable[[], object], **kwargs):
        super().__init__(*args, **kwargs)
        self._after = after

    def close(self):
        try:
            self._after()
        finally:
            super().close()


class PasswordRecoveryView(PublicAuthView):
    @extend_schema(
        request=PasswordRecoverySerializer,
        responses={202: DetailSerializer, **error_responses({400: "Malformed email"})},
        auth=[],
        summary="Email a password recovery code (same answer whether or not the account exists)",
        description=(
            "Emails a 6-digit code to the account with this email, valid PASSWORD_RESET_CODE_MINUTES "
            "and once; a new request cancels the previous code. At most RECOVERY_CODES_PER_HOUR codes "
            "are sent per account per hour: later requests get the same answer, send nothing and "
            "leave the last code valid. The answer is the same, in the same time, whether or not "
            "the account exists. The email is sent by a background task."
        ),
    )
    def post(self, request):
        serializer = PasswordRecoverySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        send = partial(tasks.email_recovery_code.enqueue, serializer.validated_data["email"])
        body = {"detail": RECOVERY_ACCEPTED}
        if tasks.runs_in_process():
            # The same cheap query on every path: an unreachable database still answers 503 here.
            queries.ping()
            # Inside the request the task's cost would reveal whether the account exists; after it, not.
            return RunAfterResponse(body, status=status.HTTP_202_ACCEPTED, after=send)
        send()
        return Response(body, status=status.HTTP_202_ACCEPTED)


class PasswordResetView(PublicAuthView):
    @extend_schema(
        request=PasswordResetSerializer,
        responses={
            200: DetailSerializer,
            **error_responses(
                {
                    400: "Wrong, expired, spent or voided code, or no such account (one message); "
                    "or `new_password` errors from the password validators"
                }
            ),
        },
        auth=[],
        summary="Set a new password with an emailed recovery code",
        description=(
            "Spends the code and sets the new password; every refresh and access token issued "
            "before stops working, and the account's login lock is lifted. 5 wrong codes cancel the "
            "code; after RESET_FAILURE_LIMIT wrong codes within 24 hours the account's resets are "
            "refused for 24 hours (the same 400)."
        ),
    )
    def post(self, request):
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.password_reset(**serializer.validated_data)
        except services.InvalidRecoveryCode:
            raise serializers.ValidationError({"detail": INVALID_RECOVERY_CODE}) from None
        return Response({"detail": RESET_DONE})
