from django.contrib import admin

from .models import Vote


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "post", "created_at")
    list_select_related = ("user", "post")
    search_fields = ("user__email", "post__title")
    list_filter = ("created_at",)
    autocomplete_fields = ("user", "post")
    readonly_fields = ("created_at",)
    ordering = ("-created_at", "-id")

    def get_queryset(self, request):
        # Breadcrumbs and the delete page name the user and the post (Vote.__str__).
        return super().get_queryset(request).select_related("user", "post")

    def has_change_permission(self, request, obj=None):
        # The count triggers fire on insert and delete only: a like is added or removed, never
        # changed, so its page is view-only.
        return False
