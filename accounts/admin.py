# Password-recovery codes: read-only, for support and audit; the code hash is never shown.
from django.contrib import admin

from .models import RecoveryCode


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
