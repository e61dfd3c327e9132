from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView

from accounts.login_pages import guarded_login
from httpkit import health, pages
from httpkit.converters import IdConverter

register_converter(IdConverter, "id")

# The busiest routes first: the resolver tries these includes in order on every request.
api_v1 = [
    path("", include("posts.urls")),
    path("", include("votes.urls")),
    path("", include("accounts.urls")),
]

admin.site.site_header = "blogapi administration"
admin.site.site_title = "blogapi admin"
admin.site.site_url = "/"
# Lists keep their width for their columns (the posts list fits 1280 px); the index lists the models.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", pages.home, name="home"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("api/v1/", include(api_v1)),
    path("api/v1/", pages.ApiRootView.as_view(patterns=api_v1), name="api-root"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", pages.SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # The two HTML login pages, under the brute-force policy of every password check; the same
    # paths as the included ones, so `rest_framework:login` and `admin:login` still point here.
    path(
        "api-auth/login/",
        guarded_login(auth_views.LoginView.as_view(template_name="rest_framework/login.html")),
    ),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/login/", guarded_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler400 = "httpkit.errors.bad_request"
handler404 = "httpkit.errors.not_found"
handler500 = "httpkit.errors.server_error"
