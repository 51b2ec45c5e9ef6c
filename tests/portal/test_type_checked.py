"""mypy (django-stubs) runs in ``make lint`` over every app's services.py
(docs/adr/0013): ``[tool.mypy] files`` names each one, so a plain ``mypy``
checks what ``make lint`` checks, and a new app's services are not forgotten."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_checks_every_services_module():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    services = sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.glob("*/services.py")
        if not str(p.relative_to(ROOT)).startswith(("access/", ".venv/"))
    )

    assert len(services) >= 7
    assert sorted(config["files"]) == services
    assert "mypy_django_plugin.main" in config["plugins"]
    assert config["check_untyped_defs"] is True


def test_make_lint_runs_mypy():
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]

    assert "mypy $(MYPY_PATHS)" in lint
    assert "$(wildcard access)" in makefile
