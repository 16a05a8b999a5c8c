"""The published schema is valid OpenAPI 3, and the docs page works with no network."""

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_schema_is_valid_openapi_3(api):
    reply = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert reply.status_code == 200
    schema = reply.json()
    assert schema["openapi"].startswith("3.")
    validate(schema)
    for path in (
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/me/",
        "/api/farms/",
        "/api/farms/{id}/",
        "/api/products/",
        "/api/products/{id}/",
        "/api/sessions/",
        "/api/sessions/{id}/",
        "/api/auth/ws-ticket/",
    ):
        assert path in schema["paths"], path
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    register = schema["paths"]["/api/auth/register/"]["post"]["responses"]
    assert register["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_swagger_ui_is_served_from_our_own_static_files(api):
    page = api.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # the asset itself is served (WhiteNoise from the installed sidecar)
    asset = api.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200
