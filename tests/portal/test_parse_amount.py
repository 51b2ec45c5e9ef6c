"""The one amount parser (portal.money.parse_amount): what it takes and why it
refuses. Every entry point's own tests check that it is the one in use."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from portal.money import parse_amount, to_fen

MAX = 100_000_000  # 1,000,000.00 yuan


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("12.34", 1234),
        (" 12.3\t", 1230),
        ("0", 0),
        (5, 500),
        (12.34, 1234),  # a JSON number, read through its shortest text
        (Decimal("1.10"), 110),
        ("1000000.00", MAX),
    ],
)
def test_plain_yuan_becomes_fen(raw, fen):
    assert parse_amount(raw, max_fen=MAX) == fen


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("1e20", "invalid_amount"),
        (1e20, "invalid_amount"),
        ("1e30", "invalid_amount"),
        (Decimal("1E+20"), "invalid_amount"),
        ("NaN", "invalid_amount"),
        (float("nan"), "invalid_amount"),
        ("Infinity", "invalid_amount"),
        ("１２３", "invalid_amount"),  # full-width digits
        ("١٢٣", "invalid_amount"),  # Arabic-Indic digits
        ("1_000", "invalid_amount"),
        ("1,000", "invalid_amount"),
        ("1000\u00a0", "invalid_amount"),  # trailing no-break space
        ("", "invalid_amount"),
        (True, "invalid_amount"),
        (None, "invalid_amount"),
        ([], "invalid_amount"),
        ("12.345", "too_many_decimals"),
        ("-5", "negative_amount"),
        (2**63, "amount_too_large"),
        (str(2**63), "amount_too_large"),
        ("1000000.01", "amount_too_large"),
    ],
)
def test_anything_else_is_refused_with_a_reason(raw, code):
    with pytest.raises(ValidationError) as info:
        parse_amount(raw, max_fen=MAX)

    assert info.value.code == code


def test_a_negative_amount_passes_only_where_allowed():
    assert parse_amount("-5", max_fen=MAX, min_fen=-MAX) == -500


@pytest.mark.parametrize("raw", ["1e30", Decimal("1E+40"), "NaN", "Infinity", "abc"])
def test_to_fen_refuses_what_it_cannot_hold_with_a_validation_error(raw):
    # to_fen is for the portal's own values, but must never raise anything else
    with pytest.raises(ValidationError):
        to_fen(raw)
