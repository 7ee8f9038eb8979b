"""Reading a DFEW release's tables: the annotation table and the split CSVs.

Bad rows never stop a read: each is reported as a Problem naming the file (relative to the
release root), the row (the line of the file, header = row 1; the spreadsheet row for
.xlsx) and the value, and the other rows are used. A file that cannot be used at all (no
recognisable header) raises FormatError.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from dfew_build.emotions import EMOTIONS, NUM_EMOTIONS
from dfew_build.errors import FormatError
from dfew_build.formats.layout import (ANNOTATION_CSV, ANNOTATION_HEADER, ANNOTATION_XLSX,
                                       SPLIT_HEADER, clip_name, parse_clip_name)

_NAME_COLUMNS = ("order", "clip_name", "video_name", "clip", "name", "video")
_LABEL_COLUMNS = ("label", "annotation")
_EMOTION_WORDS = {e.name: e.code for e in EMOTIONS} | {
    "happiness": 1, "sadness": 2, "anger": 4, "surprised": 5, "disgusted": 6, "fearful": 7}
_SPLIT_FILE = re.compile(r"^set_(\d+)\.csv$", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}" if self.row is not None else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class AnnotationRow:
    row: int
    clip_id: int
    votes: tuple[int, ...]   # DFEW order
    label: int               # 0 = not single-labelled


@dataclass(frozen=True)
class SplitRow:
    row: int
    clip_id: int
    label: int


def _cell(value: object) -> str:
    """Spreadsheet cells come back as ints, floats (3.0) or None; CSV cells as text."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _whole(text: str) -> int | None:
    text = text.strip()
    if text.endswith(".0"):
        text = text[:-2]
    return int(text) if text.isdigit() else None


def _table_rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".xlsx":
        try:
            import openpyxl
        except ImportError:
            raise FormatError(f"{path} is an Excel file and openpyxl is not installed: "
                              "pip install openpyxl (or save the sheet as annotation.csv "
                              "next to it)") from None
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many unrelated types for a bad file
            raise FormatError(f"{path} is not a readable .xlsx file ({exc})") from None
        try:
            sheet = book.worksheets[0]
            return [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return [[_cell(v) for v in row] for row in csv.reader(handle)]
    except UnicodeDecodeError:
        raise FormatError(f"{path} is not UTF-8 text; save it as CSV (UTF-8)") from None
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror}") from None


def _is_headerless(first: list[str], width: int) -> bool:
    cells = [c for c in first if c != ""]
    return len(cells) >= width and all(_whole(c) is not None for c in cells)


def _annotation_columns(header: list[str], where: str) -> tuple[list[int], int, int]:
    """Positions of the 7 vote columns (DFEW order), the clip-name and the label column."""
    lowered = [re.sub(r"[^a-z_]", "", h.lower()) for h in header]
    votes: dict[int, int] = {}
    for position, name in enumerate(lowered):
        word = name.replace("vote", "").strip("_")
        if word in _EMOTION_WORDS and _EMOTION_WORDS[word] not in votes:
            votes[_EMOTION_WORDS[word]] = position
    name_col = next((lowered.index(n) for n in _NAME_COLUMNS if n in lowered), None)
    label_col = next((lowered.index(n) for n in _LABEL_COLUMNS if n in lowered), None)
    missing = [e.name for e in EMOTIONS if e.code not in votes]
    if name_col is None:
        missing.append("clip name (order)")
    if label_col is None:
        missing.append("label")
    if missing:
        raise FormatError(f"{where}: no column for {', '.join(missing)}; expected the header "
                          f"{','.join(ANNOTATION_HEADER)}")
    return [votes[code] for code in range(1, NUM_EMOTIONS + 1)], name_col, label_col


def find_annotation(root: Path) -> Path | None:
    for relative in (ANNOTATION_CSV, ANNOTATION_XLSX):
        if (root / relative).is_file():
            return root / relative
    return None


