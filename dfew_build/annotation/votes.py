"""Votes in and out as `clip_id,annotator,emotion` CSV files (DESIGN.md §5).

Import is built for DFEW-scale files and beyond (10M rows): the CSV is streamed once
through Python's csv module (exact line numbers, malformed rows reported, not fatal),
each distinct raw value is parsed once, duplicates and conflicts are found with one
numpy sort, and the database sees a few bulk Core inserts, never one ORM object per row.

Rules:
- a row whose clip, annotator or emotion is unknown, or that is malformed, is reported
  with its line number (the header is line 1) and skipped; valid rows are stored;
- the same (clip, annotator, emotion) twice in a file: the first is used, the others are
  reported as duplicates; the same (clip, annotator) with different emotions in one file
  is a conflict: none of those rows is stored;
- a vote already stored with the same emotion is left alone (re-importing a file is a
  no-op); with a different emotion it is reported and kept, unless `update=True`;
- a vote needs an assignment (a composite foreign key); pairs without one get an
  assignment with source `imported`.
Everything is written in the caller's transaction: an interrupted import stores nothing
and can simply be run again.
"""

from __future__ import annotations

import csv
import os
import shlex
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

import numpy as np
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from dfew_build.db.models import Assignment, Clip, Person, Vote, utcnow
from dfew_build.emotions import BY_CODE, NAMES, parse_emotion
from dfew_build.errors import VoteError
from dfew_build.labels.matrix import fetch_array
from dfew_build.people import normalize_name

COLUMNS = ("clip_id", "annotator", "emotion")
INSERT_BATCH = 20_000
# Stored votes are looked up in clip-id ranges of this many ids (bounded memory per query).
LOOKUP_SPAN = 2_000_000


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
        name = normalize_name(raw)  # the same normalisation as `people add`
        if not name:
            return "annotator is empty"
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


def _name(code: int) -> str:
    return BY_CODE[int(code)].name


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


def _stored(session: Session, table, columns, clips: np.ndarray, annotators: np.ndarray,
            key_base: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys (clip * key_base + annotator) of stored rows touching the file's clips and
    annotators, and the values of `columns[2]` if given (aligned with the keys)."""
    people = sorted(set(annotators.tolist()))
    keys, values = [], []
    lo, hi = int(clips.min()), int(clips.max())
    for start in range(lo, hi + 1, LOOKUP_SPAN):
        query = select(*columns).where(and_(columns[0] >= start,
                                            columns[0] < start + LOOKUP_SPAN,
                                            columns[1].in_(people)))
        rows = fetch_array(session, query, len(columns))
        if len(rows):
            keys.append(rows[:, 0] * key_base + rows[:, 1])
            if len(columns) > 2:
                values.append(rows[:, 2])
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    key = np.concatenate(keys)
    value = np.concatenate(values) if values else np.zeros(len(key), np.int64)
    order = np.argsort(key)
    return key[order], value[order]


def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, position in sorted_keys) for each key."""
    if not len(sorted_keys):
        return np.zeros(len(keys), bool), np.zeros(len(keys), np.int64)
    pos = np.searchsorted(sorted_keys, keys)
    pos_clipped = np.minimum(pos, len(sorted_keys) - 1)
    return sorted_keys[pos_clipped] == keys, pos_clipped


def _insert_batches(session: Session, table, columns: tuple[str, ...], rows: Iterable[tuple],
                    constants: dict, progress: bool, total: int, desc: str) -> None:
    """Bulk INSERT through the DBAPI cursor's executemany, in batches.

    SQLAlchemy's per-row parameter processing (a datetime conversion per row and column)
    costs more than SQLite's own insert at this scale, so the statement is compiled once,
    the constant columns (timestamps, source) are converted once with the column types'
    bind processors, and plain tuples go to the driver. Same transaction as the session.
    """
    connection = session.connection()
    dialect = connection.dialect
    names = (*columns, *constants)
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    fixed = {}
    for name, value in constants.items():
        processor = table.c[name].type._cached_bind_processor(dialect)
        fixed[name] = processor(value) if processor else value
    order = list(compiled.positiontup) if compiled.positional else None
    if order is not None and sorted(order) != sorted(names):
        raise RuntimeError(f"unexpected insert parameters {order} for {names}")
    sql = str(compiled)
    cursor = connection.connection.cursor()
    bar = None
    if progress and total:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit=" rows", mininterval=0.5)

    def flush(batch: list[tuple]) -> None:
        if order is not None:
            slots = [columns.index(n) if n in columns else None for n in order]
            params = [tuple(row[i] if i is not None else fixed[n]
                            for i, n in zip(slots, order)) for row in batch]
        else:
            params = [{**dict(zip(columns, row)), **fixed} for row in batch]
        cursor.executemany(sql, params)
        if bar:
            bar.update(len(batch))

    try:
        batch: list[tuple] = []
        for row in rows:
            batch.append(row)
            if len(batch) == INSERT_BATCH:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    finally:
        cursor.close()
        if bar:
            bar.close()


