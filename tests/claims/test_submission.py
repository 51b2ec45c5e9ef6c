"""Institutions submit expenses over the API: the worked examples end to end,
idempotency, authentication, reversal, mutual assistance, races."""

import datetime as dt

import pytest

from accounts.models import JournalTransaction, Posting
from accounts.selectors import account_balance_fen, ledger_offenders, pocket_balances
from accounts.services import institution_payable
from claims.models import Expense, ExpensePart, FundAccumulator
from claims.services import LineInput, expense_submit
from members.idnumber import make_id_number
from tests.concurrency import run_concurrently
from tests.conftest import make_member

from .conftest import expense_body, fund

pytestmark = pytest.mark.usefixtures("policies")


def _parts(data):
    return [(p["payer"], p["component"], p["amount"]) for p in data["parts"]]


def test_example_1_outpatient_over_the_api(alice, hospital, institution_api):
    fund(alice, current=50000, prior=100000)
    body = expense_body(
        alice.id_number,
        "outpatient",
        [
            {"catalog_class": "A", "amount": "1000.00", "description": "consultation"},
            {"catalog_class": "B", "amount": "2000.00"},
            {"catalog_class": "self", "amount": "300.00"},
        ],
    )

    r = institution_api(hospital).submit(body, key="visit-1")

    assert r.status_code == 201, r.json()
    data = r.json()
    assert (data["total"], data["fund"], data["account"], data["cash"]) == (
        "3300.00",
        "700.00",
        "1500.00",
        "1100.00",
    )
    assert _parts(data) == [
        ("fund", "fund", "700.00"),
        ("current", "class_b_first", "200.00"),
        ("current", "deductible", "300.00"),
        ("prior", "deductible", "1000.00"),
        ("cash", "deductible", "500.00"),
        ("cash", "copay", "300.00"),
        ("cash", "self_funded", "300.00"),
    ]
    assert data["balance_after"] == {"current_year": "0.00", "prior_years": "0.00"}
    assert data["patient"]["id_number"] == alice.masked_id_number
    assert alice.id_number not in r.content.decode()
    assert "1,800.00" in data["parts"][2]["reason"]
    # the account part is in the institution payable; the fund part waits for settlement
    assert account_balance_fen(institution_payable(hospital.pk)) == 150000
    acc = FundAccumulator.objects.get(person=alice, year=2025, pool="outpatient")
    assert (acc.deductible_used_fen, acc.fund_paid_fen) == (180000, 70000)
    assert ledger_offenders().clean


def test_example_2_emergency_near_the_annual_ceiling(alice, hospital, institution_api):
    FundAccumulator.objects.create(
        person=alice,
        year=2025,
        pool="outpatient",
        deductible_used_fen=180000,
        fund_paid_fen=1980000,
    )

    r = institution_api(hospital).submit(
        expense_body(alice.id_number, "emergency", [{"catalog_class": "A", "amount": "1000"}])
    )

    data = r.json()
    assert (data["fund"], data["account"], data["cash"]) == ("200.00", "0.00", "800.00")
    assert _parts(data)[2] == ("cash", "above_ceiling", "500.00")
    assert FundAccumulator.objects.get(person=alice, year=2025).fund_paid_fen == 2000000
    assert JournalTransaction.objects.count() == 0  # nothing paid from an account


def test_example_3_inpatient_pays_from_the_prior_years_pocket_only(
    alice, hospital, institution_api
):
    fund(alice, current=300000, prior=200000)

    r = institution_api(hospital).submit(
        expense_body(
            alice.id_number,
            "inpatient",
            [
                {"catalog_class": "A", "amount": "10000.00"},
                {"catalog_class": "B", "amount": "5000"},
            ],
        )
    )

    data = r.json()
    assert (data["fund"], data["account"], data["cash"]) == ("11220.00", "2000.00", "1780.00")
    assert data["balance_after"] == {"current_year": "3000.00", "prior_years": "0.00"}
    assert pocket_balances(alice).current_fen == 300000
    assert pocket_balances(alice).prior_fen == 0


def test_example_4_pharmacy(alice, pharmacy, institution_api):
    fund(alice, current=10000)
    FundAccumulator.objects.create(
        person=alice, year=2025, pool="outpatient", deductible_used_fen=180000, fund_paid_fen=70000
    )

    r = institution_api(pharmacy).submit(
        expense_body(
            alice.id_number,
            "pharmacy",
            [
                {"catalog_class": "B", "amount": "120.00"},
                {"catalog_class": "self", "amount": "35.50"},
            ],
        )
    )

    data = r.json()
    assert (data["total"], data["fund"], data["account"], data["cash"]) == (
        "155.50",
        "75.60",
        "79.90",
        "0.00",
    )
    assert data["balance_after"]["current_year"] == "20.10"


