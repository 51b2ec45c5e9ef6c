"""Demo data, seeded as a timeline so every figure is one a member could have.

Each installed app may have a ``demo`` module with some of:
- ``setup()`` (or ``seed()`` when it has no yearly part): people, policies,
  institutions, family links — run first, in ``INSTALLED_APPS`` order;
- ``seed_year(year)``: what happened in that year (contributions, then
  expenses), run for each demo year in ``INSTALLED_APPS`` order;
- ``end_of_year(year)``: run after every app's ``seed_year`` of a year but the
  last (accounts/demo.py: the rollover, so an expense is paid from the pockets
  of its own time);
- ``finish()``: what comes after (settlement);
- ``sign_ins()``: (who, login) pairs that ``seed_demo`` prints.
Every step is idempotent: running ``seed_demo`` twice leaves the same data.

The kernel names no app here (docs/adr/0013): it finds the demo modules.
"""

from __future__ import annotations

import importlib
import importlib.util

from django.apps import apps
from django.db import transaction

FIRST_YEAR, LAST_YEAR = 2022, 2026

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (published demo sign-in)


def _modules():
    """(app label, demo module) of every installed project app that has one."""
    for config in apps.get_app_configs():
        if config.name == "portal" or "." in config.name:
            continue  # the kernel, and django.contrib.* and the like
        if importlib.util.find_spec(f"{config.name}.demo") is not None:
            yield config.label, importlib.import_module(f"{config.name}.demo")


def seed(stdout=None) -> None:
    modules = list(_modules())
    for app, module in modules:
        step = getattr(module, "setup", None) or getattr(module, "seed", None)
        if step is None:
            continue
        with transaction.atomic():
            step()
        if stdout:
            stdout.write(f"  seeded {app}")
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        with transaction.atomic():
            for _app, module in modules:
                if hasattr(module, "seed_year"):
                    module.seed_year(year)
            if year < LAST_YEAR:
                for _app, module in modules:
                    if hasattr(module, "end_of_year"):
                        module.end_of_year(year)
        if stdout:
            stdout.write(f"  seeded {year}")
    for _app, module in modules:
        if hasattr(module, "finish"):
            with transaction.atomic():
                module.finish()


def sign_ins() -> list[tuple[str, str]]:
    return [pair for _app, module in _modules() for pair in getattr(module, "sign_ins", list)()]
