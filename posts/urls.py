from rest_framework.routers import SimpleRouter

from .views import PostViewSet


class IdRouter(SimpleRouter):
    # Detail routes only match ids a 64-bit key can hold; anything else is a 404.
    def get_lookup_regex(self, viewset, lookup_prefix=""):
        return rf"(?P<{lookup_prefix}pk>[0-9]{{1,18}})"


router = IdRouter()
router.register("posts", PostViewSet, basename="post")
urlpatterns = router.urls
