"""The API's JSON is bounded in nesting depth and in size (portal.parsers,
docs/adr/0007): too deep is a 400, too large a 413, both in the one error shape,
never a 500 (Python's json recurses once per level)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from claims.models import Expense
from portal.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from tests.claims import conftest as claims_fixtures
from tests.claims.conftest import expense_body
from tests.conftest import PASSWORD

hospital = claims_fixtures.hospital
policies = claims_fixtures.policies

DEEP = {
    "arrays": "[" * 2000 + "]" * 2000,
    "objects": '{"a":' * 2000 + "1" + "}" * 2000,
    "arrays in a field": '{"username": ' + "[" * 2000 + "]" * 2000 + ', "password": "x"}',
    "unbalanced": "[" * 2000,
    "one over the limit": "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
}


def _shape(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) >= {"code", "message", "fields"}
    return body["error"]


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
def test_the_unauthenticated_token_endpoint_refuses_deep_json(body, db):
    response = APIClient().post("/api/v1/auth/token/", body, content_type="application/json")

    assert response.status_code == 400
    assert _shape(response)["code"] == "parse_error"


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
def test_an_authenticated_endpoint_refuses_deep_json(body, hospital):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {hospital.raw_token}", HTTP_IDEMPOTENCY_KEY="k")

    response = api.post("/api/v1/claims/expenses/", body, content_type="application/json")

    assert response.status_code == 400
    assert _shape(response)["code"] == "parse_error"
    assert Expense.objects.count() == 0


def test_a_staff_endpoint_with_its_own_parser_list_refuses_deep_json(staff, client_for):
    response = client_for(staff).post(
        "/api/v1/family/review/1/", DEEP["objects"], content_type="application/json"
    )

    assert response.status_code == 400
    assert _shape(response)["code"] == "parse_error"


def test_json_as_deep_as_the_limit_is_parsed(alice, hospital, policies):
    # given: a valid expense whose description sits at the limit's depth
    body = expense_body(alice.id_number)
    nested = json.dumps(body)[:-1] + ', "x": ' + "[" * (MAX_JSON_DEPTH - 1)
    nested += "]" * (MAX_JSON_DEPTH - 1) + "}"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {hospital.raw_token}", HTTP_IDEMPOTENCY_KEY="k")

    response = api.post("/api/v1/claims/expenses/", nested, content_type="application/json")

    assert response.status_code == 201, response.json()


def test_the_depth_check_ignores_brackets_inside_strings():
    assert not json_depth_exceeds(json.dumps({"note": "[" * 5000 + "{" * 5000}))
    assert not json_depth_exceeds(json.dumps({"a": '\\"[[[' * 1000}))
    assert json_depth_exceeds("[" * 65 + "]" * 65)
    assert not json_depth_exceeds("[" * 64 + "]" * 64)
    assert not json_depth_exceeds("[]" * 100_000)
    assert json_depth_exceeds('[{"a": ' * 33 + "1" + "}]" * 33)


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/v1/auth/token/", "application/json", '{"username": "%s"}' % ("x" * 3000)),
        ("/api/v1/auth/token/", "application/x-www-form-urlencoded", "username=" + "x" * 3000),
        ("/api/v1/claims/expenses/", "application/json", '{"lines": "%s"}' % ("x" * 3000)),
    ],
)
def test_a_body_over_the_size_limit_is_a_413_in_the_error_shape(
    settings, hospital, path, content_type, body
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {hospital.raw_token}", HTTP_IDEMPOTENCY_KEY="k")

    response = api.post(path, body, content_type=content_type)

    assert response.status_code == 413
    assert _shape(response)["code"] == "request_too_large"
    assert Expense.objects.count() == 0


def test_a_multipart_field_over_the_size_limit_is_a_413_in_the_error_shape(
    settings, alice, client_for
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000

    response = client_for(alice).post("/api/v1/family/links/", {"name": "x" * 3000})

    assert response.status_code == 413
    assert _shape(response)["code"] == "request_too_large"


def test_the_token_endpoint_still_takes_plain_json(alice):
    response = APIClient().post(
        "/api/v1/auth/token/",
        json.dumps({"username": alice.id_number, "password": PASSWORD}),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["token"]


def test_a_body_over_the_default_limit_is_a_413(db, settings):
    # given: Django's default limit (2.5 MB), and a JSON body just over it
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = '{"username": "' + "x" * size + '"}'

    response = APIClient().post("/api/v1/auth/token/", body, content_type="application/json")

    assert response.status_code == 413
    assert _shape(response)["code"] == "request_too_large"
