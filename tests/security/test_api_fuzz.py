"""Schemathesis against /api/schema/: no 5xx, every response matches the schema.

The WSGI app is called in-process inside the test transaction (so the cast's
data is there); examples are limited to keep the suite fast.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from members.services import member_token_create

EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app(db):
    # As Django's test client does: keep the test's connection (and its
    # transaction) open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)


@pytest.fixture
def token(alice, bob):
    # a fresh token per call: DELETE /api/v1/auth/token/ revokes the one it is sent with
    return lambda: member_token_create(user=alice.user)[1]


def test_api_conforms_to_its_schema(api_schema, token):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    failures: dict[str, str] = {}
    statuses: dict[str, set[int]] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            response = case.call_and_validate(
                headers={"Authorization": f"Token {token()}"}, checks=CHECKS
            )
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect all, report together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]

    assert len(operations) >= 10
    assert failures == {}
    # the token is used: the member's own endpoints answer 200
    assert 200 in statuses["GET /api/v1/me/"]


def test_an_api_url_no_route_matches_answers_in_the_error_shape(client, db):
    response = client.get("/api/v1/no/such/route/-1/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["fields"] == {}


def test_pages_still_get_the_html_404(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_schema_documents_the_error_shape(client, db):
    schema = client.get("/api/schema/?format=json").json()

    me = schema["paths"]["/api/v1/me/"]["get"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "429"} <= set(me)
    assert me["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
