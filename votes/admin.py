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

    def get_readonly_fields(self, request, obj=None):
        # The count triggers fire on insert and delete only: a like is added or removed, never moved.
        if obj is not None:
            return ("user", "post", "created_at")
        return self.readonly_fields
