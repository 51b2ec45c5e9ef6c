"""Schemathesis against /api/schema/, as every role: no 5xx, every response
matches the schema (issue 15, finding 11).

The data is the demo (``seed_demo``): 张伟 is the member, 李娜 the relative
holding an approved link (every scope, power of attorney), ``staff`` a staff
member whose session passed the one-time code, and the demo hospital an
institution with a Bearer token. Two tests:

- ``test_every_operation_succeeds_for_its_role``: one known-good request per
  operation, as the role it is for, answers 2xx and matches the schema (so a
  success path is exercised for every operation; a new operation without an
  example fails here until one is added);
- ``test_api_conforms_to_its_schema_as``: generated requests for every
  operation as each role (and anonymous), ``EXAMPLES`` per operation, so the
  suite stays fast.

The WSGI app is called in-process inside the test transaction.
"""

import os

import pytest
import schemathesis
from django.core.management import call_command
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

# Generated requests per operation and role; FUZZ_EXAMPLES=200 for a deeper run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DEMO_PASSWORD = "demo-pass-2026"
CSRF = "fuzzcsrf" * 4  # a valid unmasked CSRF secret (32 letters)

# Known failures in other areas' endpoints: one check of one operation each,
# naming the problem. That check is left out for that operation only (every
# other check still runs on it); the success test checks it separately and
# xfails while it fails, and fails once it passes (then remove it here).
KNOWN: dict[str, tuple[list, str]] = {}
# The same checks of the same operations, but only those checks, are what the
# generated requests may fail; everything else must pass.


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
def demo(db, settings, tmp_path, client):
    """The demo data and a way to authenticate as each role."""
    from claims.models import Expense
    from claims.services import institution_token_create
    from family.models import FamilyLink
    from members import demo as members_demo
    from members.models import User
    from tests.conftest import _pass_otp

    settings.PRIVATE_MEDIA_ROOT = tmp_path
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    # generous limits: the fuzzing sends hundreds of requests per role
    settings.API_THROTTLE_MEMBER = settings.API_THROTTLE_ANON = "100000/minute"
    settings.API_THROTTLE_INSTITUTION = "100000/minute"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    member = members_demo.person("zhangwei")
    relative = members_demo.person("lina")
    staff = User.objects.get(username="staff")
    expense = Expense.objects.order_by("-service_date", "-pk").first()
    _token, bearer = institution_token_create(institution=expense.institution)
    client.force_login(staff)
    _pass_otp(client, staff)
    staff_session = client.cookies["sessionid"].value

    def auth(role: str) -> dict:
        if role in ("member", "relative"):
            user = (member if role == "member" else relative).user
            # a fresh token per call: DELETE /api/v1/auth/token/ revokes its own
            return {"headers": {"Authorization": f"Token {member_token_create(user=user)[1]}"}}
        if role == "staff":
            return {
                "headers": {"X-CSRFToken": CSRF},
                "cookies": {"sessionid": staff_session, "csrftoken": CSRF},
            }
        if role == "institution":
            return {"headers": {"Authorization": f"Bearer {bearer}"}}
        return {"headers": {}}

    links = {link.relative_id: link for link in FamilyLink.objects.filter(member=member)}
    return {
        "auth": auth,
        "member": member,
        "relative": relative,
        "expense": expense,
        "lina_link": links[relative.pk],
        "other_link": links[members_demo.person("zhangxiaoyu").pk],
    }


def _png() -> bytes:
    from tests.family import files

    return files.png()


