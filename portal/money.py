"""Money: integer fen (分) inside, ``Decimal`` yuan with two places at the edges.

Rounding is stated once, here: ROUND_HALF_UP to the fen, applied only where an
amount is computed from a rate (``apply_rate``). Amounts typed by people or
sent by institutions must already have at most two decimal places; more is an
error, never silently rounded. Never ``float``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

FEN = Decimal("0.01")


def to_fen(value: Decimal | str | int) -> int:
    """``Decimal("12.34")`` or ``"12.34"`` -> ``1234``. Refuses floats, more than
    two decimal places and non-numbers with a ValidationError."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValidationError(_("“%(value)s” is not an amount."), params={"value": value}) from None
    if not amount.is_finite():
        raise ValidationError(_("“%(value)s” is not an amount."), params={"value": value})
    if amount != amount.quantize(FEN):
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
    return f"{fen_to_yuan(fen):,.2f}"
