"""No cell aborts a file; a file over the size limit is refused before it is
read; memory stays bounded; the bad-row report is a capped file."""

import csv
import io
import os
import stat
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from accounts.models import JournalTransaction
from accounts.selectors import ledger_offenders, pocket_balances
from audit.models import AuditEvent
from payments.models import Contribution, ImportBatch
from payments.services import contributions_import, import_report_text
from portal.errors import ApplicationError
from tests.payments.helpers import csv_bytes

GOOD = "{n},2025-{m:02d},8000,784,160,employer,2025-{m:02d}-15,paid"


def _report(batch):
    return list(csv.reader(io.StringIO(import_report_text(batch))))


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("base", "1e20"),
        ("employer_amount", '"1e30"'),
        ("individual_amount", "NaN"),
        ("base", str(2**63)),
        ("employer_amount", "9223372036854775807.00"),
        ("individual_amount", "１６０"),  # full-width digits
        ("base", "-inf"),
        ("employer_amount", "100000.01"),  # over MAX_CONTRIBUTION_FEN
    ],
)
def test_one_out_of_range_cell_is_a_bad_row_and_the_good_rows_import(alice, column, cell):
    values = {"base": "8000", "employer_amount": "784", "individual_amount": "160"}
    values[column] = cell
    bad = f"{alice.id_number},2025-03,{values['base']},{values['employer_amount']},"
    bad += f"{values['individual_amount']},employer,2025-03-15,paid"

    batch = contributions_import(
        data=csv_bytes(
            GOOD.format(n=alice.id_number, m=1), bad, GOOD.format(n=alice.id_number, m=2)
        ),
        file_name="big.csv",
    )

    assert ImportBatch.objects.get() == batch
    assert (batch.rows_total, batch.rows_imported, batch.rows_bad) == (3, 2, 1)
    report = _report(batch)
    assert [r[:2] for r in report[1:]] == [["3", column]]
    assert sorted(f"{c.period:%m}" for c in Contribution.objects.all()) == ["01", "02"]
    assert pocket_balances(alice).current_fen == 2 * 16000
    assert ledger_offenders().clean


def test_a_year_zero_month_or_date_is_a_bad_row(alice):
    batch = contributions_import(
        data=csv_bytes(
            f"{alice.id_number},0000-01,8000,784,160,employer,2025-01-15,paid",
            f"{alice.id_number},2025-01,8000,784,160,employer,0000-01-15,paid",
            f"{alice.id_number},2025-02,8000,784,160,employer,２０２５-02-15,paid",
            GOOD.format(n=alice.id_number, m=3),
        ),
        file_name="y0.csv",
    )

    assert (batch.rows_imported, batch.rows_bad) == (1, 3)
    assert [r[:2] for r in _report(batch)[1:]] == [
        ["2", "period"],
        ["3", "paid_on"],
        ["4", "paid_on"],
    ]


def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(alice, settings):
    settings.IMPORT_MAX_BYTES = 200
    data = csv_bytes(*(GOOD.format(n=alice.id_number, m=m) for m in range(1, 5)))
    assert len(data) > 200
    audit_before = AuditEvent.objects.count()

    with pytest.raises(ApplicationError) as excinfo:
        contributions_import(data=data, file_name="big.csv")
    with pytest.raises(ApplicationError) as streamed:  # no size known in advance
        contributions_import(data=io.BufferedReader(io.BytesIO(data)), file_name="big.csv")

    assert excinfo.value.code == streamed.value.code == "file_too_large"
    assert "the limit is 200 bytes" in excinfo.value.message
    assert (ImportBatch.objects.count(), Contribution.objects.count()) == (0, 0)
    assert JournalTransaction.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before


def test_the_page_refuses_a_file_over_the_limit(client_for, staff, alice, settings):
    settings.IMPORT_MAX_BYTES = 200
    data = csv_bytes(*(GOOD.format(n=alice.id_number, m=m) for m in range(1, 5)))

    response = client_for(staff).post(
        "/payments/import/",
        {"file": SimpleUploadedFile("c.csv", data, "text/csv")},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    assert f"The file is too large ({len(data)} bytes); the limit is 200 bytes" in (
        response.content.decode()
    )
    assert (ImportBatch.objects.count(), Contribution.objects.count()) == (0, 0)


def test_the_command_refuses_a_file_over_the_limit(alice, settings, tmp_path):
    settings.IMPORT_MAX_BYTES = 200
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes(*(GOOD.format(n=alice.id_number, m=m) for m in range(1, 5))))

    with pytest.raises(CommandError, match="the limit is 200 bytes"):
        call_command("import_contributions", str(path))

    assert (ImportBatch.objects.count(), Contribution.objects.count()) == (0, 0)


