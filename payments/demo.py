"""Demo contributions: every month from January 2022 to October 2026 for each
demo person in the employee scheme, credited, with the year-end rollovers of
2022..2025 run in between (so each has current-year and prior-years money).

Goes through the real import path (``contributions_import``), year by year, so
running it again imports nothing and rolls nothing (idempotent).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from accounts.services import rollover_year, valued_on
from members import demo as members_demo
from members.models import InsuranceType
from portal.money import format_yuan

from .models import ImportBatch, PolicyYear
from .policy_data import load as load_policies
from .policy_data import load_resident
from .selectors import calculate
from .services import COLUMNS, contributions_import

FIRST_YEAR, LAST_PERIOD = 2022, dt.date(2026, 10, 1)
# Declared monthly base in fen per demo person (an employee's salary).
BASES = {"zhangwei": 1_850_000, "lina": 1_200_000, "zhangjianguo": 0, "wangfang": 950_000}


def _rows(year: int) -> list[list[str]]:
    rows = []
    for key, _name, region, *_b, itype, _phone, _signs in members_demo.PEOPLE:
        if itype not in (InsuranceType.EMPLOYEE, InsuranceType.RETIRED):
            continue
        number = members_demo.id_number_of(key)
        for month in range(1, 13):
            period = dt.date(year, month, 1)
            if period > LAST_PERIOD:
                break
            if itype == InsuranceType.RETIRED:
                base = employer = individual = 0
            else:
                quote = calculate(base_fen=BASES[key], region=region, year=year)
                base, employer, individual = BASES[key], quote.employer_fen, quote.individual_fen
            paid_on = dt.date(year, month, 15)
            rows.append(
                [
                    number,
                    f"{period:%Y-%m}",
                    format_yuan(base).replace(",", ""),
                    format_yuan(employer).replace(",", ""),
                    format_yuan(individual).replace(",", ""),
                    "employer",
                    paid_on.isoformat(),
                    "paid",
                ]
            )
    return rows


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode()


YEARS = range(FIRST_YEAR, LAST_PERIOD.year + 1)


def setup() -> None:
    load_policies(PolicyYear)
    load_resident(PolicyYear)


def imported_on(year: int) -> dt.date:
    """The day the demo's file of ``year`` is imported: its last payment day
    (15 December, or 15 October in the last demo year). Its credits are
    valued on that day, so the year-end rollovers see them in their year."""
    return min(dt.date(year, 12, 15), LAST_PERIOD.replace(day=15))


def seed_year(year: int) -> None:
    """Import and credit the demo contributions of ``year`` (once), valued on
    the day the year's file is imported (a replay of history)."""
    name = f"demo-{year}.csv"
    if not ImportBatch.objects.filter(file_name=name, uploaded_by=None).exists():
        with valued_on(imported_on(year)):
            contributions_import(data=_csv(_rows(year)), file_name=name)


def seed() -> None:
    """The contributions demo on its own (portal.demo runs the phases on a
    timeline, with other apps' events of each year before its rollover)."""
    setup()
    for year in YEARS:
        seed_year(year)
        if year < LAST_PERIOD.year:
            rollover_year(year=year)
