"""CSV files that are safe to open in a spreadsheet.

Spreadsheets (Excel, LibreOffice, Google Sheets) run a cell that starts with `=`, `+`, `-`
or `@` as a formula, and a tab or carriage return can hide one ("CSV injection", OWASP).
Every CSV that dfew-build writes from data people typed (names, notes) uses the common
convention: such a cell gets a leading apostrophe, which spreadsheets show as text.
`votes import` reads the apostrophe back off, so an exported file imports unchanged.
Numbers are written as they are (a negative number is never a formula).
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The value as a CSV cell no spreadsheet runs: text starting with = + - @, a tab or a
    carriage return gets a leading apostrophe; everything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unquote_cell(value: str) -> str:
    """Undo safe_cell: an apostrophe followed by a formula start is dropped."""
    if value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
