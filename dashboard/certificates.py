"""Payment-record certificates and the electronic certificate token.

A payment-record certificate carries a verification code: the certificate's
own content, signed with ``django.core.signing`` (salted, compressed). Anyone
can check a code on the public ``/verify/`` page, which shows the signed
content and nothing more; no table is needed, and a changed character breaks
the signature. The identity number inside is masked, as printed.

The electronic certificate (医保电子凭证) is a QR code of a short-lived token
(``TimestampSigner``, ``ECERT_MAX_AGE`` seconds) that the page refreshes.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import secrets
from pathlib import Path

import segno
from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import InsuredPerson
from portal.errors import ApplicationError
from portal.money import format_yuan

CERTIFICATE_SALT = "dashboard.certificate.v1"
ECERT_SALT = "dashboard.ecert.v1"
ECERT_MAX_AGE = 60  # seconds a shown QR code stays valid

# Debian's fonts-noto-cjk (installed with chromium by scripts/ensure-chromium);
# the certificate embeds the subset of glyphs it uses. CERTIFICATE_FONT overrides.
DEFAULT_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FONT_COLLECTION_INDEX = 2  # Simplified Chinese face inside the collection
# fontTools logs every subsetting step at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)


# --- payment-record certificate ---------------------------------------------


def certificate_payload(
    *, person: InsuredPerson, start: str, end: str, rows: list[dict], issued: dt.date
) -> dict:
    """What the certificate prints (and the only thing /verify/ shows).

    ``rows``: [{"period": "YYYY-MM", "status": ..., "total_fen": int,
    "credited_fen": int}] for the months in [start, end]."""
    paid = [r for r in rows if r["status"] == "paid"]
    return {
        "v": 1,
        "name": person.name,
        "id": person.masked_id_number,
        "type": person.insurance_type,
        "start": start,
        "end": end,
        "months": len(paid),
        "paid_fen": sum(r["total_fen"] for r in paid),
        "credited_fen": sum(r["credited_fen"] for r in paid),
        "issued": issued.isoformat(),
        "n": secrets.token_hex(4),  # two certificates of the same content differ
    }


def certificate_code(payload: dict) -> str:
    return signing.dumps(payload, salt=CERTIFICATE_SALT, compress=True)


def certificate_verify(code: str) -> dict | None:
    """The signed content, or None for a code that was not issued here."""
    try:
        payload = signing.loads((code or "").strip(), salt=CERTIFICATE_SALT)
    except signing.BadSignature:
        return None
    return payload if isinstance(payload, dict) and payload.get("v") == 1 else None


def _font_path() -> str:
    path = (
        getattr(settings, "CERTIFICATE_FONT", "")
        or os.environ.get("CERTIFICATE_FONT", "")
        or DEFAULT_FONT
    )
    if not Path(path).exists():
        raise ApplicationError(
            _(
                "The certificate font is not installed on this server (%(path)s): "
                "install Debian's fonts-noto-cjk."
            )
            % {"path": path},
            code="font_missing",
            status_code=503,
        )
    return path


def certificate_pdf(*, payload: dict, code: str, verify_url: str, labels: dict) -> bytes:
    """The printable certificate: its facts, the verification code and a QR code
    of ``verify_url``. ``labels``: translated texts, so the PDF follows the
    page language."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(labels["title"])
    pdf.set_creator("Medical insurance portal")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    font = _font_path()
    kwargs = {"collection_font_number": FONT_COLLECTION_INDEX} if font.endswith(".ttc") else {}
    pdf.add_font("cjk", fname=font, **kwargs)
    pdf.set_font("cjk", size=20)
    pdf.cell(0, 14, labels["title"], new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(4)
    pdf.set_font("cjk", size=12)
    for label, value in labels["facts"]:
        pdf.cell(60, 9, label)
        pdf.cell(0, 9, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("cjk", size=10)
    pdf.multi_cell(0, 6, labels["statement"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    qr = segno.make(verify_url, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=6, border=2)
    buf.seek(0)
    top = pdf.get_y()
    pdf.image(buf, x=pdf.l_margin, y=top, w=45, h=45)
    pdf.set_xy(pdf.l_margin + 50, top)
    pdf.multi_cell(0, 6, labels["verify_hint"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 50)
    pdf.multi_cell(0, 6, labels["code_label"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 50)
    pdf.set_font("Courier", size=7)  # the code is ASCII; a fixed-width face reads best
    pdf.multi_cell(0, 4, code, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def certificate_facts(payload: dict, *, type_label: str) -> list[tuple[str, str]]:
    """(label, value) pairs, the same on the PDF and on /verify/."""
    return [
        (_("Name"), payload["name"]),
        (_("Identity number"), payload["id"]),
        (_("Insurance type"), type_label),
        (_("Period"), f"{payload['start']} – {payload['end']}"),
        (_("Months paid"), str(payload["months"])),
        (_("Contributions paid (yuan)"), format_yuan(payload["paid_fen"])),
        (_("Credited to the personal account (yuan)"), format_yuan(payload["credited_fen"])),
        (_("Issued on"), payload["issued"]),
    ]


# --- electronic certificate --------------------------------------------------


def ecert_token(person: InsuredPerson) -> str:
    signer = signing.TimestampSigner(salt=ECERT_SALT)
    return signer.sign_object({"p": person.pk, "n": secrets.token_hex(4)}, compress=True)


def ecert_check(token: str, *, max_age: int = ECERT_MAX_AGE) -> int:
    """The person id in a token shown at most ``max_age`` seconds ago.

    Raises ApplicationError(code="expired" or "invalid") otherwise."""
    signer = signing.TimestampSigner(salt=ECERT_SALT)
    try:
        data = signer.unsign_object(token, max_age=max_age)
    except signing.SignatureExpired:
        raise ApplicationError(
            _("This electronic certificate has expired; ask for a fresh code."), code="expired"
        ) from None
    except signing.BadSignature:
        raise ApplicationError(
            _("This is not a valid electronic certificate."), code="invalid"
        ) from None
    return int(data["p"])


def now_local() -> dt.datetime:
    return timezone.localtime()
