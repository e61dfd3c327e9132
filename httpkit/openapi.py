"""OpenAPI (drf-spectacular): the Bearer/OAuth2 scheme, the error bodies, and the schema class.

Views declare their success responses and the errors only they know about with
`error_responses({404: "...", 409: "..."})`; the schema class adds the errors every endpoint of
a kind can answer (401 when credentials are needed, 400/413/415 when a body is read, 404 on a
path with an id, 429 when throttled, 503 while the database is unreachable), and on the
operations that take an Idempotency-Key the header and its 409 and 422.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import AllowAny

from .converters import MAX_ID
from .errors import ErrorSerializer, ValidationErrorSerializer
from .idempotency import HEADER as IDEMPOTENCY_KEY
from .idempotency import KEY_PATTERN, takes_idempotency_key

TOKEN_URL = "/api/v1/auth/token/"  # noqa: S105 (a path, not a secret)
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class ValidationErrorSchema(OpenApiSerializerExtension):
    target_class = ValidationErrorSerializer

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": "Each invalid field (or `non_field_errors`) with its messages; "
            "a malformed body gives `detail` instead.",
            "properties": {"detail": {"type": "string"}},
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
    """drf-spectacular's schema, plus the error responses that follow from how a view is built."""

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

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status, response in error_responses(dict.fromkeys(self._implied_errors())).items():
            responses.setdefault(str(status), self._get_response_for_code(response, str(status)))
        if takes_idempotency_key(self._handler()):
            self._add_idempotency_errors(responses)
        for status, headers in ERROR_HEADERS.items():
            if str(status) in responses:
                responses[str(status)].setdefault("headers", {}).update(headers)
        return dict(sorted(responses.items()))

    def _add_idempotency_errors(self, responses: dict) -> None:
        if "409" in responses:  # the operation's own conflict: one status, both meanings
            responses["409"]["description"] += f"; or: {KEY_IN_USE}"
        else:
            responses["409"] = self._get_response_for_code(error_responses({409: KEY_IN_USE})[409], "409")
        responses["409"].setdefault("headers", {}).update(RETRY_AFTER)
        responses["422"] = self._get_response_for_code(error_responses({422: None})[422], "422")

    def _implied_errors(self) -> list[int]:
        implied = []
        if self.method in ("POST", "PUT", "PATCH"):
            implied += [400, 413, 415]
        elif self.method == "GET" and self._is_list_view():
            implied.append(400)
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
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
