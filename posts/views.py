from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from httpkit.openapi import error_responses
from idempotency.decorators import idempotent

from .filters import DEFAULT_ORDERING, PostFilter
from .models import Post, PostCount
from .permissions import IsOwnerOrReadOnly
from .serializers import PostSerializer

NOT_OWNER = error_responses({403: "Not the owner"})
# List parameters that can drop posts from a list; with any of them present, rows are counted.
NARROWING_PARAMS = ("search", "created_after", "created_before")


@extend_schema_view(
    list=extend_schema(summary="Published posts plus your drafts"),
    create=extend_schema(summary="Write a post (you are its owner)"),
    retrieve=extend_schema(summary="A post"),
    update=extend_schema(summary="Replace a post", responses={200: PostSerializer, **NOT_OWNER}),
    partial_update=extend_schema(summary="Change a post", responses={200: PostSerializer, **NOT_OWNER}),
    destroy=extend_schema(summary="Delete a post and its likes", responses={204: None, **NOT_OWNER}),
)
class PostViewSet(viewsets.ModelViewSet):
    """Posts: everyone reads what is published, owners also see and manage their drafts."""

    serializer_class = PostSerializer
    filterset_class = PostFilter
    permission_classes = [IsAuthenticated, IsOwnerOrReadOnly]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    lookup_value_converter = "id"

    def get_queryset(self):
        user = self.request.user
        posts = Post.objects.all()
        posts = posts.owned_by(user) if self.action == "mine" else posts.visible_to(user)
        return posts.with_votes(user)

    def filter_queryset(self, queryset):
        # List parameters narrow lists only; a single post is found by its id alone.
        if self.action not in ("list", "mine"):
            return queryset
        if not any(name in self.request.query_params for name in PostFilter.base_filters):
            # The plain feed skips building and validating the filter form.
            return queryset.order_by(*DEFAULT_ORDERING)
        return super().filter_queryset(queryset)

    def paginate_queryset(self, queryset):
        if self.paginator is not None:
            self.paginator.known_count = self.tallied_count()
        return super().paginate_queryset(queryset)

    def tallied_count(self) -> int | None:
        """The list's exact size from the trigger-kept tallies, or None when filters narrow it."""
        params = self.request.query_params
        if any(name in params for name in NARROWING_PARAMS):
            return None
        user = self.request.user
        owner = params.get("owner", "").strip()
        if self.action == "mine":
            return None if owner else PostCount.objects.visible_total(user, owner_id=user.pk)
        if not owner:
            return PostCount.objects.visible_total(user)
        # Only a plain id takes the fast path; other spellings the filter accepts are counted.
        if not (owner.isascii() and owner.isdigit()):
            return None
        return PostCount.objects.visible_total(user, owner_id=int(owner))

    @idempotent("posts")
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)

    @extend_schema(summary="Your posts, drafts included", responses=PostSerializer(many=True))
    @action(detail=False, methods=["get"])
    def mine(self, request):
        return self.list(request)
