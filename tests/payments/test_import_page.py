"""The staff import page: upload, summary, report download."""

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.selectors import pocket_balances
from payments.models import Contribution, ImportBatch
from tests.payments.helpers import csv_bytes


def _upload(client, data):
    return client.post("/payments/import/", {"file": SimpleUploadedFile("c.csv", data, "text/csv")})


def test_staff_upload_imports_and_offers_the_report(client_for, staff, alice):
    client = client_for(staff)
    data = csv_bytes(
        f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid",
        f"{alice.id_number},2025-02,8000,784,160,employer,2025-02-30,paid",
    )

    response = _upload(client, data)
    batch = ImportBatch.objects.get()
    summary = client.get(response["Location"]).content.decode()
    report = client.get(f"/payments/import/{batch.pk}/report.csv")
    report_en = client.get(f"/payments/import/{batch.pk}/report.csv", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    assert response["Location"] == f"/payments/import/{batch.pk}/"
    assert 'data-testid="imported">1<' in summary
    assert 'data-testid="bad">1<' in summary
    assert report.status_code == 200
    assert report["Content-Disposition"] == f'attachment; filename="import-{batch.pk}-report.csv"'
    # the header in the reader's language (Chinese by default), the rows as stored
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "行号,列,值,问题"
    assert lines[1].startswith("3,paid_on,2025-02-30,")
    assert report_en.content.decode("utf-8-sig").splitlines()[0] == "Line,Column,Value,Problem"
    # ... and the bad rows are on the page too
    assert 'data-testid="bad-rows"' in summary
    assert "2025-02-30" in summary and '<th scope="col">问题</th>' in summary
    assert batch.uploaded_by == staff
    assert pocket_balances(alice).current_fen == 16000


def test_a_member_cannot_import(client_for, alice):
    client = client_for(alice)
    data = csv_bytes(f"{alice.id_number},2025-01,8000,784,160,employer,2025-01-15,paid")

    response = _upload(client, data)

    assert response.status_code == 403
    assert Contribution.objects.count() == 0
    assert ImportBatch.objects.count() == 0


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get("/payments/import/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
