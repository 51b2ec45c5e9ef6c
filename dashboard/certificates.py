"""Payment-record certificates and the electronic certificate token.

A payment-record certificate is recorded when it is issued
(``dashboard.IssuedCertificate``) under a short code: 14 random characters and
a check character from an alphabet without look-alikes, printed as
``ABCD-EFGH-JKMN-PQR`` beside the full address that checks it. The public
``/verify/`` page shows what was printed and nothing more; a mistyped code is
told apart from one that was never issued. The identity number inside is
masked, as printed. See docs/adr/0010-certificates.md.

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
from portal.money import format_money

ECERT_SALT = "dashboard.ecert.v1"
ECERT_MAX_AGE = 60  # seconds a shown QR code stays valid

# Debian's fonts-noto-cjk (installed with chromium by scripts/ensure-chromium);
# the certificate embeds the subset of glyphs it uses. CERTIFICATE_FONT overrides.
DEFAULT_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FONT_COLLECTION_INDEX = 2  # Simplified Chinese face inside the collection
# fontTools logs every subsetting step at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)


# --- payment-record certificate ---------------------------------------------

# Certificate codes: 14 random characters and one check character, from an
# alphabet without look-alikes (no 0/O, no 1/I/L), printed in groups of four.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_RANDOM_LENGTH = 14


def _check_character(body: str) -> str:
    """A weighted sum modulo 31 (a prime, the alphabet's size): any one wrong
    character, and any swap of two neighbours, changes it."""
    total = sum((i + 1) * CODE_ALPHABET.index(c) for i, c in enumerate(body))
    return CODE_ALPHABET[total % len(CODE_ALPHABET)]


def new_code() -> str:
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_RANDOM_LENGTH))
    return body + _check_character(body)


def format_code(code: str) -> str:
    """``ABCDEFGHJKMNPQR`` -> ``ABCD-EFGH-JKMN-PQR`` (as printed)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def parse_code(raw: str) -> tuple[str | None, str]:
    """``(code, "")`` for a well-formed code typed in any case with spaces or
    dashes; ``(None, reason)`` otherwise, the reason being ``"shape"`` (not a
    certificate code) or ``"typo"`` (the check character does not match)."""
    code = "".join(c for c in (raw or "") if c not in " -\t\r\n").upper()
    if len(code) != CODE_RANDOM_LENGTH + 1 or any(c not in CODE_ALPHABET for c in code):
        return None, "shape"
    if _check_character(code[:-1]) != code[-1]:
        return None, "typo"
    return code, ""


def certificate_content(
    *,
    person: InsuredPerson,
    start: str,
    end: str,
    rows: list[dict],
    issued_at: dt.datetime,
    issuer: str,
) -> dict:
    """What a payment-record certificate prints (and the only thing /verify/
    shows). ``rows``: [{"period": "YYYY-MM", "status", "total_fen",
    "credited_fen"}] for the months in [start, end], in month order.

    Raises ApplicationError when no month of the range was paid: there is
    nothing to certify."""
    paid = [r for r in rows if r["status"] == "paid"]
    if not paid:
        raise ApplicationError(
            _(
                "No contribution was paid from %(start)s to %(end)s, so there is nothing to "
                "certify. Choose a period with paid months."
            )
            % {"start": start, "end": end},
            code="nothing_paid",
            fields={"start": [_("No month in this period was paid.")]},
        )
    return {
        "v": 2,
        "name": person.name,
        "id": person.masked_id_number,
        "type": person.insurance_type,
        "start": start,
        "end": end,
        "months": len(paid),
        "paid_fen": sum(r["total_fen"] for r in paid),
        "credited_fen": sum(r["credited_fen"] for r in paid),
        "table": [
            [r["period"], r["status"], r["total_fen"], r["credited_fen"]]
            for r in sorted(rows, key=lambda r: r["period"])
        ],
        "issuer": issuer,
        "issued_at": timezone.localtime(issued_at).strftime("%Y-%m-%d %H:%M"),
    }


# --- insurance certificate (参保凭证) -------------------------------------------

INSURANCE_KIND = "insurance"
# Enrolment status, derived from the contribution record (the register keeps
# no separate status): a retiree is enrolled without contributing; anyone
# else is "contributing" when a month within the last ``ACTIVE_MONTHS`` was
# paid, and "interrupted" otherwise.
ACTIVE_MONTHS = 3
STATUS_CONTRIBUTING, STATUS_RETIRED, STATUS_INTERRUPTED = "contributing", "retired", "interrupted"


def enrolment_status(*, insurance_type: str, paid_periods: list[str], today: dt.date) -> str:
    if insurance_type == "retired":
        return STATUS_RETIRED
    month_index = today.year * 12 + today.month - 1
    for period in paid_periods:
        year, month = (int(x) for x in period.split("-"))
        if month_index - (year * 12 + month - 1) < ACTIVE_MONTHS:
            return STATUS_CONTRIBUTING
    return STATUS_INTERRUPTED


def enrolment_status_labels() -> dict[str, str]:
    return {
        STATUS_CONTRIBUTING: _("Enrolled, contributing"),
        STATUS_RETIRED: _("Enrolled (retired)"),
        STATUS_INTERRUPTED: _("Enrolled, contributions interrupted"),
    }


def insurance_content(
    *,
    person: InsuredPerson,
    region_name: str,
    start: str,
    end: str,
    rows: list[dict],
    paid_periods: list[str],
    issued_at: dt.datetime,
    issuer: str,
) -> dict:
    """What an insurance certificate prints (and the only thing /verify/
    shows): scheme, insured region, enrolment status, the first paid month
    and the cumulative paid months (``paid_periods``: every paid month of the
    person, "YYYY-MM"), and the months of [start, end] (``rows`` as for
    ``certificate_content``).

    Raises ApplicationError when no month of the range was paid."""
    paid = [r for r in rows if r["status"] == "paid"]
    if not paid:
        raise ApplicationError(
            _(
                "No contribution was paid from %(start)s to %(end)s, so there is nothing to "
                "certify. Choose a period with paid months."
            )
            % {"start": start, "end": end},
            code="nothing_paid",
            fields={"start": [_("No month in this period was paid.")]},
        )
    periods = sorted(set(paid_periods))
    return {
        "v": 3,
        "kind": INSURANCE_KIND,
        "name": person.name,
        "id": person.masked_id_number,
        "type": person.insurance_type,
        "region": person.insured_region,
        "region_name": region_name,
        "status": enrolment_status(
            insurance_type=person.insurance_type,
            paid_periods=periods,
            today=timezone.localtime(issued_at).date(),
        ),
        "since": periods[0],
        "total_months": len(periods),
        "start": start,
        "end": end,
        "months": len(paid),
        "table": [
            [r["period"], r["status"], r["total_fen"], r["credited_fen"]]
            for r in sorted(rows, key=lambda r: r["period"])
        ],
        "issuer": issuer,
        "issued_at": timezone.localtime(issued_at).strftime("%Y-%m-%d %H:%M"),
    }


def insurance_facts(
    payload: dict, *, type_label: str, with_issue: bool = True
) -> list[tuple[str, str]]:
    """(label, value) pairs of an insurance certificate, on the PDF and on /verify/."""
    status = enrolment_status_labels().get(payload["status"], payload["status"])
    facts = [
        (_("Name"), payload["name"]),
        (_("Identity number"), payload["id"]),
        (_("Insurance type"), type_label),
        (_("Insured region"), payload["region_name"] or payload["region"]),
        (_("Enrolment status"), status),
        (_("Contributing since"), payload["since"]),
        (_("Cumulative contribution months"), str(payload["total_months"])),
        (_("Period"), f"{payload['start']} – {payload['end']}"),
        (_("Months paid in the period"), str(payload["months"])),
    ]
    if with_issue:
        if payload.get("issuer"):
            facts.append((_("Issued by"), payload["issuer"]))
        facts.append((_("Issued at"), payload["issued_at"]))
    return facts


LEGACY_CERTIFICATE_SALT = "dashboard.certificate.v1"


def legacy_certificate_verify(code: str) -> dict | None:
    """Certificates printed before short codes carried their signed content
    (``django.core.signing``) as the code: they stay checkable."""
    try:
        payload = signing.loads((code or "").strip(), salt=LEGACY_CERTIFICATE_SALT)
    except signing.BadSignature:
        return None
    if not (isinstance(payload, dict) and payload.get("v") == 1):
        return None
    return {**payload, "issued_at": payload.get("issued", ""), "issuer": "", "table": []}


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
    """The printable certificate: the issuer, its facts, the month table, the
    verification code in large type and the full address to check it, with a
    QR code of that address. ``labels``: translated texts, so the PDF follows
    the page language."""
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
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 7, labels["issuer_line"], new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(4)
    pdf.set_font("cjk", size=12)
    for label, value in labels["facts"]:
        pdf.cell(70, 8, label)
        pdf.cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("cjk", size=10)
    pdf.multi_cell(0, 6, labels["statement"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    if labels["table"]:
        widths = (35, 45, 50, 50)
        pdf.set_font("cjk", size=10)
        for width, heading in zip(widths, labels["table_head"], strict=True):
            pdf.cell(width, 7, heading, border="B")
        pdf.ln(7)
        for row in labels["table"]:
            for i, (width, value) in enumerate(zip(widths, row, strict=True)):
                pdf.cell(width, 6, value, align="R" if i >= 2 else "L")
            pdf.ln(6)
        pdf.ln(4)
    if pdf.get_y() > 230:
        pdf.add_page()
    qr = segno.make(verify_url, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=6, border=2)
    buf.seek(0)
    top = pdf.get_y()
    pdf.image(buf, x=pdf.l_margin, y=top, w=45, h=45)
    pdf.set_xy(pdf.l_margin + 50, top)
    pdf.set_font("cjk", size=10)
    pdf.multi_cell(0, 6, labels["verify_hint"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 50)
    pdf.multi_cell(0, 6, labels["code_label"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 50)
    pdf.set_font("Courier", style="B", size=16)  # ASCII, fixed width, no look-alikes
    pdf.cell(0, 9, format_code(code), new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 50)
    pdf.set_font("Courier", size=9)
    pdf.multi_cell(0, 5, verify_url, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def certificate_facts(
    payload: dict, *, type_label: str, with_issue: bool = True
) -> list[tuple[str, str]]:
    """(label, value) pairs, the same on the PDF and on /verify/ (the PDF
    prints the issuer and time in its heading instead: ``with_issue=False``)."""
    facts = [
        (_("Name"), payload["name"]),
        (_("Identity number"), payload["id"]),
        (_("Insurance type"), type_label),
        (_("Period"), f"{payload['start']} – {payload['end']}"),
        (_("Months paid"), str(payload["months"])),
        (_("Contributions paid"), format_money(payload["paid_fen"])),
        (_("Credited to the personal account"), format_money(payload["credited_fen"])),
    ]
    if with_issue:
        if payload.get("issuer"):
            facts.append((_("Issued by"), payload["issuer"]))
        facts.append((_("Issued at"), payload["issued_at"]))
    return facts


def certificate_table(payload: dict, *, status_labels: dict[str, str]) -> list[list[str]]:
    """The month table as printed: month, status, paid, credited."""
    return [
        [period, status_labels.get(status, status), format_money(total), format_money(credited)]
        for period, status, total, credited in payload.get("table", [])
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
