"""Money: integer fen (分) inside, ``Decimal`` yuan with two places at the edges.

Rounding is stated once, here: ROUND_HALF_UP to the fen, applied only where an
amount is computed from a rate (``apply_rate``). Amounts typed by people or
sent by institutions must already have at most two decimal places; more is an
error, never silently rounded. Never ``float``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

FEN = Decimal("0.01")

# The largest amount the portal takes from outside, per kind of field
# (docs/adr/0007). Anything larger is refused as a typing or file error long
# before it could reach a 64-bit column.
MAX_EXPENSE_LINE_FEN = 100_000_000  # 1,000,000.00 yuan: one line of an expense
MAX_EXPENSE_FEN = 1_000_000_000  # 10,000,000.00 yuan: a whole expense
MAX_YEARLY_CAP_FEN = 100_000_000  # 1,000,000.00 yuan: a relative's yearly cap
MAX_CONTRIBUTION_FEN = 10_000_000  # 100,000.00 yuan: one month's contribution amount
MAX_BASE_FEN = 100_000_000  # 1,000,000.00 yuan: a declared monthly contribution base

# Plain yuan: ASCII digits, an optional minus sign, at most two decimals. No
# exponent, no thousands separators or underscores, no full-width digits.
_AMOUNT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,2})?", re.ASCII)
_ASCII_SPACE = " \t"


def parse_amount(value: object, *, max_fen: int, min_fen: int = 0) -> int:
    """The one parser for amounts typed by people, sent by institutions or read
    from a file: yuan -> integer fen, or a ``ValidationError`` (code
    ``invalid_amount``, ``too_many_decimals``, ``negative_amount`` or
    ``amount_too_large``) whose message says what to type instead.

    Accepts a string like ``"1234.5"`` (ASCII spaces and tabs around it are
    stripped), an ``int`` or a finite ``Decimal``, and a JSON number (a
    ``float`` from a JSON parser is read through its shortest text, so ``12.34``
    is 1234 fen and ``1e20`` is refused like the string ``"1e20"``).
    """
    if isinstance(value, bool) or value is None:
        text = ""
    elif isinstance(value, int):
        text = str(value) if abs(value) < 10**15 else "too large"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, Decimal | str):
        text = str(value).strip(_ASCII_SPACE)
    else:
        text = ""
    if not _AMOUNT.fullmatch(text):
        if re.fullmatch(r"-?[0-9]{1,15}\.[0-9]{3,}", text, re.ASCII):
            raise ValidationError(
                _("An amount has at most two decimal places (got %(value)s)."),
                code="too_many_decimals",
                params={"value": text[:40]},
            )
        if re.fullmatch(r"-?[0-9]{16,}(?:\.[0-9]*)?", text, re.ASCII) or text == "too large":
            raise ValidationError(
                _("The amount is too large: at most %(max)s yuan."),
                code="amount_too_large",
                params={"max": format_yuan(max_fen)},
            )
        raise ValidationError(
            _(
                "Write the amount in yuan with the digits 0-9 and at most two decimals, "
                "e.g. 1234.50 (no commas, spaces, exponents or full-width digits)."
            ),
            code="invalid_amount",
        )
    fen = int(Decimal(text) * 100)
    if fen < min_fen:
        if min_fen == 0:
            raise ValidationError(_("An amount cannot be negative."), code="negative_amount")
        raise ValidationError(
            _("The amount must be at least %(min)s yuan."),
            code="amount_too_small",
            params={"min": format_yuan(min_fen)},
        )
    if fen > max_fen:
        raise ValidationError(
            _("The amount is too large: at most %(max)s yuan."),
            code="amount_too_large",
            params={"max": format_yuan(max_fen)},
        )
    return fen


def to_fen(value: Decimal | str | int) -> int:
    """``Decimal("12.34")`` or ``"12.34"`` -> ``1234``. Refuses floats, more than
    two decimal places and non-numbers with a ValidationError.

    For amounts the portal holds or computed itself; anything typed, sent or
    read from a file goes through ``parse_amount`` (docs/adr/0007)."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValidationError(_("“%(value)s” is not an amount."), params={"value": value}) from None
    if not amount.is_finite():
        raise ValidationError(_("“%(value)s” is not an amount."), params={"value": value})
    try:
        exact = amount == amount.quantize(FEN)
    except InvalidOperation:  # more digits than the context holds (e.g. 1e30)
        raise ValidationError(_("“%(value)s” is not an amount."), params={"value": value}) from None
    if not exact:
        raise ValidationError(
            _("An amount has at most two decimal places (got %(value)s)."),
            params={"value": value},
        )
    return int(amount * 100)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(FEN)


def apply_rate(fen: int, rate: Decimal) -> int:
    """``fen * rate`` rounded half-up to the fen (the one rounding rule)."""
    return int((Decimal(fen) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_yuan(fen: int | None) -> str:
    """``123456`` -> ``"1,234.56"`` (for pages and CSV)."""
    if fen is None:
        return ""
    # Integer arithmetic (exact, and several times cheaper than a Decimal
    # quantize: the record page formats some 250 amounts per request).
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{'-' if fen < 0 else ''}{yuan:,}.{cents:02d}"


def format_money(fen: int | None) -> str:
    """``123456`` -> ``"¥1,234.56"``, ``-500`` -> ``"-¥5.00"``: the one way a page
    shows an amount of money, in both languages (docs/conventions.md). CSV files
    and the API use plain numbers (``format_yuan``, yuan strings)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{format_yuan(abs(fen))}"
