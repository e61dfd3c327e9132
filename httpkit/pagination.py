from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset paging that rejects bad values with 400 instead of silently using defaults.

    `limit` above `max_limit` is capped; an offset past the end gives an empty page without
    asking the database for rows.
    """

    default_limit = 10
    max_limit = 100
    # A view that knows the exact size of its list without counting rows sets this first.
    known_count: int | None = None

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return min(_parse_int(self.limit_query_param, raw, minimum=1), self.max_limit)

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _parse_int(self.offset_query_param, raw, minimum=0)

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["description"] = (
            f"Page size, default {self.default_limit}; above {self.max_limit} counts as {self.max_limit}."
        )
        limit["schema"] = {"type": "integer", "minimum": 1, "default": self.default_limit}
        offset["description"] = "How many results to skip; past the end gives an empty page."
        offset["schema"] = {"type": "integer", "minimum": 0, "default": 0}
        return [limit, offset]

    def get_paginated_response_schema(self, schema):
        envelope = super().get_paginated_response_schema(schema)
        envelope["required"] = ["count", "next", "previous", "results"]
        envelope["properties"]["next"]["example"] = "http://127.0.0.1:8000/api/v1/posts/?limit=10&offset=10"
        envelope["properties"]["previous"]["example"] = None
        return envelope

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        self.count = self.get_count(queryset) if self.known_count is None else self.known_count
        if self.count == 0 or self.offset >= self.count:
            return []
        return list(queryset[self.offset : self.offset + self.limit])


def _parse_int(name: str, raw: str, *, minimum: int) -> int:
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        if raw.startswith("-") and raw[1:].isdigit():
            raise ValidationError({name: [f"Ensure this value is greater than or equal to {minimum}."]})
        raise ValidationError({name: ["A valid integer is required."]})
    value = int(raw[:30])
    if value < minimum:
        raise ValidationError({name: [f"Ensure this value is greater than or equal to {minimum}."]})
    return value
