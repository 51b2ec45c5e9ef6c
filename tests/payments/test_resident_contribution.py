"""Paying a relative's resident-scheme contribution from the prior-years
surplus (docs/adr/0018): the payment, each refusal with nothing changed, and
exactly once under real concurrent connections."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AccountKind, JournalTransaction, LedgerAccount
from accounts.selectors import account_balance_fen, ledger_offenders
from audit.models import AuditEvent
from family import services as family_services
from family.resident import (
    choices_for,
    resident_contribution_pay,
    resident_contribution_quote,
)
from members.models import InsuranceType
from payments.models import (
    Contribution,
    ContributionStatus,
    Payer,
    PolicyYear,
    ResidentContributionPayment,
)
from portal.errors import ApplicationError
from tests.concurrency import run_concurrently
from tests.conftest import make_member

from .resident_helpers import fund_prior, link, policies, resident_child, token

AMOUNT = 40000  # the demo policy's resident amount (payments/policy_data.py)


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def year():
    return timezone.localdate().year


@pytest.fixture
def setup(alice, staff, year):
    policies()
    child = resident_child()
    the_link = link(alice, child, staff)
    fund_prior(alice, 50000)
    return alice, child, the_link


def _prior(person) -> int:
    return LedgerAccount.objects.get(person=person, kind=AccountKind.MEMBER_PRIOR).balance_fen


def _nothing_paid(member, child, before: int) -> None:
    assert _prior(member) == before
    assert not ResidentContributionPayment.objects.exists()
    assert not Contribution.objects.filter(person=child).exists()
    assert not JournalTransaction.objects.filter(kind="family.resident_contribution").exists()
    assert not AuditEvent.objects.filter(action="family.contribution.pay").exists()


def test_paying_moves_the_amount_once_and_records_it_on_both_sides(setup, year):
    alice, child, the_link = setup
    key = token()
    payment, created = resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=key
    )
    assert created
    assert payment.amount_fen == AMOUNT
    assert _prior(alice) == 10000
    fund = LedgerAccount.objects.get(kind=AccountKind.RESIDENT_CONTRIBUTIONS)
    # A shared account: its snapshot plus pending deltas (docs/adr/0001).
    assert account_balance_fen(fund) == AMOUNT
    txn = payment.ledger_txn
    assert txn.idempotency_key == f"resident-contribution:{child.pk}:{year}"
    assert sorted(txn.postings.values_list("amount_fen", flat=True)) == [-AMOUNT, AMOUNT]
    record = Contribution.objects.get(person=child)
    assert (record.period, record.status, record.payer) == (
        dt.date(year, 1, 1),
        ContributionStatus.PAID,
        Payer.RELATIVE,
    )
    assert (record.individual_fen, record.employer_fen, record.credited_fen) == (AMOUNT, 0, 0)
    assert record.family_payment == payment
    event = AuditEvent.objects.get(action="family.contribution.pay")
    assert event.subject_person_id == alice.pk
    assert event.actor_id == alice.user_id
    assert (event.object_type, event.object_id) == (
        "payments.residentcontributionpayment",
        str(payment.pk),
    )
    assert event.detail["relative"] == child.pk
    assert event.detail["year"] == year
    assert event.detail["amount_fen"] == AMOUNT
    assert event.detail["link"] == the_link.pk
    offenders = ledger_offenders()
    assert offenders.clean, offenders


def test_the_same_confirmation_sent_again_returns_the_first_payment(setup, year):
    alice, child, _link = setup
    key = token()
    first, _c = resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=key
    )
    again, created = resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=key
    )
    assert (again, created) == (first, False)
    assert _prior(alice) == 10000
    assert AuditEvent.objects.filter(action="family.contribution.pay").count() == 1


def test_a_second_attempt_for_a_paid_year_is_refused(setup, year):
    alice, child, _link = setup
    fund_prior(alice, 100000)
    resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
    )
    before = _prior(alice)
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
        )
    assert exc.value.code == "already_paid"
    assert "already paid" in exc.value.message
    assert _prior(alice) == before
    assert ResidentContributionPayment.objects.count() == 1


def test_a_year_paid_by_another_relative_is_refused(setup, year, bob, staff):
    alice, child, _link = setup
    bob_link = link(bob, child, staff)
    assert bob_link.status == "approved"
    fund_prior(bob, 50000)
    resident_contribution_pay(
        member=bob, actor=bob.user, relative_id=child.pk, year=year, submission=token()
    )
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
        )
    assert exc.value.code == "already_paid"
    assert _prior(alice) == 50000


def test_a_year_paid_through_the_register_is_refused(setup, year):
    alice, child, _link = setup
    Contribution.objects.create(
        person=child,
        period=dt.date(year, 3, 1),
        declared_base_fen=0,
        base_fen=0,
        employer_fen=0,
        individual_fen=38000,
        credited_fen=0,
        payer=Payer.INDIVIDUAL,
        paid_on=dt.date(year, 3, 1),
        status=ContributionStatus.PAID,
    )
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_quote(member=alice, relative_id=child.pk, year=year)
    assert exc.value.code == "already_paid"


def test_a_relative_not_in_the_resident_scheme_is_refused(alice, bob, staff, year):
    policies()
    link(alice, bob, staff, relationship="spouse")
    fund_prior(alice, 50000)
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=bob.pk, year=year, submission=token()
        )
    assert exc.value.code == "not_resident"
    assert "resident scheme" in exc.value.message
    assert _prior(alice) == 50000
    assert not ResidentContributionPayment.objects.exists()


def test_a_short_surplus_is_refused_saying_both_amounts(alice, staff, year):
    policies()
    child = resident_child()
    link(alice, child, staff)
    fund_prior(alice, 39999)
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
        )
    assert exc.value.code == "insufficient_funds"
    assert "399.99" in exc.value.message and "400.00" in exc.value.message
    _nothing_paid(alice, child, 39999)


def test_a_link_without_the_pay_scope_is_refused(alice, staff, year):
    policies()
    child = resident_child()
    link(alice, child, staff, scope_pay=False, scope_balance=True)
    fund_prior(alice, 50000)
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
        )
    assert exc.value.code == "pay_not_granted"
    _nothing_paid(alice, child, 50000)
    [choice] = choices_for(alice)
    assert choice.code == "pay_not_granted"


def test_no_link_an_ended_link_and_the_other_direction_are_refused(setup, year, staff):
    alice, child, the_link = setup
    stranger = make_member(
        "Stranger",
        birth=dt.date(2015, 1, 1),
        seq=51,
        insurance_type=InsuranceType.RESIDENT,
        signs_in=False,
    )
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_quote(member=alice, relative_id=stranger.pk, year=year)
    assert exc.value.code == "not_linked"
    family_services.link_end(link=the_link, user=alice.user)
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
        )
    assert exc.value.code == "not_linked"
    _nothing_paid(alice, child, 50000)


def test_a_year_without_a_policy_amount_or_out_of_range_is_refused(setup, year):
    alice, child, _link = setup
    PolicyYear.objects.filter(year=year).update(resident_individual_fen=None)
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_quote(member=alice, relative_id=child.pk, year=year)
    assert exc.value.code == "no_policy"
    for bad in (year - 1, year + 2, "x", None):
        with pytest.raises(ApplicationError) as exc:
            resident_contribution_quote(member=alice, relative_id=child.pk, year=bad)
        assert exc.value.code == "year_not_open"


def test_a_confirmation_token_cannot_pay_for_something_else(setup, year, staff):
    alice, child, _link = setup
    other = resident_child("Xiaoming", seq=44)
    link(alice, other, staff)
    fund_prior(alice, 50000)
    key = token()
    resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=key
    )
    with pytest.raises(ApplicationError) as exc:
        resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=other.pk, year=year, submission=key
        )
    assert exc.value.code == "idempotency_conflict"
    assert not Contribution.objects.filter(person=other).exists()


@pytest.mark.django_db(transaction=True)
def test_simultaneous_attempts_pay_once_and_the_rest_are_told_why(alice, staff, year):
    policies()
    child = resident_child()
    link(alice, child, staff)
    fund_prior(alice, 5 * AMOUNT)
    n = 8

    def attempt(i: int):
        return resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
        )

    results = run_concurrently(n, attempt)
    paid = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(paid) == 1, results
    assert len(refused) == n - 1, results
    assert {r.code for r in refused} == {"already_paid"}
    assert _prior(alice) == 4 * AMOUNT
    assert ResidentContributionPayment.objects.count() == 1
    assert Contribution.objects.filter(person=child).count() == 1
    assert AuditEvent.objects.filter(action="family.contribution.pay").count() == 1
    assert ledger_offenders().clean


@pytest.mark.django_db(transaction=True)
def test_simultaneous_sends_of_one_confirmation_return_one_payment(alice, staff, year):
    policies()
    child = resident_child()
    link(alice, child, staff)
    fund_prior(alice, 5 * AMOUNT)
    key = token()

    def attempt(i: int):
        return resident_contribution_pay(
            member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=key
        )

    results = run_concurrently(6, attempt)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({r[0].pk for r in results}) == 1
    assert sum(1 for r in results if r[1]) == 1
    assert _prior(alice) == 4 * AMOUNT
    assert ResidentContributionPayment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_members_paying_for_one_relative_at_once_pay_once(alice, bob, staff, year):
    policies()
    child = resident_child()
    link(alice, child, staff)
    link(bob, child, staff)
    fund_prior(alice, AMOUNT)
    fund_prior(bob, AMOUNT)
    payers = [alice, bob] * 3

    def attempt(i: int):
        m = payers[i]
        return resident_contribution_pay(
            member=m, actor=m.user, relative_id=child.pk, year=year, submission=token()
        )

    results = run_concurrently(len(payers), attempt)
    assert sum(isinstance(r, tuple) for r in results) == 1, results
    assert all(r.code == "already_paid" for r in results if not isinstance(r, tuple))
    assert _prior(alice) + _prior(bob) == AMOUNT
    assert ResidentContributionPayment.objects.count() == 1


def test_staff_cannot_refund_a_contribution_paid_from_a_surplus(setup, year, staff):
    from payments.services import contribution_refund

    alice, child, _link = setup
    payment, _c = resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
    )
    with pytest.raises(ApplicationError) as exc:
        contribution_refund(
            contribution_id=payment.contribution_id, reason="refund please", actor=staff
        )
    assert exc.value.code == "paid_from_surplus"
    payment.contribution.refresh_from_db()
    assert payment.contribution.status == ContributionStatus.PAID
    assert _prior(alice) == 10000


def test_verify_ledger_proves_each_payment_moved_its_amount(setup, year):
    from accounts.selectors import rule_offenders
    from accounts.services import ledger_post, member_pockets, system_account

    alice, child, _link = setup
    payment, _c = resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission=token()
    )
    assert rule_offenders() == []
    # a payment row edited afterwards no longer matches its postings or record
    ResidentContributionPayment.objects.filter(pk=payment.pk).update(amount_fen=30000)
    problems = {(o.rule, o.problem) for o in rule_offenders()}
    fund_id = LedgerAccount.objects.get(kind=AccountKind.RESIDENT_CONTRIBUTIONS).pk
    expected = f"account {fund_id}: postings differ from the payment by 10000 fen"
    assert ("resident", expected) in problems
    assert any("record" in p for _r, p in problems)
    ResidentContributionPayment.objects.filter(pk=payment.pk).update(amount_fen=AMOUNT)
    # a transaction of this kind without its payment
    _cur, prior = member_pockets(alice)
    ledger_post(
        idempotency_key="resident-contribution:forged",
        kind="family.resident_contribution",
        postings=[(prior, -100), (system_account(AccountKind.RESIDENT_CONTRIBUTIONS), 100)],
    )
    assert [o.problem for o in rule_offenders()] == ["no resident contribution payment"]
