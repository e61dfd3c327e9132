from django.contrib import admin, messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from . import services
from .models import RecoveryCode, User


class UserCreationForm(auth_forms.BaseUserCreationForm):
    """Email, optional username and a password typed twice; the password is validated and stored
    hashed, a blank username is made from the email (User.save)."""

    class Meta:
        model = User
        fields = ("email", "username")

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["email"])


class UserChangeForm(auth_forms.UserChangeForm):
    """The password shows only as Django's read-only summary, with a link to set a new one."""

    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["email"])


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("created_at", "last_login")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )
    readonly_fields = ("created_at", "last_login")
    list_display = ("email", "username", "is_active", "is_staff", "created_at")
    list_filter = ("is_active", "is_staff", "is_superuser", "created_at")
    search_fields = ("email", "username")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    actions = ("deactivate_users", "reactivate_users")

    @admin.action(
        description="Deactivate selected users (blocks their tokens at once)", permissions=["change"]
    )
    def deactivate_users(self, request, queryset):
        # A moderator locking themselves out of the admin is never what was meant.
        if queryset.filter(pk=request.user.pk).exists():
            self.message_user(request, "You cannot deactivate your own account.", messages.ERROR)
            queryset = queryset.exclude(pk=request.user.pk)
        deactivated = list(queryset.filter(is_active=True))
        queryset.filter(pk__in=[user.pk for user in deactivated]).update(is_active=False)
        # Their refresh tokens are spent too, so reactivating an account does not revive them.
        for user in deactivated:
            services.tokens_revoke_all(user_id=user.pk)
        self.message_user(request, f"Deactivated {len(deactivated)} user(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected users", permissions=["change"])
    def reactivate_users(self, request, queryset):
        count = queryset.filter(is_active=False).update(is_active=True)
        self.message_user(request, f"Reactivated {count} user(s).", messages.SUCCESS)


# Password-recovery codes: read-only, for support and audit; the code hash is never shown.
@admin.register(RecoveryCode)
class RecoveryCodeAdmin(admin.ModelAdmin):
    list_display = ["user_email", "created_at", "expires_at", "attempts", "status"]
    list_filter = ["state", "created_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ["user_email", "created_at", "expires_at", "attempts", "status"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    @admin.display(description="user", ordering="user__email")
    def user_email(self, obj: RecoveryCode) -> str:
        return obj.user.email

    @admin.display(description="state", ordering="state")
    def status(self, obj: RecoveryCode) -> str:
        if obj.state == RecoveryCode.State.ACTIVE and obj.is_expired:
            return "expired"
        return obj.get_state_display()

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
