"""CSV that people open in a spreadsheet: every export and report writes it here, so each
one opens the same way.

Written for Excel as much as for code: UTF-8 with a byte-order mark (without it Excel reads
Thai as mojibake), and every cell that a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@``, tab, carriage return first) prefixed with ``'`` (OWASP's CSV injection advice):
a buyer's name or address must never become ``=HYPERLINK(...)`` on a seller's screen. A
plain number (``-12.50``, a refund) stays a number.
"""

import csv
import re
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ASCII digits only: Python's \d also takes Thai and full-width digits.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def safe_cell(value: Any) -> str:
    """``value`` as a cell no spreadsheet evaluates; ``None`` is an empty cell."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Line:
    """csv.writer's file: hands back each written line instead of storing it."""

    def write(self, text: str) -> str:
        return text


def csv_line(row: Iterable[Any]) -> str:
    """One row as a line of CSV text (``\\r\\n`` ended, as RFC 4180), its cells made safe.
    Lines can be streamed one batch at a time; the file's first piece starts with ``BOM``."""
    return csv.writer(_Line()).writerow([safe_cell(value) for value in row])


def csv_response(rows: Iterable[Iterable[Any]], filename: str) -> HttpResponse:
    """A whole CSV file as a download."""
    body = BOM + "".join(csv_line(row) for row in rows)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
