"""A contribution's lifecycle (docs/adr/0008): arrears paid later, refunds,
the policy check of every credited amount, staff corrections."""

import csv
import datetime as dt
import io

import pytest

from accounts.models import AccountKind, JournalTransaction, LedgerAccount
from accounts.selectors import (
    account_balance_fen,
    account_balances_fen,
    ledger_offenders,
    pocket_balances,
)
from accounts.services import ledger_post, member_pockets, system_account
from audit.models import AuditEvent
from payments.models import Contribution, PolicyYear
from payments.policy_data import load as load_policies
from payments.services import (
    contribution_mark_paid,
    contribution_refund,
    contributions_import,
    import_report_text,
)
from portal.errors import ApplicationError
from tests.concurrency import run_concurrently
from tests.payments.helpers import csv_bytes, retiree

PAID_JAN = "{n},2025-01,8000,784,160,employer,2025-01-15,paid"
ARREARS_FEB = "{n},2025-02,8000,784,160,employer,,arrears"
PAID_FEB = "{n},2025-02,8000,784,160,employer,2025-06-03,paid"
REFUND_JAN = "{n},2025-01,8000,784,160,employer,,refunded"


def _import(*lines, name="c.csv"):
    return contributions_import(data=csv_bytes(*lines), file_name=name)


def _report(batch):
    return list(csv.reader(io.StringIO(import_report_text(batch))))


def _state():
    """Everything an import or correction could change."""
    return (
        sorted(
            Contribution.objects.values_list(
                "id", "period", "status", "paid_on", "credited_fen", "employer_fen"
            )
        ),
        sorted(JournalTransaction.objects.values_list("idempotency_key", flat=True)),
        sorted(account_balances_fen(LedgerAccount.objects.values_list("pk", flat=True)).items()),
    )


def _counts(batch):
    return (
        batch.rows_imported,
        batch.rows_settled,
        batch.rows_refunded,
        batch.rows_already,
        batch.rows_bad,
    )


# --- Arrears paid later --------------------------------------------------------


def test_an_arrears_month_paid_later_is_credited_once_by_import(alice):
    # given: February imported in arrears
    first = _import(ARREARS_FEB.format(n=alice.id_number))
    record = Contribution.objects.get()
    assert (record.status, record.credited_fen, pocket_balances(alice).current_fen) == (
        "arrears",
        0,
        0,
    )

    # when: a later file says it was paid
    late = _import(PAID_FEB.format(n=alice.id_number), name="june.csv")

    # then: the same record turned paid and was credited once
    record.refresh_from_db()
    assert _counts(first) == (1, 0, 0, 0, 0)
    assert _counts(late) == (0, 1, 0, 0, 0)
    assert Contribution.objects.count() == 1
    assert (record.status, record.paid_on, record.credited_fen) == (
        "paid",
        dt.date(2025, 6, 3),
        16000,
    )
    assert (record.batch_id, record.settled_batch_id) == (first.pk, late.pk)
    assert pocket_balances(alice).current_fen == 16000
    assert list(JournalTransaction.objects.values_list("idempotency_key", flat=True)) == [
        f"contribution:{record.pk}:credit"
    ]
    assert ledger_offenders().clean


def test_re_importing_either_file_after_the_payment_changes_nothing(alice):
    _import(ARREARS_FEB.format(n=alice.id_number))
    _import(PAID_FEB.format(n=alice.id_number), name="june.csv")
    before = _state()

    paid_again = _import(PAID_FEB.format(n=alice.id_number), name="june.csv")
    arrears_again = _import(ARREARS_FEB.format(n=alice.id_number))

    assert _counts(paid_again) == (0, 0, 0, 1, 0)
    assert _counts(arrears_again) == (0, 0, 0, 0, 1)
    assert _report(arrears_again)[1][1] == "status"
    assert "already paid" in _report(arrears_again)[1][3]
    assert _state() == before
    assert ledger_offenders().clean


