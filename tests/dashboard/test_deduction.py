import pytest

from dashboard.deduction import serious_illness_deduction_fen


@pytest.mark.parametrize(
    ("self_borne_fen", "deduction_fen"),
    [
        (0, 0),
        (1_500_000, 0),  # exactly 15,000 yuan: nothing above the threshold
        (1_500_001, 1),  # one fen above
        (2_000_000, 500_000),
        (9_500_000, 8_000_000),  # exactly at the cap: 95,000 - 15,000 = 80,000
        (9_500_001, 8_000_000),  # one fen over: capped
        (20_000_000, 8_000_000),
    ],
)
def test_serious_illness_deduction_boundaries(self_borne_fen, deduction_fen):
    assert serious_illness_deduction_fen(self_borne_fen) == deduction_fen


def test_deduction_refuses_non_integer_money():
    with pytest.raises(TypeError):
        serious_illness_deduction_fen(1500000.5)
