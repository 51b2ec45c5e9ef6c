"""Resident identity numbers (GB 11643): the one parser for the whole portal.

Layout: 6-digit region code, 8-digit birth date ``YYYYMMDD``, 3-digit sequence
(odd = male, even = female), one check character. The check character is
``"10X98765432"[sum(d * w) % 11]`` over the first 17 digits.

Every entry point (sign-in, forms, APIs, the import, the admin) goes through
``parse_id_number`` (or ``looks_like_id_number`` / ``normalise`` for look-ups),
so one string gets one verdict everywhere. The rules (docs/adr/0007):
- ASCII space, tab, CR and LF around the number are stripped; a lowercase
  ``x`` becomes ``X``. Nothing else is normalised.
- Only the ASCII digits ``0-9`` and ``X`` are accepted. Full-width digits
  (``１２３``), digits of other scripts and any other character are refused
  with the code ``non_ascii``: Python's digit class and ``int()`` accept them, so
  without this rule one number could be written in many ways.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
_SHAPE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_ASCII_SPACE = " \t\r\n"
MALE, FEMALE = "M", "F"


@dataclass(frozen=True)
class IdentityNumber:
    value: str
    region_code: str
    birth_date: dt.date
    sex: str

    @property
    def province_code(self) -> str:
        return self.region_code[:2]

    def __str__(self) -> str:
        return self.value


def check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def normalise(raw: str) -> str:
    """Strip ASCII white space and upper-case ``x``; anything else is kept as
    it is (and then refused by ``parse_id_number``)."""
    if not isinstance(raw, str):
        return ""
    return raw.strip(_ASCII_SPACE).replace("x", "X")


def looks_like_id_number(raw: str) -> bool:
    """The shape of a number (18 ASCII characters), not its validity."""
    return bool(_SHAPE.fullmatch(normalise(raw)))


def parse_id_number(raw: str, *, today: dt.date | None = None) -> IdentityNumber:
    """Validate ``raw`` and return the number with its derived facts.

    Raises ``ValidationError`` with a specific message and code:
    ``non_ascii``, ``format``, ``checksum``, ``birth_date`` or ``future_birth_date``.
    """
    value = normalise(raw)
    if not value.isascii():
        raise ValidationError(
            _(
                "Type the identity number with ordinary (half-width) digits 0-9 and X; "
                "full-width digits and other characters are not accepted."
            ),
            code="non_ascii",
        )
    if not _SHAPE.fullmatch(value):
        raise ValidationError(
            _("An identity number is 17 digits followed by a digit or X (18 characters)."),
            code="format",
        )
    if check_character(value[:17]) != value[17]:
        raise ValidationError(
            _("The check character of this identity number is wrong; please check for typos."),
            code="checksum",
        )
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValidationError(
            _("The birth date %(date)s in this identity number does not exist."),
            code="birth_date",
            params={"date": value[6:14]},
        ) from None
    today = today or timezone.localdate()
    if birth > today:
        raise ValidationError(
            _("The birth date in this identity number is in the future."),
            code="future_birth_date",
        )
    sex = MALE if int(value[16]) % 2 == 1 else FEMALE
    return IdentityNumber(value=value, region_code=value[:6], birth_date=birth, sex=sex)


def validate_id_number(raw: str) -> None:
    parse_id_number(raw)


def mask_id_number(value: str) -> str:
    """``11010519491231002X`` -> ``1101**********002X``."""
    if len(value) != 18:
        return "*" * len(value)
    return f"{value[:4]}{'*' * 10}{value[-4:]}"


def make_id_number(region_code: str, birth_date: dt.date, sequence: int) -> str:
    """Build a valid number (for demo data, factories and benchmarks)."""
    first17 = f"{region_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


# Any run of 15 or more digits of any script (old 15-digit numbers included),
# or 17 followed by an X: what must never travel in a URL.
_IN_TEXT = re.compile(r"\d{17}[xXｘＸ]|\d{15,}")


def contains_id_number(text: str | None) -> bool:
    """True when ``text`` carries something shaped like an identity number
    (for keeping numbers out of URLs; not a validity check)."""
    return bool(text) and bool(_IN_TEXT.search(str(text)))


def mask_name(value: str) -> str:
    """A name shown to someone who is not its owner's relative or staff:
    ``张小雨`` -> ``张*雨``, ``李娜`` -> ``李*``, ``Alice`` -> ``A***e``."""
    value = (value or "").strip()
    if len(value) <= 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]
