"""No input gives a 500: every page's and API's query parameters, path ids and
form fields, probed with impossible dates, numbers past 64 bits, negative
pages, long strings, NUL characters and invalid UTF-8 (docs/adr/0007).

Each case sends every odd value to one parameter and lists what answered 5xx.
"""

from __future__ import annotations

import pytest

from family.models import FamilyLink, LinkStatus
from tests.claims import conftest as claims_fixtures
from tests.claims.conftest import expense_body
from tests.family.conftest import request_link

hospital = claims_fixtures.hospital
policies = claims_fixtures.policies
institution_api = claims_fixtures.institution_api

HUGE = "9" * 25
ODD = [
    "2026-02-30",
    "2026-13",
    "9" * 5000,
    "99999999999",
    HUGE,
    "-1",
    "x" * 5000,
    "\x00",
    "a\x00b",
    "2026-01-01_" + HUGE,
    "2026-02-30_1",
]
RAW = ["%ff%fe", "%00", "%c0%af"]  # invalid UTF-8 and NUL, as sent on the wire

MEMBER_QUERIES = [
    ("/dashboard/records/", "year"),
    ("/dashboard/records/", "status"),
    ("/dashboard/records/", "after"),
    ("/dashboard/records/", "after_expense"),
    ("/dashboard/records/", "person"),
    ("/dashboard/records.csv", "year"),
    ("/dashboard/records.csv", "person"),
    ("/dashboard/summary/", "year"),
    ("/dashboard/certificate/", "start"),
    ("/dashboard/certificate.pdf", "start"),
    ("/dashboard/certificate.pdf", "end"),
    ("/dashboard/", "person"),
    ("/verify/", "code"),
    ("/family/switch/", "person"),
    ("/payments/calculator/", "year"),
    ("/payments/calculator/", "region"),
    ("/api/v1/payments/calculator/", "year"),
    ("/api/v1/payments/calculator/", "region"),
]
STAFF_QUERIES = [
    ("/family/review/", "after"),
    ("/api/v1/family/review/", "after"),
    ("/staff/settlement/", "before"),
    ("/admin/payments/contribution/", "period__year"),
    ("/admin/payments/contribution/", "period__month"),
    ("/admin/payments/contribution/", "status__exact"),
    ("/admin/claims/settlementbatch/", "period__year"),
    ("/admin/claims/settlementbatch/", "status__exact"),
    ("/admin/members/insuredperson/", "q"),
    ("/admin/audit/auditevent/", "p"),
    ("/admin/claims/benefitpolicy/", "year__exact"),
    ("/admin/payments/policyyear/", "year"),
    ("/admin/payments/contribution/", "person__id__exact"),
    ("/admin/payments/contribution/", "o"),
]
MEMBER_PATHS = [
    f"/dashboard/{HUGE}/",
    f"/dashboard/{HUGE}/",
    f"/family/links/{HUGE}/",
    f"/api/v1/family/links/{HUGE}/",
    f"/api/v1/accounts/{HUGE}/balance/",
    f"/api/v1/family/persons/{HUGE}/",
    f"/dashboard/ecert/{HUGE}/token",
    "/verify/%00",
    "/verify/" + "x" * 5000,
]
STAFF_PATHS = [
    f"/staff/settlement/{HUGE}/",
    f"/staff/settlement/{HUGE}/progress.json",
    f"/staff/settlement/{HUGE}/expenses.csv",
    f"/payments/import/{HUGE}/",
    f"/payments/import/{HUGE}/report.csv",
]


@pytest.fixture
def root(db, django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="x" * 20)


def _server_errors(client, path: str, param: str) -> list:
    failed = []
    for value in ODD:
        status = client.get(path, {param: value}).status_code
        if status >= 500:
            failed.append((value[:30], status))
    for raw in RAW:
        status = client.get(f"{path}?{param}={raw}").status_code
        if status >= 500:
            failed.append((raw, status))
    return failed


