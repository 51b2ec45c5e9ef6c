"""The OpenAPI schema is the API's contract (docs/adr/0013-api-contract.md).

For every operation in /api/schema/, one real request as the role it is for
answers 2xx, and the body is validated with ``jsonschema`` against the
schema's response schema for that status, made strict: an object may carry
only the properties it declares, and a success body may not be a free-form
object (a hand-built dict behind ``responses=dict`` or ``OpenApiTypes.OBJECT``
fails here). An operation in the schema without a request below fails, and so
does a request below for an operation the schema does not have.

Money is checked too: every amount in a success body is a yuan string with
exactly two decimals, so no ``*_fen`` integer or other format can come back.
"""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest

from portal.fields import YUAN_PATTERN
from tests.security.test_api_fuzz import DEMO_PASSWORD, _png, demo  # noqa: F401 (fixture)

JSON = "application/json"


def _cases(demo):  # noqa: F811 (the fixture's value)
    """(operation, role, request kwargs for Django's test client); a callable
    path argument is evaluated just before its request."""
    from family.models import FamilyLink, LinkStatus
    from family.services import AGREEMENT_VERSION

    member, relative, expense = demo["member"], demo["relative"], demo["expense"]

    def pending_link():
        return FamilyLink.objects.get(status=LinkStatus.PENDING).pk

    def unconfirmed_link(name: str, seq: int):
        """A new request naming the demo member as the relative, not yet
        confirmed by them (docs/adr/0017)."""
        from tests.conftest import make_member
        from tests.family.conftest import request_link

        sibling = make_member(name, region=member.insured_region, birth=member.birth_date, seq=seq)
        return request_link(sibling, member, relationship="sibling", confirmed=False).pk

    return [
        ("GET /api/v1/me/", "member", "/api/v1/me/", {}),
        ("GET /api/v1/accounts/balance/", "member", "/api/v1/accounts/balance/", {}),
        (
            "GET /api/v1/accounts/{person_id}/balance/",
            "relative",
            f"/api/v1/accounts/{member.pk}/balance/",
            {},
        ),
        (
            "GET /api/v1/family/persons/{person_id}/",
            "relative",
            f"/api/v1/family/persons/{member.pk}/",
            {},
        ),
        ("GET /api/v1/family/grants/", "relative", "/api/v1/family/grants/", {}),
        ("GET /api/v1/family/links/", "member", "/api/v1/family/links/", {}),
        (
            "GET /api/v1/family/links/{id}/",
            "member",
            f"/api/v1/family/links/{demo['lina_link'].pk}/",
            {},
        ),
        (
            "GET /api/v1/family/links/{id}/document/",
            "member",
            f"/api/v1/family/links/{demo['lina_link'].pk}/document/",
            {},
        ),
        (
            "POST /api/v1/family/links/",
            "relative",
            "/api/v1/family/links/",
            {
                "multipart": {
                    "agree": "true",
                    "agreement_version": AGREEMENT_VERSION,
                    "name": member.name,
                    "id_number": member.id_number,
                    "relationship": "spouse",
                    "scope_balance": "true",
                    "scope_pay": "true",
                    "pay_yearly_cap": "2000.00",
                    "document_kind": "commitment_letter",
                }
            },
        ),
        ("GET /api/v1/family/review/", "staff", "/api/v1/family/review/", {}),
        (
            "POST /api/v1/family/review/{id}/",
            "staff",
            lambda: f"/api/v1/family/review/{pending_link()}/",
            {"json": {"decision": "approve"}},
        ),
        (
            "POST /api/v1/family/counter/",
            "staff",
            "/api/v1/family/counter/",
            {
                "json": {
                    "member_id_number": member.id_number,
                    "relative_id_number": relative.id_number,
                }
            },
        ),
        (
            "GET /api/v1/claims/expenses/{expense_id}/",
            "institution",
            f"/api/v1/claims/expenses/{expense.pk}/",
            {},
        ),
        (
            "POST /api/v1/claims/expenses/",
            "institution",
            "/api/v1/claims/expenses/",
            {
                "headers": {"Idempotency-Key": "contract-1"},
                "json": {
                    "patient_id_number": member.id_number,
                    "service_date": expense.service_date.isoformat(),
                    "care_type": "outpatient"
                    if expense.institution.kind == "hospital"
                    else "pharmacy",
                    "lines": [{"catalog_class": "A", "amount": "120.50", "description": "x"}],
                },
            },
        ),
        (
            "POST /api/v1/claims/expenses/{expense_id}/reversal/",
            "institution",
            f"/api/v1/claims/expenses/{expense.pk}/reversal/",
            {"json": {"reason": "contract"}},
        ),
        (
            "POST /api/v1/claims/filing-check/",
            "institution",
            "/api/v1/claims/filing-check/",
            {"json": {"patient_id_number": member.id_number}},
        ),
        (
            "GET /api/v1/payments/calculator/",
            "anonymous",
            "/api/v1/payments/calculator/?base=8000.00",
            {},
        ),
        (
            "POST /api/v1/auth/token/",
            "anonymous",
            "/api/v1/auth/token/",
            {"json": {"username": member.id_number, "password": DEMO_PASSWORD}},
        ),
        (
            "POST /api/v1/family/links/{id}/end/",
            "member",
            f"/api/v1/family/links/{demo['other_link'].pk}/end/",
            {},
        ),
        (
            "POST /api/v1/family/links/{id}/confirm/",
            "member",
            lambda: f"/api/v1/family/links/{unconfirmed_link('Dora', 77)}/confirm/",
            {},
        ),
        (
            "POST /api/v1/family/links/{id}/decline/",
            "member",
            lambda: f"/api/v1/family/links/{unconfirmed_link('Eve', 79)}/decline/",
            {},
        ),
        ("DELETE /api/v1/auth/token/", "member", "/api/v1/auth/token/", {}),
    ]


