"""``portal/`` is the kernel (docs/adr/0013-api-contract.md): settings, errors,
money, database helpers. It imports no feature app, at the top of a module or
inside a function, except in the URL configuration, which has to name every
app's views. Feature code that needs an app lives in that app."""

from __future__ import annotations

import ast
from pathlib import Path

import portal

FEATURE_APPS = {
    "access",
    "members",
    "accounts",
    "family",
    "payments",
    "claims",
    "dashboard",
    "audit",
    "notifications",
    "errands",
}
# portal/urls.py wires the apps' URLs.
ALLOWED = {"urls.py"}
KERNEL = Path(portal.__file__).parent


def feature_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a feature app in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in FEATURE_APPS]
    return sorted(found)


def test_the_kernel_imports_no_feature_app():
    modules = sorted(KERNEL.rglob("*.py"))
    offenders = {
        str(path.relative_to(KERNEL.parent)): feature_imports(path.read_text())
        for path in modules
        if str(path.relative_to(KERNEL)) not in ALLOWED
    }

    assert len(modules) > 30  # the walk found the kernel
    assert {path: found for path, found in offenders.items() if found} == {}


def test_the_check_finds_every_kind_of_import():
    source = """
import members.models
from audit.services import audit_record
from . import money

def lazy():
    from claims.models import Expense
    import importlib
    importlib.import_module("family.selectors")
    from portal.money import fen_to_yuan
"""

    assert feature_imports(source) == [
        (2, "members.models"),
        (3, "audit.services"),
        (7, "claims.models"),
        (9, "family.selectors"),
    ]
