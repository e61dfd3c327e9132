"""OpenAPI (drf-spectacular): the Bearer/OAuth2 scheme, the error bodies, and the schema class.

Views declare their success responses and the errors only they know about with
`error_responses({404: "...", 409: "..."})`; the schema class adds the errors every endpoint of
a kind can answer (401 when credentials are needed, 400/413/415 when a body is read, 404 on a
path with an id, 429 when throttled, 503 while the database is unreachable), the
X-RateLimit-* headers on the answers of operations that count against fair-use budgets, and
on the operations that take an Idempotency-Key the header and its 409 and 422.

The schema is exact so that generated clients work as they come (openapi-python-client,
openapi-typescript; see docs/clients.md): one request media type per operation, every field the
server always sends is required, request defaults are declared, error bodies are typed as sent,
and examples are values the server accepts. All of it is derived from serializers and filters
here, so new fields and endpoints follow without per-endpoint copies.
"""

import django_filters
from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import force_instance, get_doc
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.permissions import AllowAny

from .converters import MAX_ID
from .errors import DetailSerializer, ErrorSerializer, FieldErrorsSerializer, ValidationErrorSerializer
from .idempotency import HEADER as IDEMPOTENCY_KEY
from .idempotency import KEY_PATTERN, takes_idempotency_key
from .throttling import BudgetThrottle

TOKEN_URL = "/api/v1/auth/token/"  # noqa: S105 (a path, not a secret)
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID, "example": 1}
# Integers beyond this lose precision in JavaScript: Swagger UI would prefill them rounded up.
JS_SAFE_INTEGER = 2**53 - 1

# Request examples the server accepts, so Swagger UI's prefilled bodies succeed as they come:
# `Serializer.field` first, then the field name alone.
EXAMPLE_PASSWORD = "analytical-engine-1843"  # noqa: S105 (a documentation example)
FIELD_EXAMPLES = {
    "TokenObtainSerializer.username": "ada@example.com",
    "email": "ada@example.com",
    "password": EXAMPLE_PASSWORD,
    "current_password": EXAMPLE_PASSWORD,
    "new_password": "difference-engine-1822",
    "code": "123456",
    "title": "Notes on the Analytical Engine",
    "content": "It weaves algebraic patterns just as the Jacquard loom weaves flowers and leaves.",
    "post_id": 1,
    "dir": 1,
}


class ValidationErrorSchema(OpenApiSerializerExtension):
    """A 400 body: `{detail}` for a body that cannot be read, else the field errors."""

    target_class = ValidationErrorSerializer

    def map_serializer(self, auto_schema, direction):
        return {
            "oneOf": [
                auto_schema.resolve_serializer(DetailSerializer, direction).ref,
                auto_schema.resolve_serializer(FieldErrorsSerializer, direction).ref,
            ],
        }


class FieldErrorsSchema(OpenApiSerializerExtension):
    target_class = FieldErrorsSerializer

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": "Each invalid field (or `non_field_errors`) with its messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    """Bearer access tokens, described as OAuth2's password flow so Swagger UI's Authorize logs in."""

    target_class = "accounts.authentication.BearerAuthentication"
    name = "OAuth2PasswordBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "Log in with your email as `username` and your password; requests then "
            "carry `Authorization: Bearer <access_token>`.",
            "flows": {"password": {"tokenUrl": TOKEN_URL, "scopes": {}}},
        }


DEFAULT_DESCRIPTIONS = {
    400: "Invalid input",
    401: "No, invalid or expired credentials",
    403: "Not allowed",
    404: "Not found, or not visible to you",
    409: "Conflict",
    422: f"This `{IDEMPOTENCY_KEY}` was already used with a different body",
    413: "Request body larger than the server accepts",
    415: "Unsupported content type",
    429: "Too many requests from this address; retry after `Retry-After` seconds",
    503: "Database unreachable; retry after `Retry-After` seconds",
}

RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer ...`"}}
ERROR_HEADERS = {401: WWW_AUTHENTICATE, 429: RETRY_AFTER, 503: RETRY_AFTER}
OVER_BUDGET = "Over a fair-use budget of your account; retry after `Retry-After` seconds"
OVER_BUDGET_OR_LIMIT = (
    "Over a fair-use budget of your account, or over another limit of this endpoint; "
    "retry after `Retry-After` seconds"
)
_BUDGET_NOTE = " Absent for staff users and while the budgets are off."
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {
        "schema": {"type": "integer"},
        "description": "Requests per window of the tightest budget this request counted in "
        "(the one with the fewest requests remaining)." + _BUDGET_NOTE,
    },
    "X-RateLimit-Remaining": {
        "schema": {"type": "integer"},
        "description": "Requests left in that budget's window." + _BUDGET_NOTE,
    },
    "X-RateLimit-Reset": {
        "schema": {"type": "integer"},
        "description": "Unix time (seconds) when that budget refills." + _BUDGET_NOTE,
    },
}
# Answers given before the budgets are counted (no valid credentials, database unreachable).
UNCOUNTED = ("401", "503")
KEY_IN_USE = f"A request with this `{IDEMPOTENCY_KEY}` is still being processed; retry after `Retry-After`"
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_KEY,
    str,
    OpenApiParameter.HEADER,
    description="Optional: a key of your choice, new for each write. A retry with the same key "
    "and body gets the first answer again (with `Idempotent-Replayed: true`) and writes nothing. "
    "Kept for `IDEMPOTENCY_KEY_HOURS` (default 24).",
    pattern=KEY_PATTERN,
)


def error_responses(descriptions: dict[int, str | None]) -> dict[int, OpenApiResponse]:
    """Responses for `@extend_schema(responses=...)`: DRF's error shape for each status, described.

    A description of None keeps the generic one.
    """
    return {
        status: OpenApiResponse(
            ValidationErrorSerializer if status == 400 else ErrorSerializer,
            description=description or DEFAULT_DESCRIPTIONS.get(status, ""),
        )
        for status, description in descriptions.items()
    }


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error responses that follow from how a view is built,
    response fields required as DRF sends them, model defaults and examples on request fields,
    and ordering parameters that take one value."""

    def _handler(self):
        return getattr(self.view, getattr(self.view, "action", self.method.lower()), None)

    def get_description(self):
        # Only what the endpoint itself documents: view class docstrings are for code readers.
        return get_doc(self._handler())

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if takes_idempotency_key(self._handler()):
            parameters = [*parameters, IDEMPOTENCY_KEY_PARAMETER]
        return parameters

    def get_tags(self):
        # /api/v1/<area>/...: users, auth, posts, votes.
        return [self.path.removeprefix("/api/v1/").split("/")[0]]

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] in ("id", "pk"):
                parameter["schema"] = dict(ID_SCHEMA)
        return parameters

    def _get_filter_parameters(self):
        parameters = super()._get_filter_parameters()
        filterset_class = getattr(self.view, "filterset_class", None)
        filters = filterset_class.base_filters if filterset_class else {}
        for parameter in parameters:
            if isinstance(filters.get(parameter["name"]), django_filters.OrderingFilter):
                # The server reads one value; generators send an array as repeated parameters.
                parameter["schema"] = {"type": "string", "enum": parameter["schema"]["items"]["enum"]}
                parameter.pop("style", None)
                parameter.pop("explode", None)
            _add_id_example(parameter["schema"])
        return parameters

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(schema, dict) and "$ref" not in schema:
            parent = type(field.parent).__name__ if field.parent is not None else ""
            example = FIELD_EXAMPLES.get(f"{parent}.{field.field_name}", FIELD_EXAMPLES.get(field.field_name))
            if example is not None:
                schema["example"] = example
            _add_id_example(schema)
        return schema

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "request" and "default" not in meta and not field.required:
            default = _model_default(field)
            if default is not empty:
                meta["default"] = default
        return meta

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response":
            # DRF writes every readable field, skipping only an optional one with no default
            # whose value is absent (a plain Serializer's `required=False`): the rest are required.
            serializer = force_instance(serializer)
            fields = serializer.fields
            schema["required"] = [
                name
                for name in schema["properties"]
                if name not in fields
                or fields[name].required
                or fields[name].read_only
                or fields[name].default is not empty
                or isinstance(serializer, serializers.ModelSerializer)
            ]
            if not schema["required"]:
                del schema["required"]
        return schema

    def _get_request_body(self, direction="request"):
        """drf-spectacular documents bodies of PUT, PATCH and POST only; a view whose DELETE
        reads one (`delete_takes_body`, e.g. the password confirming an account deletion) gets it."""
        if self.method == "DELETE" and getattr(self.view, "delete_takes_body", False):
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        budgeted = self._counts_budgets()
        implied = dict.fromkeys(self._implied_errors())
        if budgeted and 429 in implied:
            only_budgets = all(isinstance(throttle, BudgetThrottle) for throttle in self.view.get_throttles())
            implied[429] = OVER_BUDGET if only_budgets else OVER_BUDGET_OR_LIMIT
        for status, response in error_responses(implied).items():
            responses.setdefault(str(status), self._get_response_for_code(response, str(status)))
        if takes_idempotency_key(self._handler()):
            self._add_idempotency_errors(responses)
        for status, headers in ERROR_HEADERS.items():
            if str(status) in responses:
                responses[str(status)].setdefault("headers", {}).update(headers)
        if budgeted:
            for status, response in responses.items():
                if status not in UNCOUNTED:
                    response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
        return dict(sorted(responses.items()))

    def _needs_credentials(self) -> bool:
        return not any(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _counts_budgets(self) -> bool:
        """Signed-in callers of this operation count against fair-use budgets (httpkit.throttling)."""
        return self._needs_credentials() and any(
            isinstance(throttle, BudgetThrottle) for throttle in self.view.get_throttles()
        )

    def _add_idempotency_errors(self, responses: dict) -> None:
        if "409" in responses:  # the operation's own conflict: one status, both meanings
            responses["409"]["description"] += f"; or: {KEY_IN_USE}"
        else:
            responses["409"] = self._get_response_for_code(error_responses({409: KEY_IN_USE})[409], "409")
        responses["409"].setdefault("headers", {}).update(RETRY_AFTER)
        responses["422"] = self._get_response_for_code(error_responses({422: None})[422], "422")

    def _implied_errors(self) -> list[int]:
        implied = []
        body_read = self.method == "DELETE" and getattr(self.view, "delete_takes_body", False)
        if self.method in ("POST", "PUT", "PATCH") or body_read:
            implied += [400, 413, 415]
        elif self.method == "GET" and self._is_list_view():
            implied.append(400)
        if self._needs_credentials():
            implied.append(401)
        if "{" in self.path:
            implied.append(404)
        if self.view.get_throttles():
            implied.append(429)
        implied.append(503)
        return implied

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        if status_code >= "400" and not media_types:
            # Errors are always JSON, whatever renderers the view also offers.
            media_types = ["application/json"]
        return super()._get_response_for_code(serializer, status_code, media_types, direction)


def _add_id_example(schema: dict) -> None:
    if schema.get("type") == "integer" and schema.get("maximum", 0) > JS_SAFE_INTEGER:
        schema.setdefault("example", 1)


def _model_default(field) -> object:
    """The default of the model field behind a ModelSerializer field (a plain value), or empty."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source:
        return empty
    try:
        model_field = model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return empty
    if not model_field.has_default() or callable(model_field.default):
        return empty
    return model_field.default


def require_envelope_fields(result, generator, request, public):
    """Postprocessing hook: paginated envelopes always carry every key they declare."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.startswith("Paginated") and "properties" in component:
            component["required"] = list(component["properties"])
    return result


def _health_operation(operation_id: str, summary: str, responses: dict[int, tuple[str, dict]]) -> dict:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["operations"],
            "security": [],
            "responses": {
                str(status): {
                    "description": description,
                    "content": {"application/json": {"schema": {"type": "object", **schema}}},
                }
                for status, (description, schema) in responses.items()
            },
        }
    }


def _status(status: str, database: str | None = None) -> dict:
    properties = {"status": {"type": "string", "enum": [status]}}
    if database:
        properties["database"] = {"type": "string", "enum": [database]}
    return {"properties": properties, "required": list(properties), "additionalProperties": False}


def add_health_endpoints(result, generator, request, public):
    """Postprocessing hook: /healthz and /readyz are plain Django views (no DRF, no database on
    the liveness path), so drf-spectacular cannot see them; docs/api.md lists them, so does the schema."""
    result["paths"]["/healthz"] = _health_operation(
        "healthz", "Liveness: the process serves", {200: ("Serving", _status("ok"))}
    )
    result["paths"]["/readyz"] = _health_operation(
        "readyz",
        "Readiness: the database answers",
        {
            200: ("Ready", _status("ok", "ok")),
            503: ("Database unreachable", _status("unavailable", "unreachable")),
        },
    )
    return result
