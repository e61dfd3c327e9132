"""The OpenAPI schema tells the truth about docs/api.md, and Swagger UI is served without a CDN."""

import re

import pytest
from django.core.management import call_command
from django.db import OperationalError

from conftest import LIST_PARAMETERS
from httpkit.converters import MAX_ID

API_OPERATIONS = {
    ("post", "/api/v1/users/"),
    ("get", "/api/v1/users/me/"),
    ("patch", "/api/v1/users/me/"),
    ("delete", "/api/v1/users/me/"),
    ("post", "/api/v1/users/me/password/"),
    ("get", "/api/v1/users/{id}/"),
    ("post", "/api/v1/auth/token/"),
    ("post", "/api/v1/auth/token/refresh/"),
    ("post", "/api/v1/auth/logout/"),
    ("post", "/api/v1/auth/password-recovery/"),
    ("post", "/api/v1/auth/password-reset/"),
    ("get", "/api/v1/posts/"),
    ("get", "/api/v1/posts/mine/"),
    ("post", "/api/v1/posts/"),
    ("get", "/api/v1/posts/{id}/"),
    ("put", "/api/v1/posts/{id}/"),
    ("patch", "/api/v1/posts/{id}/"),
    ("delete", "/api/v1/posts/{id}/"),
    ("post", "/api/v1/votes/"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/v1/users/"),
    ("post", "/api/v1/auth/token/"),
    ("post", "/api/v1/auth/token/refresh/"),
    ("post", "/api/v1/auth/password-recovery/"),
    ("post", "/api/v1/auth/password-reset/"),
}
ERROR = "#/components/schemas/Error"
FIELD_ERRORS = "#/components/schemas/ValidationError"


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema, api_only=False):
    for path, item in schema["paths"].items():
        if api_only and not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            yield method, path, operation


def error_ref(operation, status):
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]["$ref"]


def test_schema_is_valid_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.0.3")


def test_schema_lists_exactly_the_api_operations(schema):
    assert {(method, path) for method, path, _ in operations(schema)} == API_OPERATIONS


