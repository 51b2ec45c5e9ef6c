"""Demo data, assembled from each app's ``demo.seed()`` in dependency order.

Each step must be idempotent: running ``seed_demo`` twice leaves the same data.
"""

from __future__ import annotations

import importlib
import importlib.util

from django.db import transaction

# Apps are seeded in this order; an app without a demo module is skipped.
STEPS = ["members", "payments", "accounts", "claims", "family"]

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (published demo sign-in)


def seed(stdout=None) -> None:
    for app in STEPS:
        name = f"{app}.demo"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        with transaction.atomic():
            module.seed()
        if stdout:
            stdout.write(f"  seeded {app}")
