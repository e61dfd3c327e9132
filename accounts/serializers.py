from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from .models import User


def validate_new_password(attrs: dict, *, field: str) -> None:
    """Django's password validators, judged against the account's email, as `field`'s errors."""
    try:
        password_validation.validate_password(attrs[field], user=User(email=attrs["email"]))
    except DjangoValidationError as exc:
        raise serializers.ValidationError({field: list(exc.messages)}) from exc


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "created_at"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=1024, style={"input_type": "password"}
    )

    def validate_email(self, value: str) -> str:
        value = User.objects.normalize_email(value)
        if User.objects.email_taken(value):
            raise serializers.ValidationError(EMAIL_TAKEN)
        return value

    def validate(self, attrs: dict) -> dict:
        validate_new_password(attrs, field="password")
        return attrs


EMAIL_TAKEN = "A user with that email already exists."


class TokenObtainSerializer(serializers.Serializer):
    """OAuth2 password flow (form `username`) or JSON with `email` or `username`."""

    username = serializers.CharField(required=False, max_length=254, help_text="The account's email.")
    email = serializers.CharField(required=False, max_length=254, help_text="Same as `username`.")
    password = serializers.CharField(trim_whitespace=False, max_length=1024, style={"input_type": "password"})
    grant_type = serializers.ChoiceField(choices=["password"], required=False)

    def validate(self, attrs: dict) -> dict:
        login = attrs.get("username") or attrs.get("email")
        if not login:
            raise serializers.ValidationError({"username": ["This field is required."]})
        attrs["login"] = login
        return attrs


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class RefreshTokenSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096)


class PasswordRecoverySerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    code = serializers.CharField(max_length=32, help_text="The 6-digit code from the recovery email.")
    new_password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=1024, style={"input_type": "password"}
    )

    def validate(self, attrs: dict) -> dict:
        validate_new_password(attrs, field="new_password")
        return attrs
