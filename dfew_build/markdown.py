"""Markdown (GFM) tables that read as tables in the raw file too: every column padded to its
widest cell, numbers right-aligned.

Width is counted in terminal columns (East Asian wide and full-width characters take two,
combining marks none), so a table holding names such as 王芳 or Zoë (decomposed) stays
aligned in an editor with a monospaced font. tabulate would do this, but it is not a
dependency and a table is a dozen lines.
"""

from __future__ import annotations

import re
import unicodedata

# A cell that is a number (or a dash for "no value") is right-aligned with its column.
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?%?$|^[—–-]$", re.IGNORECASE)


def display_width(text: str) -> int:
    """Monospaced columns `text` takes: 2 for wide/full-width characters, 0 for combining
    marks, 1 otherwise."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _cell(value) -> str:
    # A pipe would end the cell, a newline the row.
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill


def markdown_table(columns: list[str], rows: list[list], right: list[bool] | None = None) -> str:
    """A GFM table of `rows` (lists of cell values, str() of each; None is empty) under
    `columns`. `right[i]` right-aligns column i; by default a column is right-aligned when
    every non-empty cell is a number or a dash. No trailing newline."""
    header = [_cell(c) for c in columns]
    body = [[_cell(v) for v in row] for row in rows]
    if right is None:
        right = [bool(cells) and all(_NUMBER.match(c) for c in cells)
                 for cells in ([row[i] for row in body if row[i]] for i in range(len(header)))]
    widths = [max([3, display_width(h)] + [display_width(row[i]) for row in body])
              for i, h in enumerate(header)]
    # Delimiter cells as wide as "| cell |"; the colon must end the cell to right-align.
    rule = ["-" * (w + 1) + ":" if r else "-" * (w + 2) for w, r in zip(widths, right)]
    lines = ["| " + " | ".join(_pad(h, w, r) for h, w, r in zip(header, widths, right)) + " |",
             "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(_pad(c, w, r) for c, w, r in zip(row, widths, right)) + " |"
              for row in body]
    return "\n".join(lines)
