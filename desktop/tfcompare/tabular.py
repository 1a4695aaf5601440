"""The one way tfcompare writes CSV and JSON files that other programs open.

CSV: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
as a formula by spreadsheets (``=HYPERLINK(…)`` in an image name, a label, a server's error text):
such cells get a leading ``'`` — OWASP's advice for CSV injection, what spreadsheet-safe CSV writers
do — so they are shown as text. Numbers are written as they are (``-1.5`` stays a number).
Booleans are written ``true``/``false`` in every column (Python's ``True`` would sit beside a
``false`` written by hand in the same row).

JSON: standard JSON only. Python would write bare ``NaN``/``Infinity``, which JSON does not have;
non-finite numbers are written as ``null`` (as browsers' ``JSON.stringify`` does).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will show it: text that would start a formula gets a ``'``;
    booleans are ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


class SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`safe_cell`.

    A carriage return inside a cell is written raw by ``csv.writer`` when the line terminator is
    ``"\n"``, and readers then start a new row there — whose first cell could be a formula. A row
    with such a cell is written with every cell quoted.
    """

    def __init__(self, fh: TextIO, **params: Any) -> None:
        self._writer = csv.writer(fh, **params)
        self._quoted = csv.writer(fh, **{**params, "quoting": csv.QUOTE_ALL})

    def writerow(self, row: Iterable[Any]) -> None:
        cells = [safe_cell(v) for v in row]
        raw_cr = any(isinstance(c, str) and "\r" in c for c in cells)
        (self._quoted if raw_cr else self._writer).writerow(cells)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeDictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose every cell goes through :func:`safe_cell`."""

    def __init__(self, fh: TextIO, fieldnames: Collection[str], **params: Any) -> None:
        super().__init__(fh, fieldnames, **params)
        # DictWriter writes every row through ``self.writer.writerow``; typeshed types the
        # attribute as ``_csv.writer``'s own class, which cannot be subclassed
        self.writer = SafeWriter(fh, dialect=self.writer.dialect)  # type: ignore[assignment]


def standard_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON ``null``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: standard_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [standard_json(v) for v in value]
    return value


def json_text(value: Any, **params: Any) -> str:
    """Standard JSON text (``allow_nan=False`` holds: see :func:`standard_json`)."""
    return json.dumps(standard_json(value), allow_nan=False, **params)
