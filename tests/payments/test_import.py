"""Importing contribution records: validation, idempotency, crediting."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AccountKind, JournalTransaction, LedgerAccount
from accounts.selectors import (
    account_balance_fen,
    account_balances_fen,
    ledger_offenders,
    pocket_balances,
)
from payments.models import Contribution, ImportBatch
from payments.services import contributions_import, import_report_text
from tests.payments.helpers import csv_bytes, retiree, unknown_number


def _report(batch):
    return list(csv.reader(io.StringIO(import_report_text(batch))))


def _system(kind):
    return account_balance_fen(LedgerAccount.objects.get(code=kind))


def test_an_import_mixing_good_and_bad_rows(alice, charlie):
    grandpa = retiree()
    data = csv_bytes(
        f"{alice.id_number},2025-01,8000,784.00,160.00,employer,2025-01-15,paid",  # 2
        f"{charlie.id_number},2025-01,5000,450,150,individual,2025-01-20,paid",  # 3
        f"{grandpa.id_number},2025-01,0,0,0,employer,2025-01-31,paid",  # 4
        f"{alice.id_number},2025-02,8000,784,160,employer,,arrears",  # 5
        f"{unknown_number()},2025-01,8000,784,160,employer,2025-01-15,paid",  # 6
        "110105198503150121,2025-01,8000,784,160,employer,2025-01-15,paid",  # 7 checksum
        f"{alice.id_number},2025-13,8000,784,160,employer,2025-01-15,paid",  # 8
        f"{charlie.id_number},2025-02,5000,-450,150,employer,2025-02-15,paid",  # 9
        f"{alice.id_number},2025-01,9000,882,180,employer,2025-01-15,paid",  # 10 dup in file
        f"{alice.id_number},2025-03,8000",  # 11 malformed
        f"{alice.id_number},2025-04,8000,784,160,employer,,paid",  # 12 paid without date
        f"{alice.id_number},2025-05,8000.001,784,160,boss,2025-05-15,paid",  # 13 two problems
    )

    batch = contributions_import(data=data, file_name="mixed.csv")

    assert (batch.rows_total, batch.rows_imported, batch.rows_already, batch.rows_bad) == (
        12,
        4,
        0,
        8,
    )
    assert batch.refused == ""
    report = _report(batch)
    assert report[0] == ["line", "column", "value", "problem"]
    assert [(r[0], r[1]) for r in report[1:]] == [
        ("6", "id_number"),
        ("7", "id_number"),
        ("8", "period"),
        ("9", "employer_amount"),
        ("10", "period"),
        ("11", ""),
        ("12", "paid_on"),
        ("13", "base"),
        ("13", "payer"),
    ]
    problems = {(r[0], r[1]): r[3] for r in report[1:]}
    assert problems[("6", "id_number")].startswith("Unknown person")
    assert "check character" in problems[("7", "id_number")]
    assert problems[("9", "employer_amount")] == "An amount cannot be negative."
    assert problems[("10", "period")] == ("Duplicate period: line 2 has the same person and month.")
    assert problems[("11", "")] == "Malformed line: 3 fields, expected 8."
    # identity numbers are masked in the report
    assert report[1][2].count("*") == 10

    stored = {
        (c.person_id, f"{c.period:%Y-%m}"): c for c in Contribution.objects.filter(batch=batch)
    }
    assert set(stored) == {
        (alice.pk, "2025-01"),
        (charlie.pk, "2025-01"),
        (grandpa.pk, "2025-01"),
        (alice.pk, "2025-02"),
    }
    a = stored[(alice.pk, "2025-01")]
    assert (a.declared_base_fen, a.base_fen, a.employer_fen, a.individual_fen, a.credited_fen) == (
        800000,
        800000,
        78400,
        16000,
        16000,
    )
    c = stored[(charlie.pk, "2025-01")]
    # 440300 in 2025: average wage 12,500, floor 60% = 7,500
    assert (c.declared_base_fen, c.base_fen, c.credited_fen, c.payer) == (
        500000,
        750000,
        15000,
        "individual",
    )
    assert stored[(grandpa.pk, "2025-01")].credited_fen == 10000  # retiree monthly credit
    assert stored[(alice.pk, "2025-02")].credited_fen == 0  # arrears credit nothing

    assert pocket_balances(alice).current_fen == 16000
    assert pocket_balances(charlie).current_fen == 15000
    assert pocket_balances(grandpa).current_fen == 10000
    # receivable gave up 784+160 + 450+150; pooled got it less 160+150, and paid 100 to grandpa
    assert _system(AccountKind.CONTRIBUTIONS_RECEIVABLE) == -(94400 + 60000)
    assert _system(AccountKind.POOLED_FUND) == (94400 - 16000) + (60000 - 15000) - 10000
    assert set(JournalTransaction.objects.values_list("idempotency_key", flat=True)) == {
        f"contribution:{stored[k].pk}:credit" for k in stored if k[1] == "2025-01"
    }
    assert ledger_offenders().clean


def test_importing_the_same_file_again_changes_nothing(alice, charlie):
    data = csv_bytes(
        f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid",
        f"{charlie.id_number},2025-01,5000,450,150,individual,2025-01-20,paid",
        f"{alice.id_number},2025-99,8000,784,160,employer,2025-01-15,paid",
    )
    first = contributions_import(data=data, file_name="a.csv")
    before = (
        Contribution.objects.count(),
        JournalTransaction.objects.count(),
        sorted(account_balances_fen(LedgerAccount.objects.values_list("pk", flat=True)).items()),
    )

    again = contributions_import(data=data, file_name="a.csv")

    assert (first.rows_imported, first.rows_already, first.rows_bad) == (2, 0, 1)
    assert (again.rows_imported, again.rows_already, again.rows_bad) == (0, 2, 1)
    assert import_report_text(again) == import_report_text(first)
    assert (
        Contribution.objects.count(),
        JournalTransaction.objects.count(),
        sorted(account_balances_fen(LedgerAccount.objects.values_list("pk", flat=True)).items()),
    ) == before


def test_a_different_record_for_a_stored_month_is_a_bad_row(alice):
    contributions_import(
        data=csv_bytes(f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid"),
        file_name="a.csv",
    )

    batch = contributions_import(
        data=csv_bytes(f"{alice.id_number},2025-01,9000,882,180,employer,2025-01-15,paid"),
        file_name="b.csv",
    )

    assert (batch.rows_imported, batch.rows_already, batch.rows_bad) == (0, 0, 1)
    assert _report(batch)[1][:2] == ["2", "period"]
    assert "already stored" in _report(batch)[1][3]
    assert Contribution.objects.get().individual_fen == 16000
    assert pocket_balances(alice).current_fen == 16000


def test_a_gbk_file_is_refused_naming_the_line(alice):
    text = (
        "id_number,period,base,employer_amount,individual_amount,payer,paid_on,status\n"
        f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid\n"
        f"{alice.id_number},2025-02,8000,784,160,employer,2025-02-15,paid # 张伟\n"
    )

    batch = contributions_import(data=text.encode("gbk"), file_name="gbk.csv")

    assert "not UTF-8" in batch.refused
    assert "line 3" in batch.refused
    assert (batch.rows_imported, Contribution.objects.count()) == (0, 0)
    assert pocket_balances(alice).current_fen == 0


def test_a_utf8_bom_is_accepted_and_a_missing_column_refused(alice):
    ok = contributions_import(
        data=b"\xef\xbb\xbf"
        + csv_bytes(f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid"),
        file_name="bom.csv",
    )
    refused = contributions_import(
        data=csv_bytes(
            f"{alice.id_number},2025-02,8000,784,160,employer,2025-02-15",
            header="id_number,period,base,employer_amount,individual_amount,payer,paid_on",
        ),
        file_name="short.csv",
    )

    assert ok.rows_imported == 1
    assert "missing: status" in refused.refused
    assert Contribution.objects.count() == 1


def test_import_command_imports_and_exits_non_zero_on_bad_rows(alice, tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(
        csv_bytes(
            f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid",
            f"{alice.id_number},2025-02,8000,-1,160,employer,2025-02-15,paid",
        )
    )
    report = tmp_path / "report.csv"

    with pytest.raises(CommandError, match="1 bad row"):
        call_command("import_contributions", str(path), "--report", str(report))

    assert Contribution.objects.count() == 1
    assert report.read_text().splitlines()[1].startswith("3,employer_amount,-1,")
    assert ImportBatch.objects.count() == 1


def test_a_month_taken_meanwhile_past_the_lock_is_a_conflict_and_nothing_is_kept(
    alice, charlie, monkeypatch
):
    """Only a writer that bypassed the import lock can take a planned month
    between the plan and the write: the unique index refuses the double and
    the whole import is a Conflict; nothing of it is kept."""
    from django.db import connection

    from payments import services
    from portal.errors import Conflict

    if connection.vendor != "postgresql":
        pytest.skip("the set-based write is PostgreSQL's")
    data = csv_bytes(
        f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid",
        f"{charlie.id_number},2025-01,5000,450,150,individual,2025-01-20,paid",
    )
    stage = services._stage_postgresql

    def taken_meanwhile(plan):
        Contribution.objects.create(
            person=charlie,
            period=plan.new[1].period,
            declared_base_fen=500000,
            base_fen=500000,
            employer_fen=45000,
            individual_fen=15000,
            credited_fen=0,
            payer="individual",
            status="arrears",
        )
        stage(plan)

    monkeypatch.setattr(services, "_stage_postgresql", taken_meanwhile)

    with pytest.raises(Conflict):
        contributions_import(data=data, file_name="raced.csv")

    assert not ImportBatch.objects.exists()
    assert not Contribution.objects.exists()
    assert not JournalTransaction.objects.exists()
