"""The API base: auth, the one error shape, the schema and docs."""

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD


@pytest.fixture
def api():
    return APIClient()


def test_anonymous_gets_401_in_the_error_shape(api, db):
    response = api.get("/api/v1/me/")

    assert response.status_code in (401, 403)
    assert set(response.json()) == {"error"}
    assert set(response.json()["error"]) >= {"code", "message", "fields"}
    assert response.json()["error"]["code"] == "not_authenticated"


def test_token_auth_with_identity_number(api, alice):
    token = api.post(
        "/api/v1/auth/token/", {"username": alice.id_number, "password": PASSWORD}, format="json"
    )
    assert token.status_code == 200

    api.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    me = api.get("/api/v1/me/")

    assert me.status_code == 200
    assert me.json()["person"]["id_number"] == alice.id_number
    assert me.json()["person"]["birth_date"] == "1985-03-15"


def test_bad_credentials_name_the_problem_in_the_error_shape(api, alice):
    response = api.post("/api/v1/auth/token/", {"username": alice.id_number}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "password" in response.json()["error"]["fields"]


def test_session_auth(client_for, alice):
    response = client_for(alice).get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json()["person"]["name"] == "Alice"


def test_unknown_api_path_is_404(client_for, alice):
    response = client_for(alice).get("/api/v1/no-such-thing/")

    assert response.status_code == 404


def test_schema_and_docs_are_served_without_a_cdn(client, db):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/me/" in schema.content
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "//unpkg" not in html and "jsdelivr" not in html


def test_application_error_maps_to_the_error_shape():
    from portal.api import exception_handler
    from portal.errors import ApplicationError, Conflict

    response = exception_handler(
        ApplicationError("Bad month", code="bad_month", fields={"period": ["2026-13"]}), {}
    )
    conflict = exception_handler(Conflict("Key reused", code="idempotency_conflict"), {})

    assert response.status_code == 400
    assert response.data == {
        "error": {"code": "bad_month", "message": "Bad month", "fields": {"period": ["2026-13"]}}
    }
    assert conflict.status_code == 409
