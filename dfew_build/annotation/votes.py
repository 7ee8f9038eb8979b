"""Votes in and out as `clip_id,annotator,emotion` CSV files (DESIGN.md §5).

Import is built for DFEW-scale files and beyond (10M rows) and for a campaign that is
running: the CSV is streamed once through Python's csv module (exact line numbers,
malformed rows reported, not fatal), each distinct raw value is parsed once, duplicates and
conflicts within the file are found with one numpy sort, and the rows are then written in
short transactions of a few hundred rows, each committed on its own, so the write lock is
held for milliseconds and the annotation server's votes keep flowing meanwhile.

Rules:
- a row whose clip, annotator or emotion is unknown, or that is malformed, is reported
  with its line number (the header is line 1) and skipped; valid rows are stored;
- the same (clip, annotator, emotion) twice in a file: the first is used, the others are
  reported as duplicates; the same (clip, annotator) with different emotions in one file
  is a conflict: none of those rows is stored;
- a vote already stored with the same emotion is left alone (re-importing a file is a
  no-op); with a different emotion it is reported and kept, unless `update=True`. A vote
  cast on the web while the import runs is a stored vote like any other: each row is
  judged against the database as it is when its batch is written, conflicts are found row
  by row (INSERT ... ON CONFLICT DO NOTHING RETURNING), never as an error for the batch;
- a vote needs an assignment (a composite foreign key); pairs without one get an
  assignment with source `imported`.
Batches that find the database locked by another writer are tried again, for a bounded
time; a batch that the database refuses as a whole is redone row by row. A stopped or
interrupted import keeps the batches it committed, and running it again does only the
rest (what is stored counts as "already stored").
"""

from __future__ import annotations

import csv
import os
import shlex
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.annotation.votes_write import _commit_rows, _LockedOut, _name, _Writer
from dfew_build.csvoutput import unquote_cell
from dfew_build.db.models import Clip, Person, Vote
from dfew_build.emotions import BY_CODE, NAMES, parse_emotion
from dfew_build.errors import VoteError
from dfew_build.names import name_problem
from dfew_build.people import normalize_name
from dfew_build.tempfiles import mkstemp_for, remove_stale

COLUMNS = ("clip_id", "annotator", "emotion")
# Rows written per transaction. Each holds the write lock for a few milliseconds, so the
# annotation server's votes wait no longer than that during an import.
TRANSACTION_ROWS = 500
# How long one batch may wait, in all, for a lock held by another writer before the import
# stops (what it stored stays stored).
LOCK_WAIT_S = 60.0


@dataclass
class VoteImportReport:
    path: str
    update: bool = False
    rows: int = 0                 # data rows read (blank lines are not rows)
    imported: int = 0             # new votes stored
    updated: int = 0              # stored votes given the file's emotion (update=True)
    unchanged: int = 0            # already stored with the same emotion
    assignments_created: int = 0  # assignments added (source `imported`) for new votes
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)

    @property
    def usable(self) -> int:
        """Rows whose vote is in the database after the import."""
        return self.imported + self.updated + self.unchanged

    def problem_lines(self) -> list[str]:
        name = Path(self.path).name
        return [f"{name} line {line}: {message}" for line, message in sorted(self.problems)]

    def summary(self) -> dict:
        return {"rows": self.rows, "imported": self.imported, "updated": self.updated,
                "unchanged": self.unchanged, "assignments_created": self.assignments_created,
                "problems": len(self.problems)}

    def as_dict(self) -> dict:
        return {"path": self.path, "update": self.update, "summary": self.summary(),
                "problems": [{"line": line, "message": message}
                             for line, message in sorted(self.problems)]}


class VoteImportInterrupted(VoteError):
    """The import stopped part-way because the database stayed locked. `report` holds what
    was stored before: it stays stored, and importing the file again does only the rest."""

    def __init__(self, message: str, report: VoteImportReport):
        super().__init__(message)
        self.report = report


@dataclass
class _Parsed:
    """The rows that passed the per-row checks, as parallel arrays."""
    lines: np.ndarray
    clips: np.ndarray
    annotators: np.ndarray
    emotions: np.ndarray


