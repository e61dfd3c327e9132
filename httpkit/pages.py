"""The pages around the API: the front door (`/`), the browsable API root (`/api/v1/`), the
favicon, and Swagger UI with blogapi's own init script (static/httpkit/swagger-init.js)."""

from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView, get_view_name


def home(request):
    return render(request, "httpkit/home.html")


def favicon(request):
    return redirect(static("httpkit/favicon.svg"), permanent=True)


class SwaggerView(SpectacularSwaggerView):
    template_name = "httpkit/swagger_ui.html"


class ApiRootView(APIView):
    """Every collection of the API, each linked by its path."""

    permission_classes = [AllowAny]
    # Set by as_view(): the URL patterns under /api/v1/ to list.
    patterns: list = []

    def get_view_name(self):
        return "blogapi API root"

    @extend_schema(exclude=True)
    def get(self, request):
        # Keyed by the path below this root: {"posts": ".../api/v1/posts/", "users/me": ...}.
        paths = [reverse(name) for name in _parameterless_names(self.patterns)]
        return Response(
            {path.removeprefix(request.path).strip("/"): request.build_absolute_uri(path) for path in paths}
        )


def _parameterless_names(patterns) -> list[str]:
    """Route names, in URL order, of the patterns that take no path parameter."""
    names = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names += _parameterless_names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name and not pattern.pattern.regex.groups:
            names.append(pattern.name)
    return names


def view_name(view) -> str:
    """Browsable API page titles: the endpoint's OpenAPI summary ("Register", "A post"), else DRF's.

    The summary of the method being shown, or of the view's first method that has one (a page
    opened with GET on a POST-only endpoint); DRF's name from the class ("User Create") otherwise.
    """
    request = getattr(view, "request", None)
    if request is None:
        # Breadcrumbs name the views of parent paths without a request: DRF's name.
        return get_view_name(view)
    shown = getattr(view, "action", None) or request.method.lower()
    for name in [shown, *(method.lower() for method in view.allowed_methods)]:
        summary = _summary(view, name)
        if summary:
            return summary
    return get_view_name(view)


def _summary(view, handler_name: str) -> str | None:
    # extend_schema keeps a method's overrides in a schema class on the method itself.
    schema_class = getattr(getattr(view, handler_name, None), "kwargs", {}).get("schema")
    if schema_class is None:
        return None
    schema = schema_class()
    schema.view, schema.method = view, view.request.method
    return schema.get_summary()
