"""Every amount field the portal takes from outside reads it with the one
parser (portal.money.parse_amount) and its stated maximum: an odd value is a
4xx naming the field, and nothing is stored (docs/adr/0007)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from claims.models import BenefitPolicy, Expense
from family.models import FamilyLink
from family.services import AGREEMENT_VERSION
from payments.models import PolicyYear
from tests.claims import conftest as claims_fixtures
from tests.claims.conftest import expense_body, fund
from tests.family import files

# The claims fixtures this module uses (tests/claims/conftest.py).
hospital = claims_fixtures.hospital
policies = claims_fixtures.policies
institution_api = claims_fixtures.institution_api

ODD_VALUES = {
    "1e20 as a JSON number": 1e20,
    "1e30 as a string": "1e30",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "full-width digits": "１０００",
    "underscore": "1_000",
    "trailing no-break space": "1000\u00a0",
    "2^63 as a JSON number": 2**63,
    "2^63 as a string": str(2**63),
}


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="x" * 20)


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


def _form_errors(response) -> dict:
    context = response.context
    form = context["adminform"].form if "adminform" in context else context["form"]
    return form.errors


def expense_line(ctx, value):
    # given: a valid expense but for one line's amount
    body = expense_body(ctx["alice"].id_number, lines=[{"catalog_class": "A", "amount": value}])
    response = ctx["institution_api"](ctx["hospital"]).submit(body, key="odd")
    return (
        response.status_code,
        list(response.json()["error"]["fields"]["lines"]["0"]),
        Expense.objects.count(),
    )


def family_form(ctx, value):
    response = ctx["client_for"](ctx["alice"]).post(
        "/family/add/",
        {
            "agree": "on",
            "agreement_version": AGREEMENT_VERSION,
            "name": ctx["bob"].name,
            "id_number": ctx["bob"].id_number,
            "relationship": "spouse",
            "scope_pay": "on",
            "pay_yearly_cap": _text(value),
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.png", files.png(), "image/png"),
        },
    )
    return response.status_code, list(_form_errors(response)), FamilyLink.objects.count()


def family_api(ctx, value):
    response = ctx["client_for"](ctx["alice"]).post(
        "/api/v1/family/links/",
        {
            "agree": "true",
            "agreement_version": AGREEMENT_VERSION,
            "name": ctx["bob"].name,
            "id_number": ctx["bob"].id_number,
            "relationship": "spouse",
            "scope_pay": "true",
            "pay_yearly_cap": _text(value),
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.png", files.png(), "image/png"),
        },
    )
    return (
        response.status_code,
        list(response.json()["error"]["fields"]),
        FamilyLink.objects.count(),
    )


def calculator_api(ctx, value):
    response = ctx["client"].get(
        "/api/v1/payments/calculator/", {"base": _text(value), "region": "110100", "year": 2026}
    )
    return response.status_code, list(response.json()["error"]["fields"]), 0


def calculator_page(ctx, value):
    response = ctx["client"].get(
        "/payments/calculator/", {"base": _text(value), "region": "110100", "year": 2026}
    )
    assert 'data-testid="quote"' not in response.content.decode()
    return response.status_code, list(_form_errors(response)), 0


def _policy_year(**money):
    return {
        "region": "990100",
        "year": "2026",
        "average_wage_fen": "10000.00",
        "base_floor_ratio": "0.6",
        "base_cap_ratio": "3",
        "employer_rate": "0.08",
        "individual_rate": "0.02",
        "credit_rate": "1",
        "retiree_monthly_credit_fen": "100.00",
        **money,
    }


def _benefit_policy(**money):
    return {
        "region": "990100",
        "scheme": "employee",
        "care_type": "outpatient",
        "year": "2026",
        "pool": "outpatient",
        "deductible_fen": "1800.00",
        "ratio": "0.7",
        "ceiling_fen": "20000.00",
        "class_b_self_ratio": "0.1",
        "current_pocket_allowed": "on",
        **money,
    }


def _admin_add(url: str, model, defaults, field: str):
    """An admin "add" form with one money field set to the odd value."""

    def entry(ctx, value):
        client = ctx["client_for"](ctx["admin_user"])
        response = client.post(url, defaults(**{field: _text(value)}))
        return (
            response.status_code,
            list(_form_errors(response)),
            model.objects.filter(region="990100").count(),
        )

    return entry


ENTRY_POINTS = {
    # name: (call, the field it must name)
    "expense line (institution API)": (expense_line, "amount"),
    "yearly cap (family page)": (family_form, "pay_yearly_cap"),
    "yearly cap (family API)": (family_api, "pay_yearly_cap"),
    "base (calculator API)": (calculator_api, "base"),
    "base (calculator page)": (calculator_page, "base"),
    "average wage (admin)": (
        _admin_add("/admin/payments/policyyear/add/", PolicyYear, _policy_year, "average_wage_fen"),
        "average_wage_fen",
    ),
    "retiree credit (admin)": (
        _admin_add(
            "/admin/payments/policyyear/add/",
            PolicyYear,
            _policy_year,
            "retiree_monthly_credit_fen",
        ),
        "retiree_monthly_credit_fen",
    ),
    "deductible (admin)": (
        _admin_add(
            "/admin/claims/benefitpolicy/add/", BenefitPolicy, _benefit_policy, "deductible_fen"
        ),
        "deductible_fen",
    ),
    "annual ceiling (admin)": (
        _admin_add(
            "/admin/claims/benefitpolicy/add/", BenefitPolicy, _benefit_policy, "ceiling_fen"
        ),
        "ceiling_fen",
    ),
}


@pytest.mark.parametrize("value", ODD_VALUES.values(), ids=ODD_VALUES.keys())
@pytest.mark.parametrize("entry", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_every_amount_field_refuses_odd_values_naming_the_field(
    entry, value, alice, bob, hospital, policies, admin_user, client, client_for, institution_api
):
    call, field = entry
    ctx = {
        "alice": alice,
        "bob": bob,
        "hospital": hospital,
        "admin_user": admin_user,
        "client": client,
        "client_for": client_for,
        "institution_api": institution_api,
    }

    status, named, stored = call(ctx, value)

    assert status == 400
    assert named == [field]
    assert stored == 0


def test_the_same_entry_points_take_a_plain_amount(
    alice, bob, hospital, policies, admin_user, client, client_for, institution_api
):
    """The other side of the coin: the forms above are valid but for the amount."""
    fund(alice, current=100_000)

    assert (
        institution_api(hospital)
        .submit(
            expense_body(alice.id_number, lines=[{"catalog_class": "A", "amount": 12.5}]), key="ok"
        )
        .status_code
        == 201
    )
    assert Expense.objects.get().total_fen == 1250
    page = client_for(alice).post(
        "/family/add/",
        {
            "agree": "on",
            "agreement_version": AGREEMENT_VERSION,
            "name": bob.name,
            "id_number": bob.id_number,
            "relationship": "spouse",
            "scope_pay": "on",
            "pay_yearly_cap": " 2000.50 ",
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.png", files.png(), "image/png"),
        },
    )
    assert page.status_code == 302
    assert FamilyLink.objects.get().pay_yearly_cap_fen == 200050
    assert client.get("/api/v1/payments/calculator/?base=8000").json()["declared_base"] == (
        "8000.00"
    )
    admin = client_for(admin_user)
    assert admin.post("/admin/payments/policyyear/add/", _policy_year()).status_code == 302
    assert PolicyYear.objects.get(region="990100").average_wage_fen == 1_000_000
    assert PolicyYear.objects.get(region="990100").retiree_monthly_credit_fen == 10_000
    assert admin.post("/admin/claims/benefitpolicy/add/", _benefit_policy()).status_code == 302
    assert BenefitPolicy.objects.get(region="990100").ceiling_fen == 2_000_000
    edit = admin.get(
        f"/admin/payments/policyyear/{PolicyYear.objects.get(region='990100').pk}/change/"
    )
    assert 'value="10000.00"' in edit.content.decode()


def test_an_expense_whose_lines_add_up_past_its_maximum_is_refused(
    alice, hospital, policies, institution_api
):
    # given: 11 lines of 1,000,000.00 yuan each, each within the per-line maximum
    lines = [{"catalog_class": "self", "amount": "1000000.00"}] * 11

    response = institution_api(hospital).submit(expense_body(alice.id_number, lines=lines))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "amount_too_large"
    assert list(response.json()["error"]["fields"]) == ["lines"]
    assert Expense.objects.count() == 0


def test_an_expense_line_just_over_its_maximum_is_refused(
    alice, hospital, policies, institution_api
):
    lines = [{"catalog_class": "A", "amount": "1000000.01"}]

    response = institution_api(hospital).submit(expense_body(alice.id_number, lines=lines))

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["lines"]["0"]["amount"]
    assert "1,000,000.00" in message
    assert Expense.objects.count() == 0