def _success_cases(demo):
    """(operation, role, Case arguments) in the order they run; a callable
    argument is evaluated just before its request (it may need an earlier one)."""
    from family.models import FamilyLink, LinkStatus
    from family.services import AGREEMENT_VERSION

    member, relative, expense = demo["member"], demo["relative"], demo["expense"]

    def pending_link():
        return {"id": FamilyLink.objects.get(status=LinkStatus.PENDING).pk}

    def lina_asks():
        return FamilyLink.objects.get(member=relative, relative=member)

    def father_asks():
        from members import demo as members_demo
        from tests.family.conftest import request_link

        father = members_demo.person("zhangjianguo")
        return request_link(father, member, relationship="child", confirmed=False)

    json = "application/json"
    return [
        ("GET /api/v1/me/", "member", {}),
        ("GET /api/v1/accounts/balance/", "member", {}),
        (
            "GET /api/v1/accounts/{person_id}/balance/",
            "relative",
            {"path_parameters": {"person_id": member.pk}},
        ),
        (
            "GET /api/v1/family/persons/{person_id}/",
            "relative",
            {"path_parameters": {"person_id": member.pk}},
        ),
        ("GET /api/v1/family/grants/", "relative", {}),
        ("GET /api/v1/family/links/", "member", {}),
        (
            "GET /api/v1/family/links/{id}/",
            "member",
            {"path_parameters": {"id": demo["lina_link"].pk}},
        ),
        (
            "GET /api/v1/family/links/{id}/document/",
            "member",
            {"path_parameters": {"id": demo["lina_link"].pk}},
        ),
        (
            "POST /api/v1/family/links/",
            "relative",  # 李娜 asks 张伟 to be her linked relative
            {
                "media_type": "multipart/form-data",
                "body": {
                    "agree": "true",
                    "agreement_version": AGREEMENT_VERSION,
                    "name": member.name,
                    "id_number": member.id_number,
                    "relationship": "spouse",
                    "scope_balance": "true",
                    "document_kind": "commitment_letter",
                    "document": _png(),
                },
                "multipart_content_types": {"document": "image/png"},
            },
        ),
        ("GET /api/v1/family/review/", "staff", {}),
        (
            "POST /api/v1/family/review/{id}/",
            "staff",
            {"path_parameters": pending_link, "media_type": json, "body": {"decision": "approve"}},
        ),
        (
            "POST /api/v1/family/links/{id}/confirm/",
            "member",  # 张伟 confirms the link 李娜 asked for
            {"path_parameters": lambda: {"id": lina_asks().pk}},
        ),
        (
            "POST /api/v1/family/links/{id}/decline/",
            "member",  # 张伟 declines his father's request
            {"path_parameters": lambda: {"id": father_asks().pk}},
        ),
        (
            "POST /api/v1/family/counter/",
            "staff",
            {
                "media_type": json,
                "body": {
                    "member_id_number": member.id_number,
                    "relative_id_number": relative.id_number,
                },
            },
        ),
        (
            "GET /api/v1/claims/expenses/{expense_id}/",
            "institution",
            {"path_parameters": {"expense_id": expense.pk}},
        ),
        (
            "POST /api/v1/claims/expenses/",
            "institution",
            {
                "headers": {"Idempotency-Key": "fuzz-success-1"},
                "media_type": json,
                "body": {
                    "patient_id_number": member.id_number,
                    "service_date": expense.service_date.isoformat(),
                    "care_type": "outpatient"
                    if expense.institution.kind == "hospital"
                    else "pharmacy",
                    "lines": [{"catalog_class": "A", "amount": "120.00", "description": "fuzz"}],
                },
            },
        ),
        (
            "POST /api/v1/claims/filing-check/",
            "institution",
            {"media_type": json, "body": {"patient_id_number": member.id_number}},
        ),
        (
            "POST /api/v1/claims/expenses/{expense_id}/reversal/",
            "institution",
            {
                "path_parameters": {"expense_id": expense.pk},
                "media_type": json,
                "body": {"reason": "fuzz"},
            },
        ),
        ("GET /api/v1/payments/calculator/", "anonymous", {"query": {"base": "8000.00"}}),
        (
            "POST /api/v1/auth/token/",
            "anonymous",
            {"media_type": json, "body": {"username": member.id_number, "password": DEMO_PASSWORD}},
        ),
        (
            "POST /api/v1/family/links/{id}/end/",
            "member",
            {"path_parameters": {"id": demo["other_link"].pk}},
        ),
        ("DELETE /api/v1/auth/token/", "member", {}),
    ]


def test_every_operation_succeeds_for_its_role(api_schema, demo):
    operations = {op.label: op for op in (r.ok() for r in api_schema.get_all_operations())}
    cases = _success_cases(demo)
    statuses: dict[str, int] = {}

    still_failing, fixed = [], []

    assert sorted(label for label, _role, _kw in cases) == sorted(operations)
    for label, role, kwargs in cases:
        kwargs = {k: (v() if callable(v) else v) for k, v in kwargs.items()}
        auth = demo["auth"](role)
        headers = {**kwargs.pop("headers", {}), **auth["headers"]}
        case = operations[label].Case(headers=headers, **kwargs)
        known_checks, why = KNOWN.get(label, ([], ""))
        response = case.call_and_validate(
            cookies=auth.get("cookies"), checks=CHECKS, excluded_checks=known_checks
        )
        statuses[label] = response.status_code
        if known_checks:
            try:
                case.validate_response(response, checks=known_checks)
            except (Exception, BaseExceptionGroup):  # schemathesis raises a FailureGroup
                still_failing.append(f"{label}: {why}")
            else:
                fixed.append(label)

    assert {label: status for label, status in statuses.items() if not 200 <= status < 300} == {}
    # a known problem that the well-formed request does not show any more
    fixed = [label for label in fixed if label != "POST /api/v1/claims/expenses/"]
    assert fixed == [], "fixed: remove these from KNOWN"
    if still_failing:
        pytest.xfail("; ".join(still_failing))


@pytest.mark.parametrize("role", ["member", "relative", "staff", "institution", "anonymous"])
def test_api_conforms_to_its_schema_as(role, api_schema, demo):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    failures: dict[str, str] = {}
    statuses: dict[str, set[int]] = {}
    seen_known: dict[str, str] = {}

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
            auth = demo["auth"](role)
            label = case.operation.label
            known_checks, why = KNOWN.get(label, ([], ""))
            response = case.call_and_validate(
                headers=auth["headers"],
                cookies=auth.get("cookies"),
                checks=CHECKS,
                excluded_checks=known_checks,
            )
            statuses.setdefault(label, set()).add(response.status_code)
            if known_checks:
                try:
                    case.validate_response(response, checks=known_checks)
                except (Exception, BaseExceptionGroup):
                    seen_known[label] = why

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect all, report together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]

    assert len(operations) >= 19
    assert failures == {}
    # the role's credentials are used: its own endpoints answer 200
    own = {
        "member": "GET /api/v1/me/",
        "relative": "GET /api/v1/family/grants/",
        "staff": "GET /api/v1/family/review/",
        "anonymous": "GET /api/v1/payments/calculator/",
    }
    if role in own:
        assert 200 in statuses[own[role]]
    if seen_known:
        pytest.xfail("; ".join(f"{label}: {why}" for label, why in seen_known.items()))


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
