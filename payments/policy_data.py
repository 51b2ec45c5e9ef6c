"""The demo regions' policy parameters (Beijing-like 110100, Shenzhen-like 440300).

Loaded by migration 0002 so a fresh database has them; edit them in the admin.
Figures are illustrative, not official.
"""

from decimal import Decimal

# region: (employer rate, individual rate, credit rate, retiree monthly credit fen,
#          {year: average monthly wage fen})
DEMO_POLICIES = {
    "110100": (
        Decimal("0.0980"),
        Decimal("0.0200"),
        Decimal("1.0000"),
        10000,
        {2022: 1012000, 2023: 1054600, 2024: 1129700, 2025: 1176100, 2026: 1204900},
    ),
    "440300": (
        Decimal("0.0600"),
        Decimal("0.0200"),
        Decimal("1.0000"),
        8000,
        {2022: 1100000, 2023: 1150000, 2024: 1200000, 2025: 1250000, 2026: 1300000},
    ),
}
FLOOR = Decimal("0.6000")
CAP = Decimal("3.0000")


def load(PolicyYear) -> None:
    for region, (employer, individual, credit, retiree, wages) in DEMO_POLICIES.items():
        for year, wage in wages.items():
            PolicyYear.objects.get_or_create(
                region=region,
                year=year,
                defaults={
                    "average_wage_fen": wage,
                    "base_floor_ratio": FLOOR,
                    "base_cap_ratio": CAP,
                    "employer_rate": employer,
                    "individual_rate": individual,
                    "credit_rate": credit,
                    "retiree_monthly_credit_fen": retiree,
                },
            )


# The urban-rural resident scheme's individual contribution (fen a year) in the
# demo regions, for the years whose contributions a relative's prior-years
# surplus may pay (the July 2024 national rules; docs/adr/0018). Illustrative:
# the national minimum of those years. Years without an amount cannot be paid.
RESIDENT_INDIVIDUAL_FEN = {2024: 40000, 2025: 40000, 2026: 40000}


def load_resident(PolicyYear) -> None:
    """Fill the resident amount of the demo regions' rows where it is empty
    (a value staff entered in the admin is kept)."""
    for region in DEMO_POLICIES:
        for year, amount in RESIDENT_INDIVIDUAL_FEN.items():
            PolicyYear.objects.filter(
                region=region, year=year, resident_individual_fen__isnull=True
            ).update(resident_individual_fen=amount)
