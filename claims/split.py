"""The split of one expense, as a pure function over plain values.

Order (DOMAIN.md, "Spending and settlement"):

1. Self-funded items (自费) are not covered. Of class B items the first
   self-borne share (``class_b_self_ratio``, 自理) is the patient's. The rest,
   with class A items, is the covered amount.
2. The deductible (起付线) still open this year in this benefit pool is the
   patient's (自负).
3. Of the covered amount above the deductible, the pooled fund pays
   ``ratio``; the rest is the patient's co-payment (自负).
4. The fund's part is limited by what is left of the annual ceiling (封顶线);
   what is above it is the patient's.
5. The patient's parts are paid, component by component, from the current-year
   pocket (only for care types that allow it), then the prior-years pocket,
   then each authorising relative's prior-years pocket (within its cap), then
   cash.

Every rate is applied with ``portal.money.apply_rate`` (the one rounding rule).
Worked examples: docs/adr/0005-settlement-exactly-once.md, tested in
tests/claims/test_split.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.utils.translation import gettext as _

from portal.money import apply_rate, format_yuan

CLASS_A, CLASS_B, SELF_FUNDED = "A", "B", "self"

# Components of the patient's share, in the order they are paid.
CLASS_B_FIRST = "class_b_first"
DEDUCTIBLE = "deductible"
COPAY = "copay"
ABOVE_CEILING = "above_ceiling"
SELF_FUNDED_PART = "self_funded"
FUND = "fund"


@dataclass(frozen=True)
class PolicyTerms:
    deductible_fen: int
    ratio: Decimal
    ceiling_fen: int
    class_b_self_ratio: Decimal
    current_pocket_allowed: bool
    # Why these terms and not the home policy's: ((code, params), ...), e.g.
    # a chronic disease's outpatient policy or cross-region care (errands,
    # ADR 0019). Every part's reason repeats them.
    notes: tuple = ()

    def with_note(self, code: str, params: dict, **changes) -> PolicyTerms:
        return replace(self, notes=(*self.notes, (code, params)), **changes)


@dataclass(frozen=True)
class Grant:
    """A relative's prior-years pocket the patient may use: ``available_fen`` is
    the smaller of its balance and what is left of the yearly cap."""

    grantor_id: int
    available_fen: int


@dataclass(frozen=True)
class Part:
    payer: str  # fund, current, prior, relative_prior, cash
    component: str
    amount_fen: int
    reason_code: str
    reason_params: dict
    grantor_id: int | None = None


@dataclass
class Split:
    total_fen: int
    fund_fen: int
    deductible_fen: int
    self_borne_fen: int
    self_funded_fen: int
    parts: list[Part] = field(default_factory=list)

    def paid_by(self, *payers: str) -> int:
        return sum(p.amount_fen for p in self.parts if p.payer in payers)

    @property
    def account_fen(self) -> int:
        return self.paid_by("current", "prior", "relative_prior")

    @property
    def cash_fen(self) -> int:
        return self.paid_by("cash")


def percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def split_expense(
    *,
    lines: Sequence[tuple[str, int]],
    policy: PolicyTerms,
    deductible_used_fen: int,
    fund_paid_fen: int,
    current_fen: int,
    prior_fen: int,
    grants: Sequence[Grant] = (),
) -> Split:
    """Split an expense (``lines``: (catalog class, amount in fen)) given what
    this person already used of the deductible and ceiling this year and what
    their pockets hold."""
    class_a = sum(a for c, a in lines if c == CLASS_A)
    class_b = sum(a for c, a in lines if c == CLASS_B)
    self_funded = sum(a for c, a in lines if c == SELF_FUNDED)
    total = class_a + class_b + self_funded

    b_first = apply_rate(class_b, policy.class_b_self_ratio)
    covered = class_a + class_b - b_first
    deductible_open = max(policy.deductible_fen - deductible_used_fen, 0)
    deductible = min(covered, deductible_open)
    eligible = covered - deductible
    fund_uncapped = apply_rate(eligible, policy.ratio)
    copay = eligible - fund_uncapped
    ceiling_room = max(policy.ceiling_fen - fund_paid_fen, 0)
    fund = min(fund_uncapped, ceiling_room)
    above_ceiling = fund_uncapped - fund

    result = Split(
        total_fen=total,
        fund_fen=fund,
        deductible_fen=deductible,
        self_borne_fen=b_first + deductible + copay + above_ceiling,
        self_funded_fen=self_funded,
    )
    notes = {"notes": [[code, params] for code, params in policy.notes]} if policy.notes else {}
    if fund:
        code = "fund" if not above_ceiling else "fund_capped"
        result.parts.append(
            Part(
                "fund",
                FUND,
                fund,
                code,
                {
                    "ratio": percent(policy.ratio),
                    "eligible": format_yuan(eligible),
                    "room": format_yuan(ceiling_room),
                    **notes,
                },
            )
        )

    components = [
        (
            CLASS_B_FIRST,
            b_first,
            "class_b_first",
            {"ratio": percent(policy.class_b_self_ratio), "base": format_yuan(class_b)},
        ),
        (
            DEDUCTIBLE,
            deductible,
            "deductible",
            {
                "open": format_yuan(deductible_open),
                "deductible": format_yuan(policy.deductible_fen),
            },
        ),
        (COPAY, copay, "copay", {"ratio": percent(Decimal(1) - policy.ratio)}),
        (
            ABOVE_CEILING,
            above_ceiling,
            "above_ceiling",
            {"ceiling": format_yuan(policy.ceiling_fen)},
        ),
        (SELF_FUNDED_PART, self_funded, "self_funded", {}),
    ]

    sources: list[list] = []  # [payer, available, grantor_id]
    if policy.current_pocket_allowed:
        sources.append(["current", current_fen, None])
    sources.append(["prior", prior_fen, None])
    sources += [["relative_prior", g.available_fen, g.grantor_id] for g in grants]

    for component, amount, code, params in components:
        params = {**params, **notes}
        remaining = amount
        for source in sources:
            if not remaining:
                break
            take = min(remaining, source[1])
            if take > 0:
                source[1] -= take
                remaining -= take
                result.parts.append(Part(source[0], component, take, code, params, source[2]))
        if remaining:
            result.parts.append(Part("cash", component, remaining, code, params))
    return result


MONEY_PARAMS = frozenset({"eligible", "room", "base", "open", "deductible", "ceiling"})


def note_text(code: str, params: dict) -> str:
    """Why the terms differ from the home policy (errands, ADR 0019)."""
    texts = {
        "chronic": _(
            "Chronic disease outpatient policy for %(disease)s (approved application): "
            "deductible %(deductible)s, the pooled fund pays %(ratio)s."
        ),
        "chronic_not_approved": _(
            "Tagged %(disease)s, but the patient has no approved chronic disease application "
            "valid on this date: the ordinary outpatient policy applies."
        ),
        "cross_region_filed": _(
            "Cross-region care in %(place)s with a valid filing: the pooled fund pays "
            "%(ratio)s instead of %(home)s at home."
        ),
        "cross_region_unfiled": _(
            "Cross-region care in %(place)s without a valid filing: the pooled fund pays "
            "%(ratio)s instead of %(home)s at home."
        ),
    }
    text = texts.get(code)
    if text is None:
        return code
    params = {k: f"¥{v}" if k in MONEY_PARAMS and v else v for k, v in params.items()}
    try:
        return text % params
    except (KeyError, TypeError, ValueError):
        return text


def reason_text(code: str, params: dict) -> str:
    """A part's reason in the reader's language."""
    texts = {
        "fund": _(
            "The pooled fund pays %(ratio)s of the %(eligible)s covered above the deductible."
        ),
        "fund_capped": _(
            "The pooled fund pays %(ratio)s of the %(eligible)s covered above the deductible, "
            "limited to the %(room)s left of the annual ceiling."
        ),
        "class_b_first": _("Class B items: the first %(ratio)s of %(base)s is self-borne."),
        "deductible": _(
            "Deductible not yet met: %(open)s of the %(deductible)s deductible remained."
        ),
        "copay": _("Co-payment: the %(ratio)s the pooled fund does not pay."),
        "above_ceiling": _("Above the annual ceiling of %(ceiling)s."),
        "self_funded": _("Self-funded items are not covered by the pooled fund."),
    }
    text = texts.get(code)
    if text is None:
        return code
    notes = params.get("notes") or []
    if notes:
        params = {k: v for k, v in params.items() if k != "notes"}
        suffix = " " + " ".join(
            note_text(n[0], n[1]) for n in notes if isinstance(n, list | tuple) and len(n) == 2
        )
        return reason_text(code, params) + suffix
    # Amounts are stored as plain numbers ("1,234.00"); a page shows money
    # one way, with the yuan sign (portal.money.format_money).
    params = {k: f"¥{v}" if k in MONEY_PARAMS and v else v for k, v in params.items()}
    try:
        return text % params
    except (KeyError, TypeError, ValueError):
        return text
