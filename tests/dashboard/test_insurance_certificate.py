"""The insurance certificate (参保凭证): what it prints, /verify/, a
relative's audited download, refusals (docs/adr/0019-member-errands.md)."""

import datetime as dt
import io
import re

import pypdf

from audit.models import AuditEvent
from dashboard import certificates
from dashboard.models import CertificateKind, IssuedCertificate
from tests.dashboard.helpers import contribution, contributions, link


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "".join(page.extract_text() for page in reader.pages).replace("\x00", "")


def test_insurance_certificate_prints_enrolment_and_verifies(alice, client_for, client, settings):
    settings.PORTAL_PUBLIC_URL = "https://portal.example.gov.cn"
    contributions(alice, [dt.date(2024, 11, 1), dt.date(2024, 12, 1), dt.date(2025, 1, 1)])
    contribution(alice, dt.date(2025, 2, 1), status="arrears")
    member = client_for(alice)

    response = member.get(
        "/dashboard/insurance-certificate.pdf?start=2025-01&end=2025-06",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    code = response["X-Verification-Code"]
    issued = IssuedCertificate.objects.get(code=code)
    assert issued.kind == CertificateKind.INSURANCE
    assert issued.issued_by == alice.user
    content = issued.content
    assert content["kind"] == "insurance"
    assert content["region"] == "110105"
    assert content["region_name"] == "北京市朝阳区"
    assert content["type"] == "employee"
    assert content["since"] == "2024-11"
    assert content["total_months"] == 3  # the arrears month does not count
    assert content["months"] == 1  # paid within 2025-01..2025-06
    assert [row[:2] for row in content["table"]] == [["2025-01", "paid"], ["2025-02", "arrears"]]
    assert content["id"] == alice.masked_id_number
    printed = certificates.format_code(code)
    text = re.sub(r"\s+", "", _pdf_text(response.content))
    assert printed in text
    assert f"https://portal.example.gov.cn/verify/{printed}" in text
    assert "北京市朝阳区" in text
    member.logout()

    page = client.get(f"/verify/{printed}", HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="verified"' in body
    assert "Insurance certificate" in body
    assert "北京市朝阳区" in body
    assert "Cumulative contribution months" in body
    assert "2024-11" in body  # contributing since
    assert alice.id_number not in body


def test_tampered_insurance_certificate_code_is_refused(alice, client_for, client):
    contribution(alice, dt.date(2025, 1, 1))
    code = client_for(alice).get("/dashboard/insurance-certificate.pdf?start=2025-01&end=2025-01")[
        "X-Verification-Code"
    ]
    alphabet = certificates.CODE_ALPHABET
    changed = code[:5] + alphabet[(alphabet.index(code[5]) + 1) % 31] + code[6:]
    page = client.get("/verify/", {"code": changed})
    assert page.status_code == 404
    assert 'data-testid="not-verified"' in page.content.decode()
    assert 'data-testid="verified"' not in page.content.decode()
    # A code that passes its check character but was never issued: "not valid".
    forged = certificates.new_code()
    page = client.get("/verify/", {"code": forged}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 404
    assert "was not issued by the portal" in page.content.decode()


def test_no_insurance_certificate_for_a_range_with_nothing_paid(alice, client_for):
    contribution(alice, dt.date(2025, 1, 1))
    contribution(alice, dt.date(2025, 3, 1), status="arrears")
    response = client_for(alice).get(
        "/dashboard/insurance-certificate.pdf?start=2025-02&end=2025-04",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert 'data-testid="certificate-error"' in response.content.decode()
    assert "nothing to certify" in response.content.decode()
    assert IssuedCertificate.objects.count() == 0


def test_relative_with_records_scope_downloads_it_audited(alice, bob, client_for):
    contribution(alice, dt.date(2025, 1, 1))
    link(alice, bob, balance=False, records=True)
    response = client_for(bob).get(
        f"/dashboard/insurance-certificate.pdf?person={alice.pk}&start=2025-01&end=2025-12"
    )
    assert response.status_code == 200
    issued = IssuedCertificate.objects.get(code=response["X-Verification-Code"])
    assert issued.person == alice and issued.issued_by == bob.user
    event = AuditEvent.objects.get(action="dashboard.certificate.insurance.download")
    assert event.actor_id == bob.user.pk
    assert event.subject_person_id == alice.pk
    assert event.object_id == str(issued.pk)


def test_relative_without_records_scope_is_refused(alice, bob, charlie, client_for):
    contribution(alice, dt.date(2025, 1, 1))
    link(alice, bob, balance=True, records=False)
    url = f"/dashboard/insurance-certificate.pdf?person={alice.pk}&start=2025-01&end=2025-12"
    assert client_for(bob).get(url).status_code == 404
    assert client_for(charlie).get(url).status_code == 404
    assert (
        client_for(bob).get(f"/dashboard/insurance-certificate/?person={alice.pk}").status_code
        == 404
    )
    assert IssuedCertificate.objects.count() == 0


def test_enrolment_status_rules():
    today = dt.date(2026, 5, 20)
    status = certificates.enrolment_status
    assert (
        status(insurance_type="employee", paid_periods=["2026-03"], today=today) == "contributing"
    )
    assert status(insurance_type="employee", paid_periods=["2026-02"], today=today) == "interrupted"
    assert status(insurance_type="retired", paid_periods=[], today=today) == "retired"