class _Lookups:
    """Parses each distinct raw value once: an int on success, the error message otherwise."""

    def __init__(self, session: Session):
        self.clip_ids = set(session.scalars(select(Clip.id)))
        rows = list(session.execute(select(Person.id, Person.name, Person.role)))
        # Keyed by the normalised name (NFC, single spaces), as `people add` stores it.
        self.people = {normalize_name(name): (pid, role) for pid, name, role in rows}
        self.names: dict[int, str] = {pid: name for pid, name, _ in rows}
        self.clips: dict[str, int | str] = {}
        self.annotators: dict[str, int | str] = {}
        self.emotions: dict[str, int | str] = {}

    def clip(self, raw: str) -> int | str:
        text = raw.strip()
        if not text:
            return "clip_id is empty"
        if not text.isdigit():
            return f"clip_id {raw!r} is not a clip id (a positive integer)"
        clip_id = int(text)
        if clip_id not in self.clip_ids:
            return (f"unknown clip {clip_id}; only clips in the workspace can get votes "
                    "(see `dfew-build clips list`)")
        return clip_id

    def annotator(self, raw: str) -> int | str:
        # The same normalisation as `people add`; a name our export quoted for spreadsheets
        # ('=name) is read back without the apostrophe (dfew_build.csvoutput).
        name = normalize_name(raw)
        if name not in self.people:
            name = normalize_name(unquote_cell(raw.strip()))
        if not name:
            return "annotator is empty"
        problem = name_problem(name, "the annotator name")
        if problem:  # printed raw in the `people add` hint below, it would reach the terminal
            return problem
        found = self.people.get(name)
        if found is None:
            return (f"unknown annotator {name!r}; add them with `dfew-build people add "
                    f"{shlex.quote(name)} --role annotator` and import again")
        pid, role = found
        if role != "annotator":
            return f"{name!r} is {'an' if role[0] in 'aeiou' else 'a'} {role}, not an annotator"
        return pid

    def emotion(self, raw: str) -> int | str:
        if not raw.strip():
            return f"emotion is empty; use a code 1..7 or one of {', '.join(NAMES)}"
        try:
            return parse_emotion(raw).code
        except ValueError as exc:
            return str(exc)


def _open_csv(path: Path) -> TextIO:
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise VoteError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise VoteError(f"{path} is a folder; give the votes CSV file") from None
    except OSError as exc:
        raise VoteError(f"cannot read {path}: {exc.strerror}") from None