def test_example_5_mutual_assistance_within_the_cap(
    alice, hospital, institution_api, approved_link
):
    child = make_member(
        "Kid", birth=dt.date(2014, 6, 1), seq=42, insurance_type="resident", signs_in=False
    )
    fund(alice, prior=100000)
    approved_link(alice, child, relationship="child", cap_fen=20000)
    api = institution_api(hospital)
    body = expense_body(
        child.id_number,
        "outpatient",
        [{"catalog_class": "A", "amount": "500.00"}, {"catalog_class": "self", "amount": "50.00"}],
    )

    data = api.submit(body, key="kid-1").json()

    assert (data["fund"], data["account"], data["cash"]) == ("220.00", "200.00", "130.00")
    assert [(p["payer"], p.get("relative")) for p in data["parts"][1:3]] == [
        ("relative_prior", "Alice"),
        ("relative_prior", "Alice"),
    ]
    assert pocket_balances(alice).prior_fen == 80000
    # the cap is used up for this year: the next expense is cash (and fund)
    second = api.submit(body, key="kid-2").json()
    assert second["account"] == "0.00"
    assert pocket_balances(alice).prior_fen == 80000


def test_same_key_same_body_returns_the_same_expense(alice, hospital, institution_api):
    fund(alice, current=50000)
    api = institution_api(hospital)
    body = expense_body(alice.id_number)

    first = api.submit(body, key="same")
    again = api.submit(body, key="same")

    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert Expense.objects.count() == 1
    assert JournalTransaction.objects.count() == 2  # the funding and one expense
    assert pocket_balances(alice).current_fen == 40000


def test_same_key_other_body_is_409_and_changes_nothing(alice, hospital, institution_api):
    fund(alice, current=50000)
    api = institution_api(hospital)
    api.submit(expense_body(alice.id_number), key="same")

    r = api.submit(
        expense_body(alice.id_number, lines=[{"catalog_class": "A", "amount": "99.00"}]),
        key="same",
    )

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "idempotency_conflict"
    assert Expense.objects.count() == 1
    assert pocket_balances(alice).current_fen == 40000


def test_the_same_key_at_two_institutions_is_two_expenses(alice, hospital, institution_api, db):
    other = type(hospital).objects.create(name="Other", kind="hospital", region="110100")
    from claims.services import institution_token_create

    other.raw_token = institution_token_create(institution=other)[1]

    institution_api(hospital).submit(expense_body(alice.id_number), key="k")
    institution_api(other).submit(expense_body(alice.id_number), key="k")

    assert Expense.objects.count() == 2


@pytest.mark.parametrize(
    "change, field",
    [
        ({"care_type": "dental"}, "care_type"),
        ({"lines": [{"catalog_class": "C", "amount": "1.00"}]}, "lines"),
        ({"lines": [{"catalog_class": "A", "amount": "1.005"}]}, "lines"),
        ({"lines": [{"catalog_class": "A", "amount": "0"}]}, "lines[0].amount"),
        ({"lines": []}, "lines"),
        ({"service_date": "2999-01-01"}, "service_date"),
        ({"service_date": "2019-01-01"}, "service_date"),
        ({"patient_id_number": make_id_number("110105", dt.date(1970, 1, 1), 99)}, None),
    ],
)
def test_refused_submissions_name_the_field_and_change_nothing(
    alice, hospital, institution_api, change, field
):
    fund(alice, current=50000)
    body = {**expense_body(alice.id_number), **change}

    r = institution_api(hospital).submit(body, key="bad")

    assert r.status_code == 400, r.json()
    err = r.json()["error"]
    assert set(err) >= {"code", "message", "fields"}
    if field:
        assert field in err["fields"], err
    else:
        assert "patient_id_number" in err["fields"]
    assert Expense.objects.count() == 0
    assert pocket_balances(alice).current_fen == 50000


def test_a_missing_idempotency_key_is_refused(alice, hospital, institution_api):
    r = institution_api(hospital).submit(expense_body(alice.id_number), key=None)

    assert r.status_code == 400
    assert "Idempotency-Key" in r.json()["error"]["fields"]
    assert Expense.objects.count() == 0


def test_a_pharmacy_cannot_submit_inpatient_care(alice, pharmacy, institution_api):
    r = institution_api(pharmacy).submit(expense_body(alice.id_number, "inpatient"))

    assert r.status_code == 400
    assert "care_type" in r.json()["error"]["fields"]


