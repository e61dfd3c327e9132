from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from blogapi.openapi import error_responses

from .filters import PostFilter
from .models import Post
from .permissions import IsOwnerOrReadOnly
from .serializers import PostSerializer

NOT_OWNER = error_responses({403: "Not the owner"})


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

    def get_queryset(self):
        user = self.request.user
        posts = Post.objects.all()
        posts = posts.owned_by(user) if self.action == "mine" else posts.visible_to(user)
        return posts.with_votes(user)

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)

    @extend_schema(summary="Your posts, drafts included", responses=PostSerializer(many=True))
    @action(detail=False, methods=["get"])
    def mine(self, request):
        return self.list(request)
