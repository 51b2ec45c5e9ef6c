"""Illustrative errands policy data for the demo regions (Beijing-like 110100,
Shenzhen-like 440300); figures and disease codes are not official. Edit them
in the admin. The worked examples of docs/adr/0019-member-errands.md use them.

- Chronic or special outpatient diseases (门诊慢特病) and, per region and
  year, each one's own outpatient policy: deductible (fen), ratio, annual
  ceiling (fen).
- Cross-region care (异地就医): percentage points off the home ratio with a
  valid filing and without one.
"""

from __future__ import annotations

from decimal import Decimal

DISEASES = [
    # code, Chinese name, English name
    ("HTN", "高血压病", "Hypertension"),
    ("DM", "糖尿病", "Diabetes mellitus"),
    ("CHD", "冠心病", "Coronary heart disease"),
    ("CKD", "慢性肾功能衰竭（透析）", "Chronic renal failure (dialysis)"),
    ("CANCER", "恶性肿瘤门诊治疗", "Cancer outpatient treatment"),
]

CHRONIC = {
    "110100": {
        "HTN": (20000, "0.85", 500000),
        "DM": (20000, "0.85", 500000),
        "CHD": (30000, "0.80", 600000),
        "CKD": (0, "0.90", 10000000),
        "CANCER": (0, "0.90", 20000000),
    },
    "440300": {
        "HTN": (0, "0.75", 300000),
        "DM": (0, "0.75", 300000),
        "CHD": (0, "0.75", 400000),
        "CKD": (0, "0.90", 10000000),
        "CANCER": (0, "0.90", 20000000),
    },
}

CROSS_REGION = {
    # region: (filed ratio cut, unfiled ratio cut)
    "110100": ("0.05", "0.20"),
    "440300": ("0.00", "0.10"),
}

YEARS = range(2022, 2027)


def load(*, disease_model, chronic_policy_model, cross_policy_model, years=YEARS) -> int:
    """Create what is missing (rows staff edited are left alone). Takes the
    models so that a data migration can pass its historical ones."""
    created = 0
    diseases = {}
    for code, name, name_en in DISEASES:
        diseases[code], new = disease_model.objects.get_or_create(
            code=code, defaults={"name": name, "name_en": name_en}
        )
        created += new
    for region, table in CHRONIC.items():
        for year in years:
            for code, (ded, ratio, ceiling) in table.items():
                _p, new = chronic_policy_model.objects.get_or_create(
                    disease=diseases[code],
                    region=region,
                    year=year,
                    defaults={
                        "deductible_fen": ded,
                        "ratio": Decimal(ratio),
                        "ceiling_fen": ceiling,
                    },
                )
                created += new
    for region, (filed, unfiled) in CROSS_REGION.items():
        for year in years:
            _p, new = cross_policy_model.objects.get_or_create(
                region=region,
                year=year,
                defaults={
                    "filed_ratio_cut": Decimal(filed),
                    "unfiled_ratio_cut": Decimal(unfiled),
                },
            )
            created += new
    return created


def load_current() -> int:
    from .models import ChronicDisease, ChronicDiseasePolicy, CrossRegionPolicy

    return load(
        disease_model=ChronicDisease,
        chronic_policy_model=ChronicDiseasePolicy,
        cross_policy_model=CrossRegionPolicy,
    )
