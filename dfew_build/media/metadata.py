"""The movie metadata CSV: title, year, genre, country per movie file.

The key column (`file`, `path` or `filename`) holds a file name (matched against the
ingested file's name) or a path (relative paths are taken from the CSV's folder). Names and
paths are compared after Unicode NFC normalisation: a file copied from a Mac keeps its
decomposed name on disk ("e" + U+0301) while a CSV typed elsewhere spells it composed ("é"),
and the two look identical. Bad rows are reported by line number and skipped; the rest of
the file is used.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dfew_build.csvinput import read_user_csv
from dfew_build.errors import MetadataError
from dfew_build.names import name_problem

KEY_COLUMNS = ("file", "path", "filename")
FIELDS = ("title", "year", "genre", "country")
MIN_YEAR, MAX_YEAR = 1870, 2100


@dataclass(frozen=True)
class MovieMetadata:
    row: int  # line number in the CSV (the header is line 1)
    key: str
    title: str | None = None
    year: int | None = None
    genre: str | None = None
    country: str | None = None

    def fields(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name) is not None}


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _path_key(path: Path) -> str:
    return _nfc(str(path.resolve()))


@dataclass
class MetadataTable:
    source: Path
    # Keys are NFC: the resolved path as a string, and the file name.
    by_path: dict[str, MovieMetadata] = field(default_factory=dict)
    by_name: dict[str, MovieMetadata] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    used_rows: set[int] = field(default_factory=set)
    _batch: tuple[int, int, Counter] | None = field(default=None, repr=False)

    def lookup(self, path: Path, names_in_batch: dict[str, int]) -> MovieMetadata | None:
        """The row for this file: by path first, then by file name if that name is unique.

        names_in_batch counts the batch's file names (as found on disk, any normalisation)."""
        row = self.by_path.get(_path_key(path))
        if row is None:
            name = _nfc(path.name)
            row = self.by_name.get(name)
            count = self._name_counts(names_in_batch)[name]
            if row is not None and count > 1:
                if row.row not in self.used_rows:  # said once, not once per file
                    self.used_rows.add(row.row)
                    self.problems.append(
                        f"{self.source.name} line {row.row}: file name {row.key!r} matches "
                        f"{count} files; give the path instead (not applied)")
                return None
        if row is not None:
            self.used_rows.add(row.row)
        return row

    def _name_counts(self, names_in_batch: dict[str, int]) -> Counter:
        """names_in_batch with NFC keys, computed once per batch."""
        key = (id(names_in_batch), len(names_in_batch))
        if self._batch is None or self._batch[:2] != key:
            counts: Counter = Counter()
            for name, n in names_in_batch.items():
                counts[_nfc(name)] += n
            self._batch = (*key, counts)
        return self._batch[2]

    def unused_rows(self) -> list[MovieMetadata]:
        rows = {r.row: r for r in [*self.by_path.values(), *self.by_name.values()]}
        return [rows[n] for n in sorted(rows) if n not in self.used_rows]


def read_metadata(csv_path: str | Path) -> MetadataTable:
    source = Path(csv_path)
    header, reader = read_user_csv(
        source, what="metadata CSV", error=MetadataError,
        needs=f"a file column ({', '.join(KEY_COLUMNS)}) and any of {', '.join(FIELDS)}")
    columns = [c.strip().lower() for c in header]
    key_column = next((c for c in KEY_COLUMNS if c in columns), None)
    if key_column is None:
        raise MetadataError(
            f"{source} has no file column: the header is {', '.join(header)!s}; name the column "
            f"that holds the movie file name or path one of: {', '.join(KEY_COLUMNS)}")
    table = MetadataTable(source)
    where = f"{source.name} line"
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(columns):
            table.problems.append(f"{where} {line}: {len(values)} fields but the header has "
                                  f"{len(columns)} (an unquoted comma?); row skipped")
            continue
        row = dict(zip(columns, (v.strip() for v in values)))
        key = row.get(key_column, "")
        if not key:
            table.problems.append(f"{where} {line}: the {key_column} column is empty; row skipped")
            continue
        year = None
        if row.get("year"):
            try:
                year = int(float(row["year"]))
                if not MIN_YEAR <= year <= MAX_YEAR or float(row["year"]) != year:
                    raise ValueError
            except ValueError:
                table.problems.append(f"{where} {line}: year {row['year']!r} is not a year "
                                      f"({MIN_YEAR}..{MAX_YEAR}); year left empty")
                year = None
        # Text shown in one-line tables: a line break from a spreadsheet cell becomes a
        # space (as in people's names), and control or bidi characters refuse the row.
        for column in ("title", "genre", "country"):
            if row.get(column):
                row[column] = " ".join(row[column].split())
        problem = next(filter(None, (name_problem(row.get(column) or "", f"the {column}")
                                     for column in ("title", "genre", "country"))), None)
        if problem:
            table.problems.append(f"{where} {line}: {problem}; row skipped")
            continue
        entry = MovieMetadata(line, key, row.get("title") or None, year,
                              row.get("genre") or None, row.get("country") or None)
        if "/" in key or "\\" in key:
            mapping, lookup_key = table.by_path, _path_key(source.parent / key)
        else:
            mapping, lookup_key = table.by_name, _nfc(key)
        if lookup_key in mapping:
            table.problems.append(f"{where} {line}: {key!r} was already given on line "
                                  f"{mapping[lookup_key].row}; line {line} ignored")
            continue
        mapping[lookup_key] = entry
    return table
