"""Demo expenses: a hospital and a pharmacy in the demo region, policies for
2022..2026, and a year-by-year set of expenses of the 张 family through the
real service (so the ledger, accumulators and balances are right), then
settlement of everything submitted. Idempotent: fixed idempotency keys.

If the payments demo has not credited the pockets, cash pays what they cannot.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from accounts.services import valued_on
from members import demo as members_demo

from .models import Institution, InstitutionKind
from .policy_data import load as load_policies
from .services import LineInput, expense_submit
from .settlement import settlement_run_batch, settlement_start

INSTITUTIONS = [
    ("北京协和示范医院", InstitutionKind.HOSPITAL),
    ("同仁堂示范药店", InstitutionKind.PHARMACY),
]

# (person key, date, care type, [(class, fen, description)])
EXPENSES = [
    ("zhangwei", "2023-04-12", "outpatient", [("A", 32000, "门诊诊查"), ("B", 18000, "检验")]),
    ("zhangwei", "2024-02-03", "emergency", [("A", 126000, "急诊"), ("self", 8000, "自费材料")]),
    ("zhangwei", "2025-06-18", "pharmacy", [("B", 21800, "药品"), ("self", 4500, "保健品")]),
    ("zhangwei", "2026-03-09", "outpatient", [("A", 240000, "门诊"), ("B", 60000, "检查")]),
    ("zhangwei", "2026-09-21", "pharmacy", [("A", 6800, "药品")]),
    ("lina", "2024-11-05", "inpatient", [("A", 1200000, "住院"), ("B", 380000, "乙类药品")]),
    ("lina", "2026-05-14", "outpatient", [("A", 45000, "门诊")]),
    ("zhangjianguo", "2023-08-30", "inpatient", [("A", 2600000, "住院"), ("self", 120000, "自费")]),
    ("zhangjianguo", "2025-01-10", "outpatient", [("A", 160000, "门诊"), ("B", 90000, "检查")]),
    ("zhangjianguo", "2026-07-02", "pharmacy", [("B", 35600, "药品")]),
    ("zhangxiaoyu", "2025-10-08", "emergency", [("A", 68000, "儿科急诊")]),
    ("zhangxiaoyu", "2026-02-17", "outpatient", [("A", 23000, "儿科门诊"), ("self", 3000, "自费")]),
]


def _institution(name: str, kind: str) -> Institution:
    region = settings.PORTAL_DEFAULT_REGION
    return Institution.objects.filter(name=name).first() or Institution.objects.create(
        name=name, kind=kind, region=region
    )


def setup() -> None:
    load_policies()
    for name, kind in INSTITUTIONS:
        _institution(name, kind)


def seed_year(year: int) -> None:
    """Submit the demo expenses of ``year`` (after that year's contributions and
    before its rollover, so each is paid from the pockets of its own time)."""
    hospital, pharmacy = (_institution(n, k) for n, k in INSTITUTIONS)
    for i, (key, day, care, lines) in enumerate(EXPENSES):
        if not day.startswith(f"{year}-"):
            continue
        service_date = dt.date.fromisoformat(day)
        # A replay of history: the account part is valued on the day it was paid.
        with valued_on(service_date):
            expense_submit(
                institution=pharmacy if care == "pharmacy" else hospital,
                idempotency_key=f"demo-{i}",
                patient_id_number=members_demo.id_number_of(key),
                service_date=service_date,
                care_type=care,
                lines=[LineInput(c, fen, d) for c, fen, d in lines],
            )


def finish() -> None:
    """Settle everything submitted."""
    today = timezone.localdate()
    for batch in settlement_start(period=today, cutoff=timezone.now(), enqueue=False):
        settlement_run_batch(batch_id=batch.pk)


def seed() -> None:
    """The claims demo on its own (portal.demo runs the phases on a timeline)."""
    setup()
    for year in sorted({int(day[:4]) for _k, day, _c, _l in EXPENSES}):
        seed_year(year)
    finish()
