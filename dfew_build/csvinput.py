"""Reading CSV files that people wrote (metadata, clip marks): one place for the encoding,
the header and the error messages."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dfew_build.errors import DfewError


def read_user_csv(path: Path, *, what: str, needs: str,
                  error: type[DfewError]) -> tuple[list[str], "csv._reader"]:
    """The header row and a reader over the records after it.

    UTF-8 with or without a BOM (spreadsheet exports add one). Quoted fields may span lines;
    `reader.line_num` is the file line where the current record ends, for messages.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise error(f"{path} is empty; it needs a header row with {needs}")
    return header, reader
