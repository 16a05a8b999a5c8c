"""Schemathesis walks every operation of /api/schema/ with generated input: no 5xx, and
every response matches the schema (the error shape included). Grows with the API."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.accounts import services as accounts

# Business rules (password strength, who owns what) are not expressible in a schema, so
# "schema-valid input must be accepted" is not a check here; these are.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def host_token(transactional_db: None) -> str:
    # Staff who hosts and promotes: past every permission check, so the fuzz reaches the
    # services behind them.
    user = accounts.user_register(username="fuzzhost", password="a-Strong-passw0rd", role="host")
    type(user).objects.filter(pk=user.pk).update(is_staff=True, is_promoter=True)
    return accounts.token_get_or_create(user=user)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, host_token):
    case.call_and_validate(headers={"Authorization": f"Token {host_token}"}, checks=CHECKS)