def import_votes(session: Session, path: str | os.PathLike, *, update_existing: bool = False,
                 progress: bool = False) -> VoteImportReport:
    """Import a `clip_id,annotator,emotion` CSV (emotion as code 1..7 or name).

    Raises VoteError only when the file as a whole cannot be used (missing, empty, no such
    column, not UTF-8); row problems are collected in the report and the rest is stored.
    """
    path = Path(path)
    report = VoteImportReport(path=str(path), update=update_existing)
    lookups = _Lookups(session)
    parsed = _parse_rows(path, lookups, report, progress)
    if not len(parsed.lines):
        return report

    key_base = max(lookups.names) + 1
    key = parsed.clips * key_base + parsed.annotators
    keep = _drop_in_file_repeats(parsed, key, lookups, report)
    key, clips, people, emotions, lines = (key[keep], parsed.clips[keep], parsed.annotators[keep],
                                           parsed.emotions[keep], parsed.lines[keep])

    vote_keys, vote_emotions = _stored(session, Vote, (Vote.clip_id, Vote.annotator_id,
                                                       Vote.emotion), clips, people, key_base)
    stored, pos = _find(vote_keys, key)
    stored_emotion = vote_emotions[pos] if len(vote_emotions) else np.zeros_like(emotions)
    same = stored & (stored_emotion == emotions)
    changed = stored & ~same
    report.unchanged = int(same.sum())
    now = utcnow()
    if update_existing:
        rows = [{"c": int(c), "a": int(a), "e": int(e)}
                for c, a, e in zip(clips[changed], people[changed], emotions[changed])]
        statement = (update(Vote.__table__)
                     .where(Vote.__table__.c.clip_id == bindparam("c"),
                            Vote.__table__.c.annotator_id == bindparam("a"))
                     .values(emotion=bindparam("e"), updated_at=now))
        connection = session.connection()
        for start in range(0, len(rows), INSERT_BATCH):
            connection.execute(statement, rows[start:start + INSERT_BATCH])
        report.updated = len(rows)
    else:
        for i in np.flatnonzero(changed):
            report.problems.append((
                int(lines[i]),
                f"clip {clips[i]} by {lookups.names[int(people[i])]} already has the stored "
                f"vote {_name(stored_emotion[i])}, the file says {_name(emotions[i])}; not "
                "changed (import with --update to replace stored votes)"))

    new = ~stored
    assignment_keys, _ = _stored(session, Assignment, (Assignment.clip_id,
                                                       Assignment.annotator_id),
                                 clips, people, key_base)
    assigned, _ = _find(assignment_keys, key)
    needs = new & ~assigned
    report.assignments_created = int(needs.sum())
    _insert_batches(session, Assignment.__table__, ("clip_id", "annotator_id"),
                    zip(clips[needs].tolist(), people[needs].tolist()),
                    {"source": "imported", "assigned_at": now},
                    progress, report.assignments_created, "assignments")
    report.imported = int(new.sum())
    _insert_batches(session, Vote.__table__, ("clip_id", "annotator_id", "emotion"),
                    zip(clips[new].tolist(), people[new].tolist(), emotions[new].tolist()),
                    {"created_at": now, "updated_at": now},
                    progress, report.imported, "votes")
    return report


def write_votes(session: Session, handle: TextIO, *, names: bool = False) -> int:
    """Write every vote as `clip_id,annotator,emotion`, ordered by clip then annotator.

    Emotions are codes 1..7 (DFEW's files), or names with names=True. Returns the count.
    """
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    query = (select(Vote.clip_id, Person.name, Vote.emotion)
             .join(Person, Person.id == Vote.annotator_id)
             .order_by(Vote.clip_id, Person.name)
             .execution_options(yield_per=50_000))
    count = 0
    labels = {e: BY_CODE[e].name for e in BY_CODE} if names else None
    for partition in session.execute(query).partitions():
        if labels:
            partition = [(c, a, labels[e]) for c, a, e in partition]
        writer.writerows(partition)
        count += len(partition)
    return count


def export_votes(session: Session, path: str | os.PathLike, *, names: bool = False) -> int:
    """write_votes into `path`, atomically: a failed export leaves no half-written file."""
    path = Path(path)
    if path.is_dir():
        raise VoteError(f"{path} is a folder; give a file name such as {path / 'votes.csv'}")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
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
