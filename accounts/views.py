from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from blogapi.openapi import error_responses
from blogapi.parsers import FastJSONParser

from . import services
from .models import User
from .serializers import (
    EMAIL_TAKEN,
    RefreshTokenSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
    UserCreateSerializer,
    UserSerializer,
)
from .throttles import AuthRateThrottle

INVALID_CREDENTIALS = "Invalid credentials"
INVALID_REFRESH = "Token is invalid or expired."


class PublicAuthView(APIView):
    """Base for the unauthenticated account endpoints: no credentials read, throttled per IP."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    def get_authenticate_header(self, request):
        # Keeps bad-credential answers at 401 (DRF turns a 401 without this header into 403).
        return 'Bearer realm="api"'


class UserCreateView(PublicAuthView):
    @extend_schema(
        request=UserCreateSerializer,
        responses={
            201: UserSerializer,
            **error_responses({400: "Invalid email, weak password, or email already registered"}),
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
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserMeView(generics.GenericAPIView):
    serializer_class = UserSerializer

    @extend_schema(summary="The current user")
    def get(self, request):
        return Response(self.get_serializer(request.user).data)


class UserDetailView(generics.RetrieveAPIView):
    serializer_class = UserSerializer
    queryset = User.objects.all()


class TokenObtainView(PublicAuthView):
    parser_classes = [FormParser, FastJSONParser]

    @extend_schema(
        request={
            "application/x-www-form-urlencoded": TokenObtainSerializer,
            "application/json": TokenObtainSerializer,
        },
        responses={200: TokenPairSerializer, **error_responses({401: INVALID_CREDENTIALS})},
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
            raise AuthenticationFailed(INVALID_CREDENTIALS) from None
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
