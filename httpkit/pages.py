"""The pages around the API: the front door (`/`), the browsable API root (`/api/v1/`), the
favicon, and Swagger UI with blogapi's own init script (static/httpkit/swagger-init.js)."""

from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


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
        return Response(
            {name: request.build_absolute_uri(reverse(name)) for name in _parameterless_names(self.patterns)}
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
