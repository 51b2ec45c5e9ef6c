"""A submission answers from what it wrote (no read-back) and costs a fixed,
small number of queries (bench/profile_submit.py measures the same path)."""

import datetime as dt

import pytest

from claims.models import Expense
from tests.conftest import make_member

from .conftest import expense_body, fund

pytestmark = pytest.mark.usefixtures("policies")

LINES = [
    {"catalog_class": "A", "description": "consultation", "amount": "35.00"},
    {"catalog_class": "B", "description": "medicine", "amount": "86.50"},
    {"catalog_class": "self", "description": "slippers", "amount": "12.00"},
]


def _answer_matches_a_fresh_read(api, body, key):
    submitted = api.submit(body, key=key)
    assert submitted.status_code == 201, submitted.content
    data = submitted.json()
    read = api.get(data["id"])
    assert read.status_code == 200
    assert data == read.json()
    return data


def test_the_answer_is_what_a_fresh_read_shows_own_pockets(alice, hospital, institution_api):
    # given money in both pockets
    fund(alice, current=5000, prior=100000)
    api = institution_api(hospital)

    # when: the current-year pocket runs out mid-way, then the prior-years one pays
    data = _answer_matches_a_fresh_read(api, expense_body(alice.id_number, lines=LINES), "own-1")

    # then
    assert {p["payer"] for p in data["parts"]} == {"current", "prior"}
    assert data["settled"] is False
    assert data["balance_after"] == {"current_year": "0.00", "prior_years": "916.50"}


def test_the_answer_is_what_a_fresh_read_shows_relative_and_cash(
    alice, hospital, institution_api, approved_link
):
    child = make_member(
        "Kid", birth=dt.date(2014, 6, 1), seq=42, insurance_type="resident", signs_in=False
    )
    fund(alice, prior=3000)
    approved_link(alice, child, relationship="child", cap_fen=20000)
    api = institution_api(hospital)

    data = _answer_matches_a_fresh_read(api, expense_body(child.id_number, lines=LINES), "kid-1")

    relatives = [p["relative"] for p in data["parts"] if p["payer"] == "relative_prior"]
    assert relatives == ["Alice", "Alice"]
    assert data["balance_after"] == {"current_year": None, "prior_years": None}
    # nothing in any pocket: the fund and cash only, no ledger transaction
    bare = make_member("Bare", birth=dt.date(1990, 2, 2), seq=51, signs_in=False)
    data = _answer_matches_a_fresh_read(api, expense_body(bare.id_number, lines=LINES), "bare-1")
    assert data["account"] == "0.00"
    assert Expense.objects.get(pk=data["id"]).ledger_txn_id is None


def test_a_replay_answers_as_a_fresh_read(alice, hospital, institution_api):
    fund(alice, current=50000)
    api = institution_api(hospital)
    first = api.submit(expense_body(alice.id_number, lines=LINES), key="r-1").json()

    again = api.submit(expense_body(alice.id_number, lines=LINES), key="r-1")

    assert again.status_code == 201
    assert again.json() == first == api.get(first["id"]).json()


def test_many_lines_are_written_in_order(alice, hospital, institution_api):
    fund(alice, current=100000)
    lines = [
        {
            "catalog_class": ("A", "B", "self")[i % 3],
            "description": f"item {i}",
            "amount": f"{i + 1}.00",
        }
        for i in range(40)
    ]
    api = institution_api(hospital)

    data = _answer_matches_a_fresh_read(api, expense_body(alice.id_number, lines=lines), "many")

    expense = Expense.objects.get(pk=data["id"])
    assert [(ln.position, ln.description, ln.amount_fen) for ln in expense.lines.all()] == [
        (i, f"item {i}", (i + 1) * 100) for i in range(40)
    ]
    assert data["total"] == "820.00"


def test_the_policy_read_in_plain_sql_is_the_orms(alice):
    from claims.models import BenefitPolicy
    from claims.services import policy_for

    for care in ("outpatient", "inpatient"):
        plain = policy_for(person=alice, care_type=care, year=2025)
        orm = BenefitPolicy.objects.get(
            region="110100", scheme=alice.insurance_type, care_type=care, year=2025
        )
        for field in BenefitPolicy._meta.concrete_fields:
            mine, theirs = getattr(plain, field.attname), getattr(orm, field.attname)
            assert (mine, str(mine), type(mine)) == (theirs, str(theirs), type(theirs)), field


# Measured with bench/profile_submit.py and here (docs/adr/0001, "Expense
# submission per request"): 33 queries before, 38 when a relative paid;
# 17 and 19 once nothing was read twice; 12 and 14 with the rows written
# in one statement; 11 and 13 with the replay probe in the pockets lock; 10
# and 12 with the accumulator's lock in that statement too; 9 and 11 with no
# probe of the key before the transaction (a refusal before it probes); 6
# and 9 with the patient, the policy, the accounts and the pay-grant probe
# read in one statement.
QUERIES_OWN_POCKETS = 6
QUERIES_RELATIVE_PAYS = 9