def test_the_report_is_a_private_capped_file(alice, settings, _private_media):
    settings.IMPORT_REPORT_MAX_ROWS = 3
    lines = [GOOD.format(n=alice.id_number, m=1)]
    lines += [f"{alice.id_number},2025-{m:02d},8000,784,160,=HYPERLINK(1),,paid" for m in (9, 3)]
    lines += [f"{alice.id_number},2025-{m:02d},8000,-1,160,employer,,paid" for m in (4, 5, 6)]

    batch = contributions_import(data=csv_bytes(*lines), file_name="r.csv")

    path = _private_media / "imports" / batch.report_name
    assert path.is_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not hasattr(batch, "report_csv")
    report = _report(batch)
    assert batch.rows_bad == 5
    # the three lowest lines in full, a formula neutralised, then the count
    assert [r[:3] for r in report[1:4]] == [
        ["3", "payer", "'=HYPERLINK(1)"],
        ["3", "paid_on", ""],
        ["4", "payer", "'=HYPERLINK(1)"],
    ]
    assert [r[0] for r in report[1:-1]] == ["3", "3", "4", "4", "5", "5"]
    assert report[-1] == ["", "", "", "… and 2 more bad rows, not listed."]


def test_the_report_is_downloaded_from_the_file(client_for, staff, alice):
    batch = contributions_import(
        data=csv_bytes(f"{alice.id_number},2025-01,8000,-1,160,employer,2025-01-15,paid"),
        file_name="r.csv",
    )

    response = client_for(staff).get(f"/payments/import/{batch.pk}/report.csv")

    assert response.status_code == 200
    stored = import_report_text(batch)
    # the rows as stored; the header in the reader's language
    downloaded = response.content.decode("utf-8-sig")
    assert downloaded.splitlines()[0] == "行号,列,值,问题"
    assert downloaded.splitlines()[1:] == stored.splitlines()[1:]
    assert stored.splitlines()[1].startswith("2,employer_amount,-1,")


def test_a_50k_row_file_imports_in_bounded_memory(alice, bob, charlie):
    # 3 people x 12 months are good; the rest repeat a month (a bad row each)
    lines = []
    for k in range(50_000):
        person = (alice, bob, charlie)[k % 3]
        month = (k // 3) % 12 + 1
        if person is charlie:
            line = f"{person.id_number},2025-{month:02d},7500,450,150,individual,"
            line += f"2025-{month:02d}-20,paid"
        else:
            line = GOOD.format(n=person.id_number, m=month)
        lines.append(line)
    data = csv_bytes(*lines)
    assert len(data) > 3_000_000

    tracemalloc.start()
    try:
        batch = contributions_import(data=io.BytesIO(data), file_name="50k.csv")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (batch.rows_total, batch.rows_imported, batch.rows_bad) == (50_000, 36, 49_964)
    assert len(_report(batch)) == 1 + 1000 + 1
    # the file is 3.3 MB; reading it whole into text and a dict per row took
    # 75 MB for the parse alone, streaming into small slotted rows about 12 MB
    assert peak < 20_000_000, peak
    assert ledger_offenders().clean


def test_a_bad_byte_past_the_first_chunks_is_named_by_its_line(alice):
    # 3,000 lines (~200 KB, several 64 KiB chunks, CRLF endings), then a GBK line
    lines = [GOOD.format(n=alice.id_number, m=k % 12 + 1) for k in range(3000)]
    data = csv_bytes(*lines).replace(b"\n", b"\r\n")
    data += "110105198503150123,2025-01,8000,784,160,张伟,2025-01-15,paid\r\n".encode("gbk")

    batch = contributions_import(data=data, file_name="gbk.csv")

    assert "first bad byte on line 3002" in batch.refused
    assert (batch.rows_imported, Contribution.objects.count()) == (0, 0)
