"""Serious-illness special additional deduction (大病医疗专项附加扣除), DOMAIN.md.

Within one tax year, the self-borne part of covered expenses above 15,000 yuan,
up to 80,000 yuan: ``min(max(self_borne - 15000, 0), 80000)``. The thresholds
are national tax rules, not regional insurance policy parameters.
"""

from __future__ import annotations

THRESHOLD_FEN = 15_000_00
CAP_FEN = 80_000_00


def serious_illness_deduction_fen(self_borne_fen: int) -> int:
    """The deduction in fen for one person's self-borne total in one tax year."""
    if not isinstance(self_borne_fen, int) or isinstance(self_borne_fen, bool):
        raise TypeError("self_borne_fen is integer fen")
    return min(max(self_borne_fen - THRESHOLD_FEN, 0), CAP_FEN)