def test_one_submission_costs_a_fixed_number_of_queries(
    alice, hospital, institution_api, django_assert_max_num_queries
):
    # given a patient who already had an expense this year (their
    # accumulator exists, as for most submissions)
    fund(alice, current=100000, prior=100000)
    api = institution_api(hospital)
    assert api.submit(expense_body(alice.id_number, lines=LINES), key="q-0").status_code == 201

    # when / then: the token, the patient with the policy and the accounts,
    # the locks with the key's probe, the ledger with the rows; nothing read
    # back
    with django_assert_max_num_queries(QUERIES_OWN_POCKETS):
        answer = api.submit(expense_body(alice.id_number, lines=LINES), key="q-1")
    assert answer.status_code == 201
    assert answer.json()["account"] == "133.50"


# A patient's first expense of the year and pool also makes their
# accumulator: before, a transaction that found none was left, the
# accumulator made in one of its own (with a durable commit of its own) and
# the submission begun again (11 queries here, in the test's transaction);
# now the reads know the pools that exist, and the missing one is made
# first in the one transaction.
QUERIES_FIRST_OF_THE_YEAR = QUERIES_OWN_POCKETS + 1


def test_the_first_submission_of_the_year_makes_the_accumulator_inside_its_transaction(
    alice, bob, hospital, institution_api, django_assert_max_num_queries
):
    from claims.models import Expense, FundAccumulator

    fund(alice, current=100000, prior=100000)
    api = institution_api(hospital)
    # (the institution's payable is made by its first submission)
    assert api.submit(expense_body(bob.id_number, lines=LINES), key="bob").status_code == 201
    assert not FundAccumulator.objects.filter(person=alice).exists()

    with django_assert_max_num_queries(QUERIES_FIRST_OF_THE_YEAR) as captured:
        answer = api.submit(expense_body(alice.id_number, lines=LINES), key="first")
    assert answer.status_code == 201
    sql = [q["sql"] for q in captured.captured_queries]
    assert not any(q.startswith("ROLLBACK") for q in sql), sql
    assert sum(q.startswith("BEGIN") for q in sql) <= 1, sql
    acc = FundAccumulator.objects.get(person=alice)
    expense = Expense.objects.get(pk=answer.json()["id"])
    assert (acc.year, acc.pool) == (2025, "outpatient")
    assert acc.deductible_used_fen == expense.deductible_fen
    assert acc.fund_paid_fen == expense.fund_fen
    assert acc.deductible_used_fen > 0

    # The next one finds it: the usual count.
    with django_assert_max_num_queries(QUERIES_OWN_POCKETS):
        again = api.submit(expense_body(alice.id_number, lines=LINES), key="second")
    assert again.status_code == 201
    assert FundAccumulator.objects.filter(person=alice).count() == 1


def test_one_submission_paid_by_a_relative_costs_a_fixed_number_of_queries(
    alice, hospital, institution_api, approved_link, django_assert_max_num_queries
):
    child = make_member(
        "Kid", birth=dt.date(2014, 6, 1), seq=42, insurance_type="resident", signs_in=False
    )
    fund(alice, prior=100000)
    approved_link(alice, child, relationship="child")
    api = institution_api(hospital)
    assert api.submit(expense_body(child.id_number, lines=LINES), key="q-0").status_code == 201

    with django_assert_max_num_queries(QUERIES_RELATIVE_PAYS):
        answer = api.submit(expense_body(child.id_number, lines=LINES), key="q-1")
    assert answer.status_code == 201
    assert [p["relative"] for p in answer.json()["parts"] if p["relative"]]


def test_the_answer_of_a_cross_region_submission_is_what_a_fresh_read_shows(alice, institution_api):
    from claims.services import institution_create, institution_token_create

    away = institution_create(name="Shenzhen Hospital", kind="hospital", region="440300")
    away.raw_token = institution_token_create(institution=away)[1]
    fund(alice, current=100000)
    body = {**expense_body(alice.id_number, lines=LINES), "chronic_disease": "HTN"}

    data = _answer_matches_a_fresh_read(institution_api(away), body, "away-1")

    assert data["cross_region"] == {"cross_region": True, "filed": False}
    assert data["chronic_disease"] == {"code": "HTN", "applied": False}