def _operations(schema: dict) -> dict[str, dict]:
    return {
        f"{method.upper()} {path}": operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict)
    }


def _strict(node, components: dict):
    """The OpenAPI 3.0 schema as plain JSON Schema, $refs inlined, every
    object closed (``additionalProperties: false`` unless stated), and
    ``nullable`` turned into a union with null."""
    if isinstance(node, list):
        return [_strict(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return _strict(copy.deepcopy(components[name]), components)
    out = {key: _strict(value, components) for key, value in node.items()}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if out.pop("nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _free_form(schema: dict) -> bool:
    """A body whose shape the schema does not say: an object without properties."""
    if schema.get("type") == "array":
        return _free_form(schema.get("items", {}))
    if "anyOf" in schema or "allOf" in schema or "oneOf" in schema:
        parts = schema.get("anyOf") or schema.get("allOf") or schema.get("oneOf")
        return any(_free_form(p) for p in parts if p.get("type") != "null")
    return schema.get("type", "object") == "object" and not schema.get("properties")


def _amounts(schema: dict, body, path: str = ""):
    """(where, value) for every value the schema says is a yuan amount."""
    if isinstance(body, list):
        for i, item in enumerate(body):
            yield from _amounts(schema.get("items", {}), item, f"{path}[{i}]")
        return
    options = schema.get("anyOf", []) + schema.get("allOf", [])
    if options:
        for option in options:
            if option.get("type") != "null":
                yield from _amounts(option, body, path)
        return
    if schema.get("pattern") == YUAN_PATTERN:
        yield path, body
    if isinstance(body, dict):
        for key, value in body.items():
            yield from _amounts(schema.get("properties", {}).get(key, {}), value, f"{path}.{key}")


def _request(client, demo, role, method, url, kwargs):  # noqa: F811
    auth = demo["auth"](role)
    headers = {**kwargs.get("headers", {}), **auth["headers"]}
    client.cookies.clear()
    for name, value in auth.get("cookies", {}).items():
        client.cookies[name] = value
    call = getattr(client, method.lower())
    if "json" in kwargs:
        return call(url, kwargs["json"], content_type=JSON, headers=headers)
    if "multipart" in kwargs:
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = {**kwargs["multipart"], "document": SimpleUploadedFile("c.png", _png(), "image/png")}
        return call(url, data, headers=headers)
    return call(url, headers=headers)


def test_every_operation_answers_what_its_schema_says(demo, client):  # noqa: F811
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    operations = _operations(schema)
    cases = _cases(demo)

    # every operation has a request here, and every request an operation
    assert sorted(label for label, *_ in cases) == sorted(operations)

    problems: dict[str, str] = {}
    amounts_seen = 0
    for label, role, url, kwargs in cases:
        method = label.split(" ", 1)[0]
        response = _request(client, demo, role, method, url() if callable(url) else url, kwargs)
        declared = operations[label]["responses"]
        status = str(response.status_code)
        if not 200 <= response.status_code < 300 or status not in declared:
            problems[label] = f"{status} (declared: {sorted(declared)}): {response.content[:300]}"
            continue
        content = declared[status].get("content")
        if content is None:
            if response.content:
                problems[label] = f"{status} declares no body but one came"
            continue
        media = response["Content-Type"].split(";")[0]
        if media not in content:
            problems[label] = f"answered {media}, the schema says {sorted(content)}"
            continue
        if media != JSON:
            continue  # a document: bytes, its type checked above
        body_schema = _strict(content[media]["schema"], components)
        if _free_form(body_schema):
            problems[label] = "the schema does not say the body's shape (a free-form object)"
            continue
        body = response.json()
        try:
            jsonschema.validate(body, body_schema)
        except jsonschema.ValidationError as exc:
            problems[label] = f"{exc.message} at {list(exc.absolute_path)}"
            continue
        for where, value in _amounts(body_schema, body):
            amounts_seen += 1
            if value is not None and not re.fullmatch(YUAN_PATTERN, value):
                problems[label] = f"{where} = {value!r} is not a yuan string"

    assert problems == {}
    assert amounts_seen > 40  # the money check saw the amounts


def test_the_optional_parts_of_a_relatives_view_are_optional_in_the_schema(client, db):
    """A balance-only relative's view has no ``pay_yearly_cap`` and no
    ``records``, and a member without a personal account has ``balance: null``;
    the schema allows both (the demo's relative above holds every scope)."""
    from family.apis import PersonViewOutput
    from members.models import InsuredPerson

    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    strict = _strict({"$ref": "#/components/schemas/PersonViewOutput"}, components)
    person = InsuredPerson(pk=7, name="张伟")
    person.id_number = "110105198503150115"

    balance_only = PersonViewOutput(
        {
            "person": person,
            "scopes": ["balance"],
            "balance": None,
            "has_personal_account": False,
            "pay_not_eligible": False,
        }
    )

    assert set(balance_only.data) == {
        "person",
        "scopes",
        "balance",
        "has_personal_account",
        "pay_not_eligible",
    }
    jsonschema.validate(balance_only.data, strict)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**balance_only.data, "pay_yearly_cap": 2000}, strict)


def test_the_strict_check_refuses_an_undeclared_property_and_a_free_form_body():
    """The checks above can fail: an extra key, a fen integer, a free-form body."""
    components = {
        "Balance": {
            "type": "object",
            "properties": {"total": {"type": "string", "pattern": YUAN_PATTERN}},
            "required": ["total"],
        }
    }
    strict = _strict({"$ref": "#/components/schemas/Balance"}, components)

    jsonschema.validate({"total": "12.50"}, strict)
    for wrong in ({"total": "12.50", "total_fen": 1250}, {"total": 1250}, {"total": "12.5"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, strict)
    assert _free_form({"type": "object", "additionalProperties": {}})
    assert not _free_form(strict)


def test_an_amount_in_an_api_response_has_exactly_two_decimals():
    from portal.fields import YuanField, yuan_text

    assert [yuan_text(f) for f in (0, 5, 50, 123450, -1)] == [
        "0.00",
        "0.05",
        "0.50",
        "1234.50",
        "-0.01",
    ]
    assert YuanField().to_representation(100) == "1.00"
