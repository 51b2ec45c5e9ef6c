"""Every CSV the portal writes neutralises text that a spreadsheet would run as
a formula, and keeps amounts (negative ones too) as numbers (portal.csvsafe,
docs/adr/0007)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from claims.services import LineInput, expense_reverse, expense_submit
from claims.settlement import settlement_run_batch, settlement_start
from payments.models import ImportBatch
from payments.services import contributions_import
from portal.csvsafe import neutralise_cell
from tests.claims import conftest as claims_fixtures
from tests.payments.helpers import HEADER

hospital = claims_fixtures.hospital
policies = claims_fixtures.policies

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "=1+1",
    "@SUM(A1)",
    "+1",
    "-2+3",
    "\t=1",
    "\r=1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_that_could_start_a_formula_gets_a_leading_quote(value):
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["-12.50", "-1,234.56", "1,234.56", "0.00", "-5", "Alice", "张伟", "", 12, None]
)
def test_numbers_and_plain_text_are_left_as_they_are(value):
    assert neutralise_cell(value) == value


def _rows(body: bytes | str) -> list[list[str]]:
    text = body.decode("utf-8-sig") if isinstance(body, bytes) else body.lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text, newline="")))


def _csv_line(*cells: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def test_the_import_report_neutralises_the_file_cells(alice, client_for, staff):
    # given: a file whose cells carry formulas, in the columns the report
    # echoes (identity numbers are echoed masked, so they are safe anyway)
    lines = [
        _csv_line(alice.id_number, "2026-01", value, "784.00", "160.00", "employer", "", "paid")
        for value in HOSTILE
    ]
    lines += [
        _csv_line(alice.id_number, f"2026-{m:02d}", "8000", "784.00", "160.00", value, "", "paid")
        for m, value in enumerate(HOSTILE, start=2)
    ]
    lines += [
        _csv_line(alice.id_number, value, "8000", "784.00", "160.00", "employer", "", "paid")
        for value in HOSTILE
    ]
    data = ("\n".join([HEADER, *lines]) + "\n").encode()
    contributions_import(data=data, file_name="hostile.csv")
    batch = ImportBatch.objects.get()

    response = client_for(staff).get(
        f"/payments/import/{batch.pk}/report.csv", HTTP_ACCEPT_LANGUAGE="en"
    )

    rows = _rows(response.content)
    assert response.status_code == 200
    assert rows[0] == ["Line", "Column", "Value", "Problem"]
    values = {(row[1], row[2]) for row in rows[1:]}
    for value in ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "-2+3"]:
        assert ("base", "'" + value) in values
        assert ("payer", "'" + value) in values
        assert ("period", "'" + value) in values
    assert ("payer", "'+1") in values
    # no cell of the report could start a formula
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_the_settlement_csv_keeps_a_refund_as_a_negative_number(
    policies, alice, hospital, client_for, staff
):
    # given: an expense, its reversal (description and reason carry formulas)
    expense, _ = expense_submit(
        institution=hospital,
        idempotency_key="csv",
        patient_id_number=alice.id_number,
        service_date=dt.date(2026, 3, 1),
        care_type="outpatient",
        lines=[LineInput("A", 500000, '=HYPERLINK("http://x","y")')],
    )
    first = settlement_start(period=dt.date(2026, 3, 2), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=first.pk)
    expense_reverse(institution=hospital, expense_id=expense.pk, reason="=1+1")
    later = settlement_start(period=dt.date(2026, 3, 3), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=later.pk)

    response = client_for(staff).get(f"/staff/settlement/{later.pk}/expenses.csv")

    rows = _rows(b"".join(response.streaming_content))
    assert rows[1][4:] == [
        "reversal",
        "5,000.00",
        "2,240.00",
        "0.00",
        "2,760.00",
        "-2,240.00",
    ]
    assert not any(cell.startswith("'") for row in rows for cell in row)


def test_the_payment_record_csv_keeps_amounts_as_numbers(alice, client_for):
    data = (
        HEADER + "\n" + f"{alice.id_number},2026-01,8000,784.00,160.00,employer,2026-01-15,paid\n"
    ).encode()
    contributions_import(data=data, file_name="ok.csv")

    response = client_for(alice).get("/dashboard/records.csv")

    rows = _rows(response.content)
    assert rows[1][:5] == ["2026-01", "8,000.00", "784.00", "160.00", "160.00"]
    assert not any(cell.startswith("'") for row in rows for cell in row)