def test_a_late_and_a_concurrent_run_credit_an_arrears_month_once(transactional_db, alice):
    load_policies(PolicyYear)  # an earlier transactional test may have emptied the table
    _import(ARREARS_FEB.format(n=alice.id_number))
    # two overlapping files (both settle February; the second also has January)
    files = [
        csv_bytes(PAID_FEB.format(n=alice.id_number)),
        csv_bytes(PAID_FEB.format(n=alice.id_number), PAID_JAN.format(n=alice.id_number)),
    ]

    batches = run_concurrently(
        2, lambda i: contributions_import(data=files[i], file_name=f"{i}.csv")
    )

    assert not [b for b in batches if isinstance(b, Exception)], batches
    assert sorted(b.rows_settled for b in batches) == [0, 1]
    assert sum(b.rows_already for b in batches) == 1
    assert pocket_balances(alice).current_fen == 2 * 16000
    keys = sorted(JournalTransaction.objects.values_list("idempotency_key", flat=True))
    assert keys == sorted(f"contribution:{c.pk}:credit" for c in Contribution.objects.all())
    assert len(keys) == 2
    assert ledger_offenders().clean


def test_staff_mark_an_arrears_month_paid_credits_it_once_and_audits_it(alice, staff):
    _import(ARREARS_FEB.format(n=alice.id_number))
    record = Contribution.objects.get()

    contribution_mark_paid(
        contribution_id=record.pk,
        paid_on=dt.date(2025, 7, 1),
        reason="Paid at the counter, receipt 123",
        actor=staff,
    )
    before = _state()
    with pytest.raises(ApplicationError) as again:
        contribution_mark_paid(
            contribution_id=record.pk,
            paid_on=dt.date(2025, 7, 2),
            reason="Paid at the counter, receipt 123",
            actor=staff,
        )

    record.refresh_from_db()
    assert (record.status, record.paid_on, record.credited_fen) == (
        "paid",
        dt.date(2025, 7, 1),
        16000,
    )
    assert again.value.code == "not_in_arrears"
    assert _state() == before
    assert pocket_balances(alice).current_fen == 16000
    events = list(AuditEvent.objects.filter(action="contributions.mark_paid"))
    assert len(events) == 1
    assert (events[0].actor, events[0].subject_person_id) == (staff, alice.pk)
    assert events[0].detail["reason"] == "Paid at the counter, receipt 123"
    assert events[0].detail["credited_fen"] == 16000
    assert ledger_offenders().clean