def _first_non_utf8_line(path: Path) -> int:
    """The text layer decodes ahead of the CSV reader, so find the line from the bytes."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _parse_rows(path: Path, lookups: _Lookups, report: VoteImportReport,
                progress: bool) -> _Parsed:
    lines, clips, annotators = array("q"), array("q"), array("q")
    emotions = array("b")
    problems = report.problems
    clip_cache, annotator_cache, emotion_cache = (lookups.clips, lookups.annotators,
                                                   lookups.emotions)
    with _open_csv(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise VoteError(f"{path} is empty; a votes CSV starts with the header line "
                                "clip_id,annotator,emotion")
            columns = [name.strip().lower() for name in header]
            missing = [name for name in COLUMNS if name not in columns]
            if missing:
                raise VoteError(
                    f"{path}: the header {','.join(header)!r} has no {', '.join(missing)} "
                    f"column; a votes CSV has the header clip_id,annotator,emotion")
            ci, ai, ei = (columns.index(name) for name in COLUMNS)
            width = len(header)
            rows = reader
            if progress:
                from tqdm import tqdm

                rows = tqdm(reader, desc="reading votes", unit=" rows", mininterval=0.5)
            for row in rows:
                if len(row) != width:
                    if not any(cell.strip() for cell in row):
                        continue  # blank line
                    report.rows += 1
                    problems.append((reader.line_num,
                                     f"has {len(row)} field(s) but the header has {width}; "
                                     "quote values that contain commas"))
                    continue
                report.rows += 1
                c_raw, a_raw, e_raw = row[ci], row[ai], row[ei]
                clip = clip_cache.get(c_raw)
                if clip is None:
                    clip = clip_cache[c_raw] = lookups.clip(c_raw)
                person = annotator_cache.get(a_raw)
                if person is None:
                    person = annotator_cache[a_raw] = lookups.annotator(a_raw)
                emotion = emotion_cache.get(e_raw)
                if emotion is None:
                    emotion = emotion_cache[e_raw] = lookups.emotion(e_raw)
                if clip.__class__ is str or person.__class__ is str or emotion.__class__ is str:
                    if not any(cell.strip() for cell in row):
                        report.rows -= 1
                        continue  # a line of empty fields, e.g. ",,"
                    errors = [v for v in (clip, person, emotion) if v.__class__ is str]
                    problems.append((reader.line_num, "; ".join(errors)))
                    continue
                lines.append(reader.line_num)
                clips.append(clip)
                annotators.append(person)
                emotions.append(emotion)
        except UnicodeDecodeError:
            raise VoteError(f"{path} is not UTF-8 text (line {_first_non_utf8_line(path)}); "
                            "save it as UTF-8 CSV and import again; nothing was "
                            "imported") from None
        except csv.Error as exc:
            raise VoteError(f"{path} line {reader.line_num}: not readable as CSV ({exc}); "
                            "nothing was imported") from None
    return _Parsed(np.frombuffer(lines, dtype=np.int64), np.frombuffer(clips, dtype=np.int64),
                   np.frombuffer(annotators, dtype=np.int64),
                   np.frombuffer(emotions, dtype=np.int8).astype(np.int64))


def _drop_in_file_repeats(parsed: _Parsed, key: np.ndarray, lookups: _Lookups,
                          report: VoteImportReport) -> np.ndarray:
    """Indices (into parsed) of the rows to use: one per (clip, annotator) pair."""
    order = np.argsort(key, kind="stable")  # stable: the first line of a pair comes first
    sorted_key = key[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_key[1:] != sorted_key[:-1]
    group = np.cumsum(starts) - 1
    group_emotion = parsed.emotions[order][starts][group]
    differs = parsed.emotions[order] != group_emotion
    conflicted = np.zeros(int(starts.sum()), dtype=bool)
    conflicted[group[differs]] = True
    in_conflict = conflicted[group]
    first_line = parsed.lines[order][starts][group]

    for i in np.flatnonzero(~starts & ~in_conflict):
        row = order[i]
        report.problems.append((
            int(parsed.lines[row]),
            f"duplicate of line {first_line[i]} (clip {parsed.clips[row]}, "
            f"{lookups.names[int(parsed.annotators[row])]}, {_name(parsed.emotions[row])}); "
            "ignored"))
    for g in np.flatnonzero(conflicted):
        members = order[group == g]
        listed = ", ".join(f"{parsed.lines[r]}: {_name(parsed.emotions[r])}" for r in members)
        clip, person = parsed.clips[members[0]], lookups.names[int(parsed.annotators[members[0]])]
        for r in members:
            report.problems.append((
                int(parsed.lines[r]),
                f"conflicting votes for clip {clip} by {person} in this file (lines {listed}); "
                "none of them was stored: keep one and import again"))
    return np.sort(order[starts & ~in_conflict])


def import_votes(session: Session, path: str | os.PathLike, *, update_existing: bool = False,
                 progress: bool = False, transaction_rows: int | None = None,
                 lock_wait_s: float = LOCK_WAIT_S) -> VoteImportReport:
    """Import a `clip_id,annotator,emotion` CSV (emotion as code 1..7 or name).

    The rows are written `transaction_rows` (default TRANSACTION_ROWS) at a time, each
    batch in a transaction of its own that `session` commits (anything the session held
    before is committed with the first). A batch that finds the database locked by another
    writer is tried again for up to `lock_wait_s` seconds in all.

    Raises VoteError when the file as a whole cannot be used (missing, empty, no such
    column, not UTF-8): nothing is stored then. Raises VoteImportInterrupted (a VoteError,
    with the report of what was stored) when the database stayed locked: the batches
    committed before stay stored and a new import of the file does only the rest. Row
    problems are collected in the report and the other rows are stored.
    """
    transaction_rows = TRANSACTION_ROWS if transaction_rows is None else transaction_rows
    if transaction_rows < 1:
        raise VoteError(f"transaction_rows must be at least 1, not {transaction_rows}")
    path = Path(path)
    report = VoteImportReport(path=str(path), update=update_existing)
    lookups = _Lookups(session)
    parsed = _parse_rows(path, lookups, report, progress)
    session.commit()  # end the read transaction before the writes begin
    if not len(parsed.lines):
        return report

    key_base = max(lookups.names) + 1
    key = parsed.clips * key_base + parsed.annotators
    keep = _drop_in_file_repeats(parsed, key, lookups, report)
    # Written in (clip, annotator) order: a batch touches a short range of clip ids.
    keep = keep[np.argsort(key[keep], kind="stable")]
    columns = (parsed.lines[keep], parsed.clips[keep], parsed.annotators[keep],
               parsed.emotions[keep])
    total = len(keep)

    writer = _Writer(session, lookups.names, update_existing)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="storing votes", unit=" rows", mininterval=0.5)
    try:
        for start in range(0, total, transaction_rows):
            # Python tuples for one batch at a time: a 10M-row file stays in numpy arrays.
            chunk = list(zip(*(column[start:start + transaction_rows].tolist()
                               for column in columns)))
            held = writer.held_s
            _commit_rows(writer, chunk, lock_wait_s, report)
            if bar:
                bar.update(len(chunk))
            if writer.dialect == "sqlite" and start + transaction_rows < total:
                # SQLite's waiting writers poll (after 1, 2, 5 ... 100 ms); batches back to
                # back would leave them almost no moment to get in. An equal pause keeps
                # the lock free half the time, so a web vote gets in within a poll or two.
                time.sleep(writer.held_s - held)
    except _LockedOut as exc:
        left = total - writer.rows_written
        cause = str(exc.cause).splitlines()[0] if str(exc.cause) else type(exc.cause).__name__
        raise VoteImportInterrupted(
            f"the database stayed locked by another program for {lock_wait_s:g} s "
            f"({cause}); the import stopped with {left} of the file's {total} rows "
            f"to store not yet written. What it wrote stays stored ({report.usable} "
            "vote(s) in the database now): run the same import again to write the rest "
            "(stored votes are skipped), with --wait SECONDS to wait longer",
            report) from None
    finally:
        if bar:
            bar.close()
        writer.restore_lock_wait()
    return report


def vote_rows_after(session: Session, after: int | None, rows: int = 50_000
                    ) -> tuple[list[tuple], int | None]:
    """One page of the export: the votes of the clips after clip id `after` (None: from the
    start), about `rows` of them and always whole clips, as (clip_id, annotator, emotion)
    ordered by clip then annotator, with names made safe for spreadsheets
    (dfew_build.csvoutput). Returns (rows, the last clip id, or None when this was the end).
    Each page is an index range scan, so paging through 10 M votes stays linear."""
    from dfew_build.csvoutput import safe_cell

    start = select(Vote.clip_id).order_by(Vote.clip_id)
    if after is not None:
        start = start.where(Vote.clip_id > after)
    last = session.scalar(start.offset(max(rows - 1, 0)).limit(1))
    query = (select(Vote.clip_id, Person.name, Vote.emotion)
             .join(Person, Person.id == Vote.annotator_id)
             .order_by(Vote.clip_id, Person.name))
    if after is not None:
        query = query.where(Vote.clip_id > after)
    if last is not None:
        query = query.where(Vote.clip_id <= last)
    page = [(clip, safe_cell(name), emotion) for clip, name, emotion in session.execute(query)]
    return page, last


def write_votes(session: Session, handle: TextIO, *, names: bool = False) -> int:
    """Write every vote as `clip_id,annotator,emotion`, ordered by clip then annotator.

    Emotions are codes 1..7 (DFEW's files), or names with names=True. An annotator name
    that a spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage
    return) is written with a leading apostrophe (dfew_build.csvoutput; `votes import`
    reads it back). Returns the count. Reads in pages of whole clips (vote_rows_after), so
    memory stays flat at any size.
    """
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    labels = {e: BY_CODE[e].name for e in BY_CODE} if names else None
    after = None
    while True:
        page, after = vote_rows_after(session, after)
        if labels:
            page = [(c, a, labels[e]) for c, a, e in page]
        writer.writerows(page)
        count += len(page)
        if after is None:
            return count


def export_votes(session: Session, path: str | os.PathLike, *, names: bool = False) -> int:
    """write_votes into `path`, atomically: a failed export leaves no half-written file."""
    path = Path(path)
    if path.is_dir():
        raise VoteError(f"{path} is a folder; give a file name such as {path / 'votes.csv'}")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        remove_stale(folder, name=path.name)  # a killed export's temporaries of this file
        fd, temp = mkstemp_for(folder / path.name)
    except OSError as exc:
        raise VoteError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            count = write_votes(session, handle, names=names)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temp, 0o666 & ~mask)  # mkstemp's 0600 is not what a user expects
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise VoteError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count
