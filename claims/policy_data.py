"""Illustrative benefit policies for the demo regions (Beijing-like 110100,
Shenzhen-like 440300); figures are not official. Edit them in the admin.

Per scheme and care type: (benefit pool, deductible fen, reimbursement ratio,
annual ceiling fen, current-year pocket may pay). Class B items carry a 10%
first self-borne share everywhere. These are the parameters of the worked
examples in docs/adr/0005-settlement-exactly-once.md.
"""

from __future__ import annotations

from decimal import Decimal

from members.models import InsuranceType

from .models import BenefitPolicy, BenefitPool, CareType

_O, _I = BenefitPool.OUTPATIENT, BenefitPool.INPATIENT
EMPLOYEE = {
    CareType.OUTPATIENT: (_O, 180000, "0.70", 2000000, True),
    CareType.EMERGENCY: (_O, 180000, "0.70", 2000000, True),
    CareType.PHARMACY: (_O, 180000, "0.70", 2000000, True),
    CareType.INPATIENT: (_I, 130000, "0.85", 50000000, False),
}
RETIRED = {
    CareType.OUTPATIENT: (_O, 130000, "0.85", 2000000, True),
    CareType.EMERGENCY: (_O, 130000, "0.85", 2000000, True),
    CareType.PHARMACY: (_O, 130000, "0.85", 2000000, True),
    CareType.INPATIENT: (_I, 130000, "0.90", 50000000, False),
}
RESIDENT = {
    CareType.OUTPATIENT: (_O, 10000, "0.55", 400000, True),
    CareType.EMERGENCY: (_O, 10000, "0.55", 400000, True),
    CareType.PHARMACY: (_O, 10000, "0.55", 400000, True),
    CareType.INPATIENT: (_I, 80000, "0.75", 25000000, False),
}
SCHEMES = {
    InsuranceType.EMPLOYEE: EMPLOYEE,
    InsuranceType.RETIRED: RETIRED,
    InsuranceType.RESIDENT: RESIDENT,
}


def load(years=range(2022, 2027), regions=("110100", "440300")) -> int:
    """Create the missing policies (existing ones are left as edited). Returns how many."""
    created = 0
    for region in regions:
        for year in years:
            for scheme, table in SCHEMES.items():
                for care, (pool, ded, ratio, ceiling, current) in table.items():
                    _p, new = BenefitPolicy.objects.get_or_create(
                        region=region,
                        scheme=scheme,
                        care_type=care,
                        year=year,
                        defaults=dict(
                            pool=pool,
                            deductible_fen=ded,
                            ratio=Decimal(ratio),
                            ceiling_fen=ceiling,
                            class_b_self_ratio=Decimal("0.10"),
                            current_pocket_allowed=current,
                        ),
                    )
                    created += new
    return created