def read_annotation(root: Path) -> tuple[list[AnnotationRow], list[Problem], Path]:
    """The annotation table (annotation.csv, else annotation.xlsx) of a release."""
    path = find_annotation(root)
    if path is None:
        raise FormatError(f"{root} holds no annotation table: expected {ANNOTATION_CSV} or "
                          f"{ANNOTATION_XLSX} (7 vote counts, clip name, label per clip); "
                          "is this the root of a DFEW release?")
    where = path.relative_to(root).as_posix()
    table = _table_rows(path)
    if not table:
        raise FormatError(f"{where} is empty")
    if _is_headerless(table[0], NUM_EMOTIONS + 2):
        # DFEW's README describes the rows only: votes, clip name, label, in that order.
        vote_cols, name_col, label_col = list(range(NUM_EMOTIONS)), NUM_EMOTIONS, NUM_EMOTIONS + 1
        data, first_row = table, 1
    else:
        vote_cols, name_col, label_col = _annotation_columns(table[0], where)
        data, first_row = table[1:], 2
    rows: list[AnnotationRow] = []
    problems: list[Problem] = []
    seen: dict[int, int] = {}
    for number, cells in enumerate(data, start=first_row):
        if not any(cells):
            continue
        cells = cells + [""] * (max(vote_cols + [name_col, label_col]) + 1 - len(cells))
        clip_id = parse_clip_name(cells[name_col])
        if clip_id is None:
            problems.append(Problem(where, number, f"clip name {cells[name_col]!r} is not a "
                                                   "DFEW clip number; row skipped"))
            continue
        votes = [_whole(cells[c]) for c in vote_cols]
        bad = [(EMOTIONS[i].name, cells[c]) for i, c in enumerate(vote_cols) if votes[i] is None]
        if bad:
            emotion, value = bad[0]
            problems.append(Problem(where, number, f"clip {clip_name(clip_id)}: vote count for "
                                                   f"{emotion} is {value!r}, not a whole number "
                                                   "≥ 0; row skipped"))
            continue
        label = _whole(cells[label_col])
        if label is None or label > NUM_EMOTIONS:
            problems.append(Problem(where, number, f"clip {clip_name(clip_id)}: label "
                                                   f"{cells[label_col]!r} is out of range (0 = not "
                                                   "single-labelled, 1..7 = DFEW emotions); row "
                                                   "skipped"))
            continue
        if clip_id in seen:
            problems.append(Problem(where, number, f"clip {clip_name(clip_id)} appears again "
                                                   f"(first at row {seen[clip_id]}); row skipped"))
            continue
        seen[clip_id] = number
        rows.append(AnnotationRow(number, clip_id, tuple(votes), label))
    return rows, problems, path


def read_split(root: Path, path: Path) -> tuple[list[SplitRow], list[Problem]]:
    """One `set_k.csv`: `video_name,label` rows, labels 1..7."""
    where = path.relative_to(root).as_posix()
    table = _table_rows(path)
    if not table:
        return [], [Problem(where, None, "empty file; no clips read from it")]
    if _is_headerless(table[0], 2):
        name_col, label_col, data, first_row = 0, 1, table, 1
    else:
        lowered = [h.strip().lower() for h in table[0]]
        name_col = next((lowered.index(n) for n in ("video_name", *_NAME_COLUMNS)
                         if n in lowered), None)
        label_col = next((lowered.index(n) for n in _LABEL_COLUMNS if n in lowered), None)
        if name_col is None or label_col is None:
            raise FormatError(f"{where}: expected the header {','.join(SPLIT_HEADER)}, found "
                              f"{','.join(table[0])!r}")
        data, first_row = table[1:], 2
    rows: list[SplitRow] = []
    problems: list[Problem] = []
    for number, cells in enumerate(data, start=first_row):
        if not any(cells):
            continue
        cells = cells + [""] * (max(name_col, label_col) + 1 - len(cells))
        clip_id = parse_clip_name(cells[name_col])
        if clip_id is None:
            problems.append(Problem(where, number, f"video_name {cells[name_col]!r} is not a "
                                                   "DFEW clip number; row skipped"))
            continue
        label = _whole(cells[label_col])
        if label is None or not 1 <= label <= NUM_EMOTIONS:
            problems.append(Problem(where, number, f"clip {clip_name(clip_id)}: label "
                                                   f"{cells[label_col]!r} is out of range 1..7; "
                                                   "row skipped"))
            continue
        rows.append(SplitRow(number, clip_id, label))
    return rows, problems


def split_files(root: Path, folder: Path) -> dict[int, Path]:
    """fold k -> `set_k.csv` in a train/test folder (DFEW's README also spells it
    `train(single_labeled)`; both spellings are read)."""
    found: dict[int, Path] = {}
    for candidate in (root / folder, root / str(folder).replace("single-labeled",
                                                                 "single_labeled")):
        if candidate.is_dir():
            for path in sorted(candidate.iterdir()):
                match = _SPLIT_FILE.match(path.name)
                if match and int(match.group(1)) >= 1:
                    found.setdefault(int(match.group(1)), path)
    return found