def test_the_written_parts_and_lines_behave_as_prefetched(alice, hospital):
    from claims.services import LineInput, expense_submit

    fund(alice, current=100000)
    expense, created = expense_submit(
        institution=hospital,
        idempotency_key="svc-1",
        patient_id_number=alice.id_number,
        service_date=dt.date(2025, 3, 1),
        care_type="outpatient",
        lines=[LineInput("A", 5000, "consultation"), LineInput("self", 500, "slippers")],
    )

    assert created
    fresh = Expense.objects.get(pk=expense.pk)
    assert list(expense.parts.all()) == list(fresh.parts.all())
    assert list(expense.lines.all()) == list(fresh.lines.all())
    # a filter on the relation still asks the database
    assert list(expense.parts.filter(payer="current")) == list(fresh.parts.filter(payer="current"))
    assert expense.lines.count() == 2


def _separately(institution, number, care_type, year):
    """What the submission read in four queries before it read them in one."""
    from access.lookups import payment_grants_for
    from accounts.models import LedgerAccount
    from accounts.services import payable_code, pocket_codes
    from claims.services import policy_for
    from members.selectors import person_by_id_number
    from portal.errors import ApplicationError

    person = person_by_id_number(number)
    if person is None:
        return None
    codes = [*pocket_codes(person.pk), payable_code(institution.pk)]
    accounts = {a.code: a for a in LedgerAccount.objects.filter(code__in=codes)}
    try:
        policy = policy_for(person=person, care_type=care_type, year=year)
    except ApplicationError as exc:  # compared below
        policy = str(exc)
    return person, policy, accounts, bool(payment_grants_for(patient=person))


def _together(institution, number, care_type, year):
    from claims.services import _reads
    from portal.errors import ApplicationError

    try:
        reads = _reads(institution, number, care_type, year)
    except ApplicationError as exc:
        if exc.code == "unknown_patient":
            return None
        raise
    return reads


def test_the_reads_in_one_statement_are_the_four_queries_answers(
    alice, bob, hospital, approved_link
):
    """The patient, their policy, the pockets and the payable, whether a
    relative's pocket may pay, and the pools of the patient's accumulators for
    the year: equal, field for field, to what
    ``person_by_id_number``, ``policy_for``, the accounts by code and
    ``payment_grants_for`` give, for a member with pockets and a payable, a
    resident without, a patient a relative lets pay, a year without a
    policy and a number nobody holds."""
    from claims.models import FundAccumulator
    from claims.services import _reads
    from members.idnumber import make_id_number
    from portal.errors import ApplicationError

    fund(alice, current=1000)
    for year, pool in ((2025, "outpatient"), (2025, "inpatient"), (2024, "pharmacy")):
        FundAccumulator.objects.create(person=alice, year=year, pool=pool)
    kid = make_member("Kid", birth=dt.date(2014, 6, 1), seq=42, insurance_type="resident")
    approved_link(alice, kid, relationship="child")
    cases = [
        (alice, "outpatient", 2025),
        (bob, "inpatient", 2026),
        (kid, "outpatient", 2025),
    ]
    for person, care, year in cases:
        person_, policy, accounts, may_pay = _separately(hospital, person.id_number, care, year)
        reads = _reads(hospital, person.id_number, care, year)
        for field in type(person)._meta.concrete_fields:
            mine, theirs = getattr(reads.patient, field.attname), getattr(person_, field.attname)
            assert (mine, type(mine)) == (theirs, type(theirs)), field
        assert reads.patient.id_number == person.id_number
        for field in type(policy)._meta.concrete_fields:
            mine, theirs = getattr(reads.policy, field.attname), getattr(policy, field.attname)
            assert (mine, str(mine), type(mine)) == (theirs, str(theirs), type(theirs)), field
        assert {c: (a.pk, a.kind, a.balance_fen) for c, a in reads.accounts.items()} == {
            c: (a.pk, a.kind, a.balance_fen) for c, a in accounts.items()
        }, person.name
        # the probe may say yes for more than pay (a superset), never less
        assert reads.may_have_grants or not may_pay
        assert reads.accumulator_pools == set(
            FundAccumulator.objects.filter(person=person, year=year).values_list("pool", flat=True)
        ), person.name
    assert _reads(hospital, alice.id_number, "outpatient", 2025).accumulator_pools == {
        "outpatient",
        "inpatient",
    }
    assert _reads(hospital, kid.id_number, "outpatient", 2025).may_have_grants is True
    assert _reads(hospital, bob.id_number, "outpatient", 2025).may_have_grants is False

    # no policy for the year: the same refusal as policy_for's
    _p, refusal, _a, _m = _separately(hospital, alice.id_number, "outpatient", 2031)
    with pytest.raises(ApplicationError) as caught:
        _reads(hospital, alice.id_number, "outpatient", 2031)
    assert (caught.value.code, str(caught.value)) == ("no_policy", refusal)
    # nobody holds the number
    nobody = make_id_number("110105", dt.date(1950, 1, 1), 999)
    assert _separately(hospital, nobody, "outpatient", 2025) is None
    assert _together(hospital, nobody, "outpatient", 2025) is None
