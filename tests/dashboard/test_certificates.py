import datetime as dt
import io
import re
import time

import pypdf
import pytest
from django.core import signing

from dashboard import certificates
from dashboard.models import IssuedCertificate
from portal.errors import ApplicationError
from tests.dashboard.helpers import contribution, link


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    # Text in the embedded CJK face comes out with NULs between characters.
    return "".join(page.extract_text() for page in reader.pages).replace("\x00", "")


def test_certificate_pdf_round_trip_on_verify_page(alice, client_for, client, settings):
    settings.PORTAL_PUBLIC_URL = "https://portal.example.gov.cn"
    settings.CERTIFICATE_ISSUER = "Beijing Healthcare Security Bureau"
    contribution(alice, dt.date(2025, 1, 1))
    contribution(alice, dt.date(2025, 2, 1))
    contribution(alice, dt.date(2025, 3, 1), status="arrears")
    contribution(alice, dt.date(2024, 12, 1))
    member = client_for(alice)

    response = member.get(
        "/dashboard/certificate.pdf?start=2025-01&end=2025-12", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    code = response["X-Verification-Code"]
    assert len(code) == 15 and set(code) <= set(certificates.CODE_ALPHABET)
    printed = certificates.format_code(code)
    text = re.sub(r"\s+", "", _pdf_text(response.content))
    assert printed in text
    assert f"https://portal.example.gov.cn/verify/{printed}" in text
    assert "BeijingHealthcareSecurityBureau" in text  # the issuer line
    assert "2025-01" in text and "2025-03" in text  # the month table, arrears included
    issued = IssuedCertificate.objects.get(code=code)
    assert issued.person == alice
    assert issued.issued_by == alice.user
    assert issued.content["months"] == 2
    assert issued.content["paid_fen"] == 176000
    assert issued.content["credited_fen"] == 32000
    assert issued.content["id"] == alice.masked_id_number
    assert [row[:2] for row in issued.content["table"]] == [
        ["2025-01", "paid"],
        ["2025-02", "paid"],
        ["2025-03", "arrears"],
    ]
    member.logout()

    for typed in (printed, printed.lower(), code, f" {printed.replace('-', ' ')} "):
        page = client.get("/verify/", {"code": typed}, HTTP_ACCEPT_LANGUAGE="en")
        body = page.content.decode()
        assert page.status_code == 200, typed
        assert 'data-testid="verified"' in body
        assert "1,760.00" in body and "320.00" in body
        assert "Beijing Healthcare Security Bureau" in body
        assert 'data-testid="verified-months"' in body
        assert alice.masked_id_number in body
        assert alice.id_number not in body
    assert client.get(f"/verify/{printed}").status_code == 200


def test_a_typo_is_told_apart_from_a_code_never_issued(alice, client_for, client):
    contribution(alice, dt.date(2025, 1, 1))
    code = client_for(alice).get("/dashboard/certificate.pdf?start=2025-01&end=2025-12")[
        "X-Verification-Code"
    ]
    alphabet = certificates.CODE_ALPHABET
    wrong_char = code[:5] + alphabet[(alphabet.index(code[5]) + 1) % 31] + code[6:]
    swapped = code[:3] + code[4] + code[3] + code[5:]
    unissued = certificates.new_code()

    for typo in (wrong_char, swapped if swapped != code else wrong_char):
        page = client.get("/verify/", {"code": typo}, HTTP_ACCEPT_LANGUAGE="en")
        assert page.status_code == 404
        assert b"typing mistake" in page.content
    for bad in (unissued, "nonsense", "O0I1L" * 3, "A" * 3000):
        page = client.get("/verify/", {"code": bad}, HTTP_ACCEPT_LANGUAGE="en")
        assert page.status_code == 404
        assert b'data-testid="not-verified"' in page.content
        assert b"was not issued by the portal" in page.content


def test_no_certificate_for_a_period_with_nothing_paid(alice, client_for):
    contribution(alice, dt.date(2025, 3, 1), status="arrears")

    response = client_for(alice).get(
        "/dashboard/certificate.pdf?start=2025-01&end=2025-12", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 400
    assert b'data-testid="certificate-error"' in response.content
    assert b"nothing to certify" in response.content
    assert not IssuedCertificate.objects.exists()


def test_check_character_catches_every_single_change_and_neighbour_swap():
    code = certificates.new_code()
    alphabet = certificates.CODE_ALPHABET
    for i in range(len(code)):
        for c in alphabet:
            if c != code[i]:
                changed = code[:i] + c + code[i + 1 :]
                assert certificates.parse_code(changed) == (None, "typo")
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert certificates.parse_code(swapped) == (None, "typo")
    assert certificates.parse_code(code) == (code, "")


def test_a_certificate_printed_before_short_codes_still_verifies(alice, client):
    legacy = signing.dumps(
        {
            "v": 1,
            "name": alice.name,
            "id": alice.masked_id_number,
            "type": alice.insurance_type,
            "start": "2025-01",
            "end": "2025-12",
            "months": 2,
            "paid_fen": 176000,
            "credited_fen": 32000,
            "issued": "2026-01-05",
            "n": "abcd",
        },
        salt=certificates.LEGACY_CERTIFICATE_SALT,
        compress=True,
    )
    forged = signing.dumps({"v": 1, "paid_fen": 1}, salt="another salt", compress=True)

    assert client.get("/verify/", {"code": legacy}).status_code == 200
    assert client.get("/verify/", {"code": forged}).status_code == 404


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
