from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsOwnerOrReadOnly(BasePermission):
    """Anyone who can see a post may read it; only its owner may change or delete it."""

    message = "You can only change your own posts."

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in SAFE_METHODS or obj.owner_id == request.user.id
