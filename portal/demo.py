"""Demo data, seeded as a timeline so every figure is one a member could have.

Each app may have a ``demo`` module with some of:
- ``setup()`` (or ``seed()`` when it has no yearly part): people, policies,
  institutions, family links — run first, in ``APPS`` order;
- ``seed_year(year)``: what happened in that year (contributions, then
  expenses), run for each demo year in ``APPS`` order, followed by that year's
  rollover, so an expense is paid from the pockets of its own time;
- ``finish()``: what comes after (settlement).
Every step is idempotent: running ``seed_demo`` twice leaves the same data.
"""

from __future__ import annotations

import importlib
import importlib.util

from django.db import transaction

APPS = ["members", "payments", "claims", "family"]
FIRST_YEAR, LAST_YEAR = 2022, 2026

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (published demo sign-in)


def _modules():
    for app in APPS:
        if importlib.util.find_spec(f"{app}.demo") is not None:
            yield app, importlib.import_module(f"{app}.demo")


def seed(stdout=None) -> None:
    from accounts.services import rollover_year

    modules = list(_modules())
    for app, module in modules:
        with transaction.atomic():
            (getattr(module, "setup", None) or module.seed)()
        if stdout:
            stdout.write(f"  seeded {app}")
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        with transaction.atomic():
            for _app, module in modules:
                if hasattr(module, "seed_year"):
                    module.seed_year(year)
            if year < LAST_YEAR:
                rollover_year(year=year)
        if stdout:
            stdout.write(f"  seeded {year}")
    for _app, module in modules:
        if hasattr(module, "finish"):
            with transaction.atomic():
                module.finish()
