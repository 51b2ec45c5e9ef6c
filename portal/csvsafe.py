"""CSV the portal writes, safe to open in a spreadsheet (docs/adr/0007).

A spreadsheet program runs a cell that begins with ``=``, ``+``, ``-`` or ``@``
(or a tab or carriage return before one) as a formula: a name or a file cell
like ``=HYPERLINK("http://evil","click")`` in a report staff open would act
in their spreadsheet ("CSV injection"). Every CSV the portal writes goes
through ``csv_writer``, which passes each cell through ``neutralise_cell``.

The rule, one for every cell: a text cell that could start a formula gets a
leading single quote (OWASP's advice; the spreadsheet shows the text as typed,
the quote marks it as text), unless the whole cell is a plain decimal number
such as ``-12.50`` or ``1,234.56``: that is never a formula, so amounts the
portal writes (a refund's negative amount too) stay numbers. Cells that are
not text (``int``, ``Decimal``, dates) are written as they are.
"""

from __future__ import annotations

import csv
import re
from typing import Any

# What a spreadsheet may read as the start of a formula. The full-width forms
# are included because an input method may produce them and some programs
# normalise them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,3}(?:,?[0-9]{3})*(?:\.[0-9]+)?", re.ASCII)


def neutralise_cell(value: Any) -> Any:
    """``"=1+1"`` -> ``"'=1+1"``; ``"-12.50"``, ``"Alice"``, ``12`` unchanged."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def neutralise_row(row) -> list:
    return [neutralise_cell(cell) for cell in row]


class _SafeWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row):
        return self._writer.writerow(neutralise_row(row))

    def writerows(self, rows):
        return self._writer.writerows(neutralise_row(row) for row in rows)


def csv_writer(fileobj, **kwargs) -> _SafeWriter:
    """``csv.writer(fileobj)`` whose every row goes through ``neutralise_cell``."""
    return _SafeWriter(csv.writer(fileobj, **kwargs))
