from django.contrib import admin, messages
from django.db.models.functions import Now

from .models import Post


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "published", "votes", "created_at")
    list_display_links = ("title",)
    list_filter = ("published", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("title", "content", "owner__email")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    readonly_fields = ("vote_count", "created_at", "updated_at")
    fields = ("title", "content", "published", "owner", "vote_count", "created_at", "updated_at")
    ordering = ("-created_at", "-id")
    actions = ("publish_posts", "unpublish_posts")

    @admin.display(description="votes", ordering="vote_count")
    def votes(self, post: Post) -> int:
        # The column kept by the triggers on votes_vote: no aggregation per row.
        return post.vote_count

    @admin.action(description="Publish selected posts", permissions=["change"])
    def publish_posts(self, request, queryset):
        count = queryset.filter(published=False).update(published=True, updated_at=Now())
        self.message_user(request, f"Published {count} post(s).", messages.SUCCESS)

    @admin.action(
        description="Unpublish selected posts (only their owners will see them)", permissions=["change"]
    )
    def unpublish_posts(self, request, queryset):
        count = queryset.filter(published=True).update(published=False, updated_at=Now())
        self.message_user(request, f"Unpublished {count} post(s).", messages.SUCCESS)
