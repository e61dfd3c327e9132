from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from . import usernames


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email: str) -> "User":
        """Log-in lookup: emails match case-insensitively, through the unique Lower(email) index."""
        return self.get(email__lower=email.lower())

    def email_taken(self, email: str) -> bool:
        return self.filter(email__lower=email.lower()).exists()

    def _create_user(self, email: str, password: str | None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra_fields)


USERNAME_TAKEN = "A user with that username already exists."


class User(AbstractBaseUser, PermissionsMixin):
    """An account; the email address is the login name and private, the username is public."""

    email = models.EmailField("email address", max_length=254)
    username = models.CharField(
        max_length=usernames.MAX_LENGTH,
        blank=True,
        validators=[usernames.validate_username],
        help_text=f"Public name: {usernames.INVALID} Left blank, one is made from the email.",
    )
    is_active = models.BooleanField(
        default=True,
        help_text="Unticking this blocks the account at once, issued tokens included.",
    )
    is_staff = models.BooleanField(default=False, help_text="Can log into the admin site.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with that email already exists.",
            ),
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message=USERNAME_TAKEN,
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        if not self.username:
            self.username = self.free_username_for(self.email)
        super().save(*args, **kwargs)

    @classmethod
    def free_username_for(cls, email: str) -> str:
        """A username made from the email's local part, with a number when the plain one is taken."""
        base = usernames.base_from_email(email)
        prefix = base[: usernames.MAX_LENGTH - 6]
        taken = cls._default_manager.filter(username__istartswith=prefix).values_list("username", flat=True)
        return usernames.first_free(base, (name.lower() for name in taken))


class RecoveryCodeQuerySet(models.QuerySet):
    def usable(self) -> "RecoveryCodeQuerySet":
        """Codes that may still be redeemed: neither spent nor voided, and not yet expired."""
        return self.filter(state=RecoveryCode.State.ACTIVE, expires_at__gt=timezone.now())

    def dead(self) -> "RecoveryCodeQuerySet":
        """Codes that can never work again: spent, voided or expired."""
        return self.filter(
            ~models.Q(state=RecoveryCode.State.ACTIVE) | models.Q(expires_at__lte=timezone.now())
        )


class RecoveryCode(models.Model):
    """A one-time password-recovery code; only its keyed hash is stored."""

    MAX_ATTEMPTS = 5

    class State(models.TextChoices):
        ACTIVE = "active", "active"
        SPENT = "spent", "spent"
        VOIDED = "voided", "voided"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Wrong codes tried against this one.")
    state = models.CharField(max_length=6, choices=State.choices, default=State.ACTIVE)

    objects = RecoveryCodeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state="active"),
                name="accounts_recoverycode_one_active_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(attempts__lte=5),
                name="accounts_recoverycode_attempts_max_5",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["active", "spent", "voided"]),
                name="accounts_recoverycode_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"recovery code #{self.pk} for user #{self.user_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class AuthFailure(models.Model):
    """One failed check in a brute-force window (accounts/lockout.py): a password or a recovery code.

    `key` is a keyed hash of the submitted email (login) or the account id (reset), so the table
    names nobody, and failures for emails without an account count the same way.
    """

    class Scope(models.TextChoices):
        LOGIN = "login", "password"
        RESET = "reset", "recovery code"

    scope = models.CharField(max_length=5, choices=Scope.choices)
    key = models.CharField(max_length=64)
    failed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "failed_at"], name="authfailure_window_idx")]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} failure at {self.failed_at:%Y-%m-%d %H:%M:%S}"


# `email__lower` and `username__lower` use the Lower() unique indexes.
models.CharField.register_lookup(Lower)