def test_the_correction_page_marks_paid_and_refunds(client_for, staff, alice):
    _import(ARREARS_FEB.format(n=alice.id_number))
    client = client_for(staff)
    form = {
        "id_number": alice.id_number,
        "period": "2025-02",
        "action": "mark_paid",
        "paid_on": "2025-07-01",
        "reason": "Paid at the counter",
    }

    paid = client.post("/payments/corrections/", form)
    balance_after_paid = pocket_balances(alice).current_fen
    refunded = client.post("/payments/corrections/", {**form, "action": "refund"})
    again = client.post(
        "/payments/corrections/", {**form, "action": "refund"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    no_reason = client.post("/payments/corrections/", {**form, "reason": ""})

    assert (paid.status_code, refunded.status_code) == (302, 302)
    assert balance_after_paid == 16000
    assert pocket_balances(alice).current_fen == 0
    assert Contribution.objects.get().status == "refunded"
    assert again.status_code == 400
    assert "No arrears or paid record" in again.content.decode()
    assert no_reason.status_code == 400
    assert 'data-testid="error-reason"' in no_reason.content.decode()
    assert list(
        AuditEvent.objects.filter(action__startswith="contributions.m").values_list(
            "action", flat=True
        )
    ) == ["contributions.mark_paid"]
    assert AuditEvent.objects.filter(action="contributions.refund").count() == 1
    assert ledger_offenders().clean


def test_a_member_cannot_correct(client_for, alice):
    _import(ARREARS_FEB.format(n=alice.id_number))

    response = client_for(alice).post(
        "/payments/corrections/",
        {
            "id_number": alice.id_number,
            "period": "2025-02",
            "action": "mark_paid",
            "paid_on": "2025-07-01",
            "reason": "I paid it myself",
        },
    )

    assert response.status_code == 403
    assert Contribution.objects.get().status == "arrears"


# --- Refunds ------------------------------------------------------------------------


def test_a_refunded_month_reverses_its_credit_once(alice):
    _import(PAID_JAN.format(n=alice.id_number))
    record = Contribution.objects.get()
    receivable = system_account(AccountKind.CONTRIBUTIONS_RECEIVABLE)
    pooled = system_account(AccountKind.POOLED_FUND)

    refund = _import(REFUND_JAN.format(n=alice.id_number), name="refund.csv")
    after = _state()
    again = _import(REFUND_JAN.format(n=alice.id_number), name="refund.csv")
    with pytest.raises(ApplicationError) as staff_again:
        contribution_refund(contribution_id=record.pk, reason="refund twice?", actor=None)

    record.refresh_from_db()
    assert _counts(refund) == (0, 0, 1, 0, 0)
    assert _counts(again) == (0, 0, 0, 1, 0)
    assert staff_again.value.code == "not_paid"
    assert _state() == after
    assert record.status == "refunded"
    reversal = JournalTransaction.objects.get(idempotency_key=f"contribution:{record.pk}:refund")
    assert reversal.reverses.idempotency_key == f"contribution:{record.pk}:credit"
    assert reversal.kind == "contribution.credit.reversal"
    assert pocket_balances(alice).current_fen == 0
    receivable.refresh_from_db()
    pooled.refresh_from_db()
    assert (account_balance_fen(receivable), account_balance_fen(pooled)) == (0, 0)
    assert ledger_offenders().clean


def test_a_month_refunded_then_paid_again_counts_once(alice):
    _import(PAID_JAN.format(n=alice.id_number))
    _import(REFUND_JAN.format(n=alice.id_number), name="refund.csv")

    repaid = _import(
        f"{alice.id_number},2025-01,8000,784,160,employer,2025-03-01,paid",
        name="repaid.csv",
    )

    assert _counts(repaid) == (1, 0, 0, 0, 0)
    assert sorted(Contribution.objects.values_list("status", flat=True)) == ["paid", "refunded"]
    assert pocket_balances(alice).current_fen == 16000
    assert ledger_offenders().clean


def test_a_refund_of_spent_money_comes_from_the_prior_years_pocket(alice):
    _import(PAID_JAN.format(n=alice.id_number))
    current, prior = member_pockets(alice)
    pooled = system_account(AccountKind.POOLED_FUND)
    # the member spent 100 of the 160 credited and has 500 from earlier years
    ledger_post(
        idempotency_key="t:spend", kind="test.spend", postings=[(current, -10000), (pooled, 10000)]
    )
    ledger_post(
        idempotency_key="t:prior", kind="test.credit", postings=[(pooled, -50000), (prior, 50000)]
    )

    batch = _import(REFUND_JAN.format(n=alice.id_number), name="refund.csv")

    balances = pocket_balances(alice)
    assert _counts(batch) == (0, 0, 1, 0, 0)
    assert (balances.current_fen, balances.prior_fen) == (0, 50000 - 10000)
    record = Contribution.objects.get()
    cover = JournalTransaction.objects.get(idempotency_key=f"contribution:{record.pk}:refund-cover")
    assert sorted(cover.postings.values_list("account_id", "amount_fen")) == sorted(
        [(prior.pk, -10000), (current.pk, 10000)]
    )
    # the reversal itself is the exact mirror of the credit
    reversal = JournalTransaction.objects.get(idempotency_key=f"contribution:{record.pk}:refund")
    credit = reversal.reverses
    assert sorted(reversal.postings.values_list("account_id", "amount_fen")) == sorted(
        (a, -x) for a, x in credit.postings.values_list("account_id", "amount_fen")
    )
    assert ledger_offenders().clean


def test_a_refund_no_pocket_can_cover_is_a_bad_row_and_changes_nothing(alice):
    _import(PAID_JAN.format(n=alice.id_number))
    current, _prior = member_pockets(alice)
    pooled = system_account(AccountKind.POOLED_FUND)
    ledger_post(
        idempotency_key="t:spend", kind="test.spend", postings=[(current, -10000), (pooled, 10000)]
    )
    before = _state()

    batch = _import(REFUND_JAN.format(n=alice.id_number), name="refund.csv")

    assert _counts(batch) == (0, 0, 0, 0, 1)
    line = _report(batch)[1]
    assert line[:2] == ["2", "status"]
    assert "160.00 yuan cannot be reversed" in line[3]
    assert _state() == before
    assert ledger_offenders().clean


def test_a_refund_with_nothing_paid_or_different_amounts_is_a_bad_row(alice):
    _import(ARREARS_FEB.format(n=alice.id_number))
    _import(PAID_JAN.format(n=alice.id_number))
    before = _state()

    batch = _import(
        REFUND_JAN.format(n=alice.id_number).replace("8000,784,160", "9000,882,180"),
        f"{alice.id_number},2025-02,8000,784,160,employer,,refunded",
        f"{alice.id_number},2025-03,8000,784,160,employer,,refunded",
    )

    report = _report(batch)
    assert _counts(batch) == (0, 0, 0, 0, 3)
    assert [r[:2] for r in report[1:]] == [["2", "period"], ["3", "status"], ["4", "status"]]
    assert "does not match the paid record" in report[1][3]
    assert report[2][3].startswith("Nothing to refund")
    assert _state() == before


# --- What the policy gives ------------------------------------------------------------


def test_an_amount_that_disagrees_with_the_policy_is_a_bad_row_naming_the_expected(alice):
    batch = _import(
        f"{alice.id_number},2025-01,33891,3321.32,19999.98,employer,2025-01-15,paid",
        f"{alice.id_number},2025-02,8000,784.01,160,employer,2025-02-15,paid",
        f"{alice.id_number},2025-03,3000,294,60,employer,2025-03-15,paid",
        f"{alice.id_number},2025-04,3000,708.48,144.59,employer,2025-04-15,paid",
    )

    report = _report(batch)
    # 110100 in 2025: average wage 11,761.00; floor 60% = 7,056.60, so 3,000 is
    # clamped up to it: employer 9.8% = 691.55, individual 2% = 141.13
    assert _counts(batch) == (0, 0, 0, 0, 4)
    assert [r[:3] for r in report[1:]] == [
        ["2", "individual_amount", "19999.98"],
        ["3", "employer_amount", "784.01"],
        ["4", "employer_amount", "294.00"],
        ["4", "individual_amount", "60.00"],
        ["5", "employer_amount", "708.48"],
        ["5", "individual_amount", "144.59"],
    ]
    assert report[1][3] == (
        "The policy of 110100 in 2025 gives 677.82 yuan for the base 33891.00; "
        "the file says 19999.98."
    )
    assert "gives 784.00 yuan" in report[2][3]
    assert "gives 691.55 yuan for the base 7056.60" in report[3][3]
    assert Contribution.objects.count() == 0
    assert JournalTransaction.objects.count() == 0


def test_the_clamped_base_and_the_retiree_credit_pass_the_check(alice):
    grandpa = retiree()

    batch = _import(
        f"{alice.id_number},2025-01,3000,691.55,141.13,employer,2025-01-15,paid",
        f"{grandpa.id_number},2025-01,0,0,0,employer,2025-01-31,paid",
        f"{grandpa.id_number},2025-02,0,1,0,employer,2025-02-28,paid",
    )

    assert _counts(batch) == (2, 0, 0, 0, 1)
    assert _report(batch)[1][:2] == ["4", "employer_amount"]
    assert "gives 0.00 yuan" in _report(batch)[1][3]
    assert pocket_balances(alice).current_fen == 14113  # 2% of the floor 7,056.60, all credited
    assert pocket_balances(grandpa).current_fen == 10000
    assert ledger_offenders().clean
