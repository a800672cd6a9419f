"""Spreadsheet-safe cells: neutralise text a spreadsheet would run as a formula (layer 3, pure).

CSV injection (OWASP "CSV Injection"): Excel, LibreOffice and Google Sheets treat a cell that
starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and a leading TAB or carriage return can
hide one from a naive check. A customer who signs up as ``=HYPERLINK("http://evil", "click")``
would otherwise get a live link (or worse, a DDE command) into the marketer's spreadsheet.

The rule of :func:`is_formula_like`, for text cells only:

- a cell whose leading whitespace holds a TAB or CR is formula-like (``"\\t…"``, ``" \\r…"``);
- otherwise leading whitespace (spaces, newlines, full-width spaces …) is skipped and the cell
  is formula-like when what follows starts with ``=``, ``+``, ``-`` or ``@``;
- **except a plain number** (``-5``, ``+3.25``, ``1e3`` with an optional sign): a number is
  data, not a formula, and changing it would corrupt amounts. E.164 phone numbers
  (``+85291234567``) are plain numbers by this rule and stay exactly as they are: messaging
  tools read them from the file, and a quote in front would make every number undeliverable.
  (Excel shows such a cell as the number 85291234567; import the column as text to keep the
  ``+`` on screen.)

:func:`neutralise_cell` puts a single quote in front of a formula-like cell, which every
spreadsheet shows as text and does not evaluate (the OWASP recommendation). Non-text values
(numbers, dates, ``None``) pass through unchanged. The server and the web app use the same
functions for their downloads.

Example:
    >>> neutralise_cell('=HYPERLINK("http://x")')
    '\\'=HYPERLINK("http://x")'
    >>> neutralise_cell("+85291234567"), neutralise_cell("-12.5"), neutralise_cell("陳大文")
    ('+85291234567', '-12.5', '陳大文')
    >>> neutralise_cell("  @SUM(A1)")
    "'  @SUM(A1)"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FORMULA_PREFIXES",
    "NEUTRALISING_PREFIX",
    "is_formula_like",
    "neutralise_cell",
    "neutralise_row",
]

#: First characters that make a spreadsheet evaluate a cell (OWASP CSV Injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Put in front of a formula-like cell so that spreadsheets show it as text.
NEUTRALISING_PREFIX = "'"

_OPERATOR_START = "=+-@"
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_formula_like(text: str) -> bool:
    """Would a spreadsheet treat ``text`` as a formula? (see the module docstring for the rule)

    >>> [is_formula_like(t) for t in ("=1+1", "\\tx", " -2+3", "-2", "+886912345678", "a=b")]
    [True, True, True, False, False, False]
    """
    if not text:
        return False
    first = text[0]
    if first in _OPERATOR_START:
        return _PLAIN_NUMBER.fullmatch(text) is None
    if not first.isspace():  # the common case: a letter, a digit, a CJK character
        return False
    core = text.lstrip()
    leading = text[: len(text) - len(core)]
    if "\t" in leading or "\r" in leading:
        return True
    return core != "" and core[0] in _OPERATOR_START and _PLAIN_NUMBER.fullmatch(core) is None


def neutralise_cell(value: Any) -> Any:
    """``value`` made safe for a spreadsheet: formula-like text gets a leading ``'``.

    Anything that is not a ``str`` is returned unchanged.

    >>> neutralise_cell("-1+2"), neutralise_cell(-1), neutralise_cell(None)
    ("'-1+2", -1, None)
    """
    if isinstance(value, str) and is_formula_like(value):
        return NEUTRALISING_PREFIX + value
    return value


def neutralise_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every cell of ``row`` through :func:`neutralise_cell`.

    >>> neutralise_row({"name": "@chan", "phone": "+85291234567"})
    {'name': "'@chan", 'phone': '+85291234567'}
    """
    return {k: neutralise_cell(v) for k, v in row.items()}
