"""One id everywhere: every route that takes an id takes it through the `<id:...>` converter."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from httpkit.converters import MAX_ID, IdConverter


def routes(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def test_every_api_id_route_uses_the_id_converter():
    id_routes = {
        route: entry.pattern.converters
        for route, entry in routes(get_resolver())
        if route.startswith("api/v1/") and ("pk" in route or "id" in route)
    }
    assert {"api/v1/posts/<id:pk>/", "api/v1/users/<id:pk>/"} <= set(id_routes)
    for route, converters in id_routes.items():
        assert converters, route
        assert all(isinstance(c, IdConverter) for c in converters.values()), route


def test_the_converter_matches_exactly_the_ids_a_bigint_key_holds():
    converter = IdConverter()
    assert converter.to_python("1") == 1
    assert converter.to_python(str(MAX_ID)) == MAX_ID
    for out_of_range in ("0", str(MAX_ID + 1), "9" * len(str(MAX_ID))):
        with pytest.raises(ValueError, match="out of range"):
            converter.to_python(out_of_range)
