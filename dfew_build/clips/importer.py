"""`clips import CSV`: clips cut by extractors, one row each, checked row by row.

Columns (header names, any order, case-insensitive): movie (id, file name or path), start,
end, extractor, and optionally emotion (alias intended_emotion). Movie and extractor names
are matched after Unicode NFC normalisation (see resolve_movie, people.normalize_name).
Valid rows are stored even when others fail; refused rows are reported by CSV line number
(the header is line 1).
A row that repeats a stored clip (same movie and span) is reported as already present,
so importing the same file twice is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dfew_build.clips.library import DuplicateClipError, add_clip, clean_name, resolve_movie
from dfew_build.clips.rules import clip_rules, parse_time
from dfew_build.csvinput import read_user_csv
from dfew_build.errors import ClipError
from dfew_build.people import find_person

REQUIRED = ("movie", "start", "end", "extractor")
EMOTION_COLUMNS = ("emotion", "intended_emotion")
COMMIT_EVERY = 500  # rows; a crash loses at most this much, and a re-run redoes it


@dataclass
class ImportReport:
    source: Path
    rows: int = 0
    imported: list[int] = field(default_factory=list)  # new clip ids
    already_present: list[tuple[int, int]] = field(default_factory=list)  # (line, clip id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    new_extractors: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        return [f"{self.source.name} line {line}: {reason}" for line, reason in self.refused]

    def summary(self) -> dict:
        return {"rows": self.rows, "imported": len(self.imported),
                "already_present": len(self.already_present), "refused": len(self.refused),
                "new_extractors": self.new_extractors}

    def as_dict(self) -> dict:
        return {"summary": self.summary(), "clip_ids": self.imported,
                "already_present": [{"line": line, "clip_id": clip_id}
                                    for line, clip_id in self.already_present],
                "refused": [{"line": line, "reason": reason} for line, reason in self.refused]}


def read_rows(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    expected = f"columns {', '.join(REQUIRED)} and optionally emotion"
    header, reader = read_user_csv(csv_path, what="clips CSV", needs=expected, error=ClipError)
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ClipError(f"{csv_path} has no {', '.join(missing)} column: the header is "
                        f"{', '.join(header)}; it needs {expected}")
    rows = []
    for values in reader:
        rows.append((reader.line_num, values))
    return columns, rows


def import_clips(workspace, csv_path: str | Path, *, allow_overlap: bool = False) -> ImportReport:
    csv_path = Path(csv_path)
    columns, rows = read_rows(csv_path)
    clip_rules(workspace.config)  # a bad [clips] section stops the import before any row
    emotion_column = next((c for c in EMOTION_COLUMNS if c in columns), None)
    report = ImportReport(csv_path)
    base_dir = csv_path.resolve().parent
    with workspace.session() as session:
        for done, (line, values) in enumerate(rows, 1):
            if not any(v.strip() for v in values):
                continue
            report.rows += 1
            try:
                with session.begin_nested():
                    _import_row(session, workspace.config, columns, values, emotion_column,
                                base_dir, allow_overlap, report)
            except DuplicateClipError as exc:
                report.already_present.append((line, exc.clip_id))
            except ClipError as exc:
                report.refused.append((line, str(exc)))
            if done % COMMIT_EVERY == 0:
                session.commit()
    return report


def _import_row(session, config, columns, values, emotion_column, base_dir, allow_overlap,
                report: ImportReport) -> None:
    if len(values) > len(columns):
        raise ClipError(f"{len(values)} fields but the header has {len(columns)} (an unquoted "
                        "comma?)")
    row = dict(zip(columns, (v.strip() for v in values)))
    for column in REQUIRED:
        if not row.get(column):
            raise ClipError(f"the {column} column is empty")
    movie = resolve_movie(session, row["movie"], base_dir)
    times = []
    for column in ("start", "end"):
        try:
            times.append(parse_time(row[column], movie.fps))
        except ValueError as exc:
            raise ClipError(f"{column} {exc}") from None
    name = clean_name(row["extractor"])
    known = find_person(session, name) is not None
    clip = add_clip(session, config, movie=movie, start_s=times[0], end_s=times[1],
                    extractor=name, intended_emotion=row.get(emotion_column or "") or None,
                    allow_overlap=allow_overlap, source="manual")
    report.imported.append(clip.id)
    if not known and name not in report.new_extractors:
        report.new_extractors.append(name)
