from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from . import usernames
from .models import USERNAME_TAKEN, User

EMAIL_TAKEN = "A user with that email already exists."


def validate_new_password(attrs: dict, *, field: str, email: str | None = None) -> None:
    """Django's password validators, judged against the account's email, as `field`'s errors."""
    try:
        password_validation.validate_password(attrs[field], user=User(email=email or attrs["email"]))
    except DjangoValidationError as exc:
        raise serializers.ValidationError({field: list(exc.messages)}) from exc


def password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=1024, style={"input_type": "password"}, **kwargs
    )


class UsernameField(serializers.CharField):
    """A username as the contract allows it; whether it is free is checked against the database."""

    def __init__(self, **kwargs):
        super().__init__(max_length=usernames.MAX_LENGTH, **kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if not usernames.is_valid(value):
            raise serializers.ValidationError(usernames.INVALID)
        return value


def validate_username_free(value: str, *, exclude: User | None = None) -> str:
    taken = User.objects.filter(username__lower=value.lower())
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise serializers.ValidationError(USERNAME_TAKEN)
    return value


class UserPublicSerializer(serializers.ModelSerializer):
    """What anyone signed in may see of a user (profiles; a post's owner without created_at)."""

    class Meta:
        model = User
        fields = ["id", "username", "created_at"]
        read_only_fields = fields


class UserRefSerializer(serializers.ModelSerializer):
    """A user named on what they made (a post's owner): `{id, username}`."""

    class Meta:
        model = User
        fields = ["id", "username"]
        read_only_fields = fields


class UserOwnSerializer(serializers.ModelSerializer):
    """What users see of themselves: the public shape plus their email."""

    class Meta:
        model = User
        fields = ["id", "username", "email", "created_at"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()
    username = UsernameField(
        required=False, help_text=f"{usernames.INVALID} Made from the email if left out."
    )

    def validate_email(self, value: str) -> str:
        value = User.objects.normalize_email(value)
        if User.objects.email_taken(value):
            raise serializers.ValidationError(EMAIL_TAKEN)
        return value

    def validate_username(self, value: str) -> str:
        return validate_username_free(value)

    def validate(self, attrs: dict) -> dict:
        validate_new_password(attrs, field="password")
        return attrs


class UserUpdateSerializer(serializers.Serializer):
    username = UsernameField()

    def validate_username(self, value: str) -> str:
        return validate_username_free(value, exclude=self.context["user"])


class PasswordChangeSerializer(serializers.Serializer):
    current_password = password_field()
    new_password = password_field()

    def validate(self, attrs: dict) -> dict:
        validate_new_password(attrs, field="new_password", email=self.context["user"].email)
        return attrs


class PasswordConfirmSerializer(serializers.Serializer):
    password = password_field()


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
    new_password = password_field()

    def validate(self, attrs: dict) -> dict:
        validate_new_password(attrs, field="new_password")
        return attrs
