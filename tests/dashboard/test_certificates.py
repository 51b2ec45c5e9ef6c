import datetime as dt
import io
import re
import time

import pypdf
import pytest
from django.core import signing

from dashboard import certificates
from portal.errors import ApplicationError
from tests.dashboard.helpers import contribution, link


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "".join(page.extract_text() for page in reader.pages)


def test_certificate_pdf_round_trip_on_verify_page(alice, client_for, client):
    contribution(alice, dt.date(2025, 1, 1))
    contribution(alice, dt.date(2025, 2, 1))
    contribution(alice, dt.date(2025, 3, 1), status="arrears")
    contribution(alice, dt.date(2024, 12, 1))
    member = client_for(alice)

    response = member.get("/dashboard/certificate.pdf?start=2025-01&end=2025-12")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    code = response["X-Verification-Code"]
    text = re.sub(r"\s+", "", _pdf_text(response.content))
    assert code in text
    payload = certificates.certificate_verify(code)
    assert payload["months"] == 2
    assert payload["paid_fen"] == 176000
    assert payload["credited_fen"] == 32000
    assert payload["id"] == alice.masked_id_number
    member.logout()

    page = client.get("/verify/", {"code": code})

    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="verified"' in body
    assert "1,760.00" in body and "320.00" in body
    assert alice.masked_id_number in body
    assert alice.id_number not in body


def test_tampered_code_is_refused(alice, client_for, client):
    response = client_for(alice).get("/dashboard/certificate.pdf?start=2025-01&end=2025-12")
    code = response["X-Verification-Code"]
    payload = signing.loads(code, salt=certificates.CERTIFICATE_SALT)
    payload["paid_fen"] = 99_999_00
    forged = signing.dumps(payload, salt="another salt", compress=True)
    flipped = code[:-3] + ("A" if code[-3] != "A" else "B") + code[-2:]

    for bad in (forged, flipped, "nonsense"):
        page = client.get("/verify/", {"code": bad})
        assert page.status_code == 404
        assert b'data-testid="not-verified"' in page.content
        assert b"99,999.00" not in page.content


def test_certificate_period_errors_name_the_field(alice, client_for):
    response = client_for(alice).get("/dashboard/certificate.pdf?start=2025-05&end=2025-01")
    assert response.status_code == 400
    assert b'id="c-end-err"' in response.content


def test_ecert_token_for_self_and_pay_relative_only(alice, bob, charlie, client_for):
    link(alice, bob, pay=True)
    client = client_for(alice)

    own = client.get(f"/dashboard/ecert/{alice.pk}/token").json()
    relative = client.get(f"/dashboard/ecert/{bob.pk}/token")

    assert certificates.ecert_check(own["token"]) == alice.pk
    assert own["svg"].startswith("data:image/svg+xml")
    assert relative.status_code == 200
    assert certificates.ecert_check(relative.json()["token"]) == bob.pk
    assert client.get(f"/dashboard/ecert/{charlie.pk}/token").status_code == 404
    page = client.get("/dashboard/ecert/").content.decode()
    assert page.count('data-testid="ecert"') == 2


def test_ecert_token_expires(alice):
    token = certificates.ecert_token(alice)
    assert certificates.ecert_check(token, max_age=60) == alice.pk
    time.sleep(1.1)
    with pytest.raises(ApplicationError) as exc:
        certificates.ecert_check(token, max_age=1)
    assert exc.value.code == "expired"
    with pytest.raises(ApplicationError) as exc:
        certificates.ecert_check(token[:-2] + "xx")
    assert exc.value.code == "invalid"
