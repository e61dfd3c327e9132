from rest_framework.routers import SimpleRouter

from .views import PostViewSet

# Detail routes take the project's `<id:...>` converter (PostViewSet.lookup_value_converter).
router = SimpleRouter(use_regex_path=False)
router.register("posts", PostViewSet, basename="post")
urlpatterns = router.urls
