"""The accounts part of the demo (portal.demo runs it): each year but the
last ends with the rollover, the current-year pocket moving to prior years."""

from __future__ import annotations

from .services import rollover_year


def end_of_year(year: int) -> None:
    rollover_year(year=year)