@pytest.mark.parametrize(("path", "param"), MEMBER_QUERIES)
def test_member_query_parameters(path, param, alice, client_for):
    assert _server_errors(client_for(alice), path, param) == []


@pytest.mark.parametrize(("path", "param"), STAFF_QUERIES)
def test_staff_query_parameters(path, param, root, client_for):
    assert _server_errors(client_for(root), path, param) == []


def test_path_ids_past_64_bits(alice, root, client_for, client):
    member = client_for(alice)
    failed = [p for p in MEMBER_PATHS if member.get(p).status_code >= 500]
    staff = client_for(root)
    failed += [p for p in STAFF_PATHS if staff.get(p).status_code >= 500]

    assert failed == []


def test_form_fields(alice, bob, root, client, client_for, settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    link = request_link(alice, bob)
    failed = []
    for value in ODD:
        posts = [
            (client, "/accounts/login/", {"username": value, "password": value}),
            (client, "/api/v1/auth/token/", {"username": value, "password": value}),
            (client, "/i18n/setlang/", {"language": value, "next": value}),
            (
                client_for(alice),
                "/family/add/",
                {"name": value, "id_number": value, "relationship": value, "pay_yearly_cap": value},
            ),
            (
                client_for(alice),
                "/api/v1/family/links/",
                {"name": value, "id_number": value, "relationship": "spouse", "agree": "true"},
            ),
            (
                client_for(root),
                "/family/counter/",
                {"member_id_number": value, "relative_id_number": value},
            ),
            (
                client_for(root),
                "/api/v1/family/counter/",
                {"member_id_number": value, "relative_id_number": value},
            ),
            (
                client_for(root),
                f"/family/review/{link.pk}/",
                {"decision": "reject", "reason": value},
            ),
            (client_for(root), f"/family/review/{HUGE}/", {"decision": "approve"}),
            (client_for(root), "/accounts/two-factor/", {"token": value, "next": value}),
        ]
        for who, path, data in posts:
            status = who.post(path, data).status_code
            if status >= 500:
                failed.append((path, value[:30], status))

    assert failed == []
    # the NUL reason was refused, not stored
    assert FamilyLink.objects.get(pk=link.pk).status in (LinkStatus.PENDING, LinkStatus.REJECTED)
    assert "\x00" not in FamilyLink.objects.get(pk=link.pk).reason


def test_a_reason_with_a_nul_is_refused_on_the_review_page(
    alice, bob, root, client_for, settings, tmp_path
):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    link = request_link(alice, bob)

    response = client_for(root).post(
        f"/family/review/{link.pk}/", {"decision": "reject", "reason": "bad\x00"}, follow=True
    )

    assert response.status_code == 200
    assert FamilyLink.objects.get(pk=link.pk).status == LinkStatus.PENDING


def test_institution_api_fields(alice, hospital, policies, institution_api):
    api = institution_api(hospital)
    failed = []
    for i, value in enumerate(ODD):
        bodies = {
            "service_date": expense_body(alice.id_number, day=value),
            "patient_id_number": expense_body(value),
            "care_type": expense_body(alice.id_number, care_type=value),
            "catalog_class": expense_body(
                alice.id_number, lines=[{"catalog_class": value, "amount": "1"}]
            ),
            "description": expense_body(
                alice.id_number, lines=[{"catalog_class": "A", "amount": "1", "description": value}]
            ),
        }
        for name, body in bodies.items():
            status = api.submit(body, key=f"{name}-{i}").status_code
            if status >= 500:
                failed.append((name, value[:30], status))
        if (status := api.submit(expense_body(alice.id_number), key=value).status_code) >= 500:
            failed.append(("Idempotency-Key", value[:30], status))
        if (status := api.reverse(HUGE, reason=value).status_code) >= 500:
            failed.append(("reversal", value[:30], status))

    assert failed == []