def test_bearer_tokens_are_an_oauth2_password_flow(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["type"] == "oauth2"
    assert schemes["OAuth2PasswordBearer"]["flows"] == {
        "password": {"tokenUrl": "/api/v1/auth/token/", "scopes": {}}
    }


def test_public_endpoints_need_no_credentials_and_others_do(schema):
    for method, path, operation in operations(schema):
        if (method, path) in PUBLIC:
            assert operation.get("security", []) in ([], [{}]), (method, path)
            assert "401" not in operation["responses"] or path.startswith("/api/v1/auth/token/")
        else:
            assert {"OAuth2PasswordBearer": []} in operation["security"], (method, path)
            assert error_ref(operation, 401) == ERROR
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


def test_every_operation_documents_503_and_bodies_documents_400_413_415(schema):
    for method, path, operation in operations(schema, api_only=True):
        assert error_ref(operation, 503) == ERROR, (method, path)
        assert "Retry-After" in operation["responses"]["503"]["headers"]
        if method in ("post", "put", "patch"):
            assert error_ref(operation, 400) == FIELD_ERRORS, (method, path)
            assert error_ref(operation, 413) == ERROR
            assert error_ref(operation, 415) == ERROR
        if "{id}" in path:
            assert error_ref(operation, 404) == ERROR


def test_bad_request_schema_is_detail_or_drf_field_errors(schema):
    schemas = schema["components"]["schemas"]
    assert schemas["ValidationError"] == {
        "oneOf": [{"$ref": "#/components/schemas/Detail"}, {"$ref": "#/components/schemas/FieldErrors"}]
    }
    assert schemas["Detail"]["required"] == ["detail"]
    field_errors = schemas["FieldErrors"]
    assert field_errors["additionalProperties"] == {"type": "array", "items": {"type": "string"}}
    assert "properties" not in field_errors


def test_token_endpoint_declares_the_oauth2_form_and_answers_the_pair(schema):
    token = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert set(token["requestBody"]["content"]) == {"application/x-www-form-urlencoded"}
    request = schema["components"]["schemas"]["TokenObtainRequest"]
    assert {"username", "email", "password", "grant_type"} <= set(request["properties"])
    assert request["required"] == ["password"]
    assert token["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TokenPair")
    pair = schema["components"]["schemas"]["TokenPair"]
    assert set(pair["properties"]) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert set(pair["required"]) == set(pair["properties"])
    assert error_ref(token, 401) == "#/components/schemas/OAuth2Error"
    refusal = schema["components"]["schemas"]["OAuth2Error"]
    assert set(refusal["properties"]) == {"detail", "error", "error_description"}
    assert error_ref(token, 429) == ERROR
    assert "Retry-After" in token["responses"]["429"]["headers"]


def test_votes_document_every_status_of_the_contract(schema):
    votes = schema["paths"]["/api/v1/votes/"]["post"]
    assert {"200", "201", "400", "401", "404", "409"} <= set(votes["responses"])
    request = schema["components"]["schemas"]["VoteRequest"]
    assert request["properties"]["dir"]["minimum"] == 0
    assert request["properties"]["dir"]["maximum"] == 1
    assert error_ref(votes, 409) == ERROR


def test_post_changes_document_403_for_non_owners(schema):
    item = schema["paths"]["/api/v1/posts/{id}/"]
    for method in ("put", "patch", "delete"):
        assert error_ref(item[method], 403) == ERROR
    assert "403" not in item["get"]["responses"]


@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/v1/posts/mine/"])
def test_list_parameters_have_types_and_enums(schema, path):
    operation = schema["paths"][path]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert set(params) == set(LIST_PARAMETERS)
    assert params["created_after"] == {"type": "string", "format": "date"}
    assert params["owner"]["type"] == "integer"
    # One value: generators send arrays as repeated parameters, which the server refuses.
    assert params["ordering"]["type"] == "string"
    assert set(params["ordering"]["enum"]) == {"created_at", "-created_at", "votes", "-votes"}
    assert "explode" not in next(p for p in operation["parameters"] if p["name"] == "ordering")
    assert params["limit"] == {"type": "integer", "minimum": 1, "default": 10}
    # No default for offset: a generated client would send it next to every cursor (a 400).
    assert params["offset"] == {"type": "integer", "minimum": 0, "maximum": 10_000}
    assert params["cursor"] == {"type": "string"}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("/PaginatedPostList")
    assert error_ref(operation, 400) == FIELD_ERRORS


def test_path_ids_are_integers(schema):
    for method, path, operation in operations(schema):
        for param in operation.get("parameters", []):
            if param["in"] == "path":
                expected = {"type": "integer", "minimum": 1, "maximum": MAX_ID, "example": 1}
                assert param["schema"] == expected, (method, path)


@pytest.mark.django_db
def test_health_answers_match_their_schema(schema, client, monkeypatch):
    import jsonschema

    def body_schema(path, status):
        return schema["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]

    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200
        jsonschema.validate(response.json(), body_schema(path, 200))

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.backends.base.base.BaseDatabaseWrapper.cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    jsonschema.validate(response.json(), body_schema("/readyz", 503))


@pytest.mark.django_db
def test_swagger_ui_is_served_from_the_app_without_a_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    scripts = [a for a in assets if a.endswith(".js")]
    assert any("swagger-ui-bundle" in a for a in scripts)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset


@pytest.mark.django_db
def test_rejected_token_body_matches_the_error_schema(schema, api_client):
    import jsonschema

    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    response = api_client.get("/api/v1/users/me/")
    assert response.status_code == 401
    assert {"detail", "code", "messages"} <= set(response.json())
    assert response.json()["code"] in schema["components"]["schemas"]["TokenRejectionCodeEnum"]["enum"]
    jsonschema.validate(response.json(), {"$ref": ERROR, "components": schema["components"]})


def test_every_write_declares_exactly_one_request_media_type(schema):
    for method, path, operation in operations(schema, api_only=True):
        if "requestBody" in operation:
            form = path == "/api/v1/auth/token/"
            expected = "application/x-www-form-urlencoded" if form else "application/json"
            assert list(operation["requestBody"]["content"]) == [expected], (method, path)


def test_response_fields_the_server_always_sends_are_required(schema):
    schemas = schema["components"]["schemas"]
    assert set(schemas["Post"]["required"]) == set(schemas["Post"]["properties"])
    for shape in ("UserOwn", "UserPublic", "UserRef"):
        assert set(schemas[shape]["required"]) == set(schemas[shape]["properties"]), shape
    assert set(schemas["OAuth2Error"]["required"]) == {"detail", "error", "error_description"}
    assert schemas["Error"]["required"] == ["detail"]
    envelope = schemas["PaginatedPostList"]
    assert set(envelope["required"]) == set(envelope["properties"])


def test_request_defaults_and_examples_are_what_the_server_accepts(schema):
    schemas = schema["components"]["schemas"]
    assert schemas["PostRequest"]["properties"]["published"]["default"] is True
    assert "published" not in schemas["PostRequest"]["required"]
    vote = schemas["VoteRequest"]["properties"]
    assert (vote["post_id"]["example"], vote["dir"]["example"]) == (1, 1)
    login = schemas["TokenObtainRequest"]["properties"]
    assert login["username"]["example"] == schemas["UserCreateRequest"]["properties"]["email"]["example"]
    assert login["password"]["example"] == schemas["UserCreateRequest"]["properties"]["password"]["example"]


def test_token_rejection_codes_list_every_code_the_authentication_sends(schema):
    import inspect

    import rest_framework_simplejwt.authentication
    import rest_framework_simplejwt.exceptions

    import accounts.authentication

    sources = [
        inspect.getsource(module)
        for module in (
            rest_framework_simplejwt.authentication,
            rest_framework_simplejwt.exceptions,
            accounts.authentication,
        )
    ]
    sent = {code for source in sources for code in re.findall(r"(?:code=|default_code = )\"(\w+)\"", source)}
    assert "password_changed" in sent
    assert sent == set(schema["components"]["schemas"]["TokenRejectionCodeEnum"]["enum"])


def test_schema_offers_no_cookie_scheme(schema):
    assert set(schema["components"]["securitySchemes"]) == {"OAuth2PasswordBearer"}


@pytest.mark.parametrize("path", ["/api/v1/posts/", "/api/v1/posts/mine/"])
def test_lists_document_count_exact_and_the_link_header(schema, path):
    ok = schema["paths"][path]["get"]["responses"]["200"]
    assert {"Link", "X-RateLimit-Remaining"} <= set(ok["headers"])
    page = schema["components"]["schemas"]["PaginatedPostList"]
    assert page["required"] == ["count", "count_exact", "next", "previous", "results"]
    assert page["properties"]["count_exact"]["type"] == "boolean"