def test_members_and_bad_tokens_never_reach_the_institution_api(alice, client_for, hospital):
    from rest_framework.test import APIClient

    from members.services import member_token_create

    body = expense_body(alice.id_number)
    session = client_for(alice)
    assert session.post(
        "/api/v1/claims/expenses/", body, content_type="application/json"
    ).status_code in (401, 403)
    _, key = member_token_create(user=alice.user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post("/api/v1/claims/expenses/", body, format="json").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Bearer inst_not-a-token")
    r = api.post("/api/v1/claims/expenses/", body, format="json")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "authentication_failed"
    assert Expense.objects.count() == 0


def test_a_revoked_token_is_refused(alice, hospital, institution_api):
    from claims.services import institution_token_revoke

    institution_token_revoke(token=hospital.tokens.get())

    r = institution_api(hospital).submit(expense_body(alice.id_number))

    assert r.status_code == 401


def test_an_institution_sees_only_its_own_expenses(alice, hospital, pharmacy, institution_api):
    expense_id = institution_api(hospital).submit(expense_body(alice.id_number)).json()["id"]

    assert institution_api(hospital).get(expense_id).status_code == 200
    assert institution_api(pharmacy).get(expense_id).status_code == 404
    assert institution_api(pharmacy).reverse(expense_id).status_code == 404
    assert Expense.objects.get().status == "accepted"


def test_reversal_restores_balances_and_room_and_keeps_history(alice, hospital, institution_api):
    fund(alice, current=50000, prior=100000)
    api = institution_api(hospital)
    data = api.submit(
        expense_body(
            alice.id_number,
            lines=[
                {"catalog_class": "A", "amount": "1000.00"},
                {"catalog_class": "B", "amount": "2000"},
            ],
        )
    ).json()
    postings_before = list(Posting.objects.order_by("id").values_list("id", "amount_fen"))

    r = api.reverse(data["id"])
    again = api.reverse(data["id"])

    assert r.status_code == 200 and r.json()["status"] == "reversed"
    assert again.json() == r.json()
    assert pocket_balances(alice).current_fen == 50000
    assert pocket_balances(alice).prior_fen == 100000
    assert account_balance_fen(institution_payable(hospital.pk)) == 0
    acc = FundAccumulator.objects.get(person=alice, year=2025)
    assert (acc.deductible_used_fen, acc.fund_paid_fen) == (0, 0)
    # history untouched: the old postings are still there, mirrored once
    assert (
        list(Posting.objects.order_by("id").values_list("id", "amount_fen"))[: len(postings_before)]
        == postings_before
    )
    expense = Expense.objects.get()
    assert expense.reversal_txn.reverses_id == expense.ledger_txn_id
    assert ExpensePart.objects.filter(expense=expense).count() == 6
    assert ledger_offenders().clean


@pytest.mark.django_db(transaction=True)
def test_two_expenses_at_once_never_share_the_deductible(policies, alice, hospital):
    fund(alice, current=1000000)

    def submit(i):
        return expense_submit(
            institution=hospital,
            idempotency_key=f"race-{i}",
            patient_id_number=alice.id_number,
            service_date=dt.date(2025, 5, 1),
            care_type="outpatient",
            lines=[LineInput("A", 150000)],
        )[0].pk

    results = run_concurrently(8, submit)

    assert all(isinstance(r, int) for r in results), results
    expenses = Expense.objects.order_by("id")
    assert sum(e.deductible_fen for e in expenses) == 180000
    assert sum(e.fund_fen for e in expenses) == (8 * 150000 - 180000) * 7 // 10
    acc = FundAccumulator.objects.get(person=alice, year=2025)
    assert acc.deductible_used_fen == 180000
    assert acc.fund_paid_fen == sum(e.fund_fen for e in expenses)
    assert pocket_balances(alice).current_fen == 1000000 - sum(e.account_fen for e in expenses)
    assert ledger_offenders().clean


@pytest.mark.django_db(transaction=True)
def test_one_key_sent_twice_at_once_makes_one_expense(policies, alice, hospital):
    fund(alice, current=1000000)

    def submit(i):
        return expense_submit(
            institution=hospital,
            idempotency_key="dup",
            patient_id_number=alice.id_number,
            service_date=dt.date(2025, 5, 1),
            care_type="outpatient",
            lines=[LineInput("A", 10000)],
        )[0].pk

    results = run_concurrently(6, submit)

    assert len(set(results)) == 1, results
    assert Expense.objects.count() == 1
    assert pocket_balances(alice).current_fen == 1000000 - 10000
