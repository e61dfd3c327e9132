import functools
import hashlib

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from httpkit.openapi import error_responses
from httpkit.pagination import reject_repeated
from idempotency.decorators import idempotent
from idempotency.writes import save_new

from .filters import DEFAULT_ORDERING, PostFilter
from .models import Post, PostCount
from .permissions import IsOwnerOrReadOnly
from .serializers import PostSerializer

NOT_OWNER = error_responses({403: "Not the owner"})
LINK_HEADER = OpenApiParameter(
    "Link",
    str,
    OpenApiParameter.HEADER,
    description='RFC 8288: the `next` and `previous` links, as `<url>; rel="next", <url>; rel="prev"`.',
    response=[200],
)
LIST_ACTIONS = ("list", "mine")
ROW_FILTERS = PostFilter.row_filters()
NARROWING_FILTERS = PostFilter.narrowing_filters()


@extend_schema_view(
    list=extend_schema(summary="Published posts plus your drafts", parameters=[LINK_HEADER]),
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
    # New posts also count against POST_RATE_LIMIT (httpkit.throttling.ActionBudget).
    throttle_scopes = {"create": "posts"}

    def get_queryset(self):
        user = self.request.user
        posts = Post.objects.all()
        posts = posts.owned_by(user) if self.action == "mine" else posts.visible_to(user)
        return posts.with_votes(user)

    def filter_queryset(self, queryset):
        # List parameters narrow lists only; a single post is found by its id alone.
        if self.action not in LIST_ACTIONS:
            return queryset
        params = self.request.query_params
        reject_repeated(params, {*PostFilter.base_filters, *self.paginator.query_parameters})
        self.list_filters = {}
        if not any(name in params for name in PostFilter.base_filters):
            # The plain feed skips building and validating the filter form.
            return queryset.order_by(*DEFAULT_ORDERING)
        # What DjangoFilterBackend does (same values, same 400s) without building the form;
        # the cleaned values are kept for the count.
        self.list_filters = PostFilter.clean(params)
        return PostFilter.filter_cleaned(queryset, self.list_filters)

    def paginate_queryset(self, queryset):
        if self.paginator is not None:
            known = self.paginator.known_count = self.tallied_count()
            counted = known is None
            self.paginator.count_cache_key = self.count_cache_key(self.request.user.pk) if counted else None
            # Every viewer's feed holds the published posts (`mine` holds only the caller's).
            shared = counted and self.action == "list"
            self.paginator.shared_count_cache_key = self.count_cache_key("all") if shared else None
            self.paginator.shared_rows = Q(published=True) if shared else None
        return super().paginate_queryset(queryset)

    def tallied_count(self) -> int | None:
        """The list's exact size from the trigger-kept tallies, or None when filters narrow it."""
        if any(self.list_filters.get(name) not in (None, "") for name in NARROWING_FILTERS):
            return None
        user = self.request.user
        owner = self.list_filters.get("owner")
        if self.action == "mine":
            return PostCount.objects.visible_total(user, owner_id=user.pk) if owner in (None, user.pk) else 0
        return PostCount.objects.visible_total(user, owner_id=owner)

    def count_cache_key(self, viewer) -> str:
        """Names this list (endpoint, viewer or "all", filters) for the paginator's "more than" verdict."""
        chosen = sorted((name, str(self.list_filters.get(name))) for name in ROW_FILTERS)
        digest = hashlib.sha256(repr(chosen).encode()).hexdigest()
        return f"posts:count:{self.action}:{viewer}:{digest}"

    @idempotent("posts", writes_one_row=True)
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        # save_new rather than serializer.save(): under an Idempotency-Key the INSERT also keeps
        # the answer, rendered by the serializer from the post about to be written.
        post = Post(owner=self.request.user, **serializer.validated_data)
        render = functools.partial(serializer.to_representation, post)
        save_new(self.request, post, render=render, status=status.HTTP_201_CREATED)
        serializer.instance = post

    @extend_schema(
        summary="Your posts, drafts included", responses=PostSerializer(many=True), parameters=[LINK_HEADER]
    )
    @action(detail=False, methods=["get"])
    def mine(self, request):
        return self.list(request)
