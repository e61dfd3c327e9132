from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from .filters import PostFilter
from .models import Post
from .permissions import IsOwnerOrReadOnly
from .serializers import PostSerializer


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

    @extend_schema(summary="Your posts, drafts included")
    @action(detail=False, methods=["get"])
    def mine(self, request):
        return self.list(request)
