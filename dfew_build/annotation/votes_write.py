"""Writing parsed vote rows in short transactions (the write half of `votes import`).

Each batch of at most TRANSACTION_ROWS rows is one transaction: inserted with
INSERT ... ON CONFLICT DO NOTHING RETURNING, so a vote the web form stored meanwhile is a
conflict found row by row, not an error for the batch; a batch that finds the database
locked is tried again for a bounded time (_commit_batch), and one the database refuses as a
whole is redone row by row (_commit_rows). The rules are in dfew_build.annotation.votes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from dfew_build.db.models import Assignment, Vote, utcnow
from dfew_build.emotions import BY_CODE
from dfew_build.errors import VoteError

if TYPE_CHECKING:
    from dfew_build.annotation.votes import VoteImportReport


def _name(code: int) -> str:
    return BY_CODE[int(code)].name


@dataclass
class _Batch:
    """What one transaction stored; added to the report only once it is committed."""
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    assignments_created: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def add_to(self, report: VoteImportReport) -> None:
        report.imported += self.imported
        report.updated += self.updated
        report.unchanged += self.unchanged
        report.assignments_created += self.assignments_created
        report.problems.extend(self.problems)


class _LockedOut(Exception):
    """A batch could not get the database's write lock within the allowed wait."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


def _dialect_insert(session: Session):
    name = session.get_bind().dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:  # pragma: no cover - dfew-build supports these two databases
        raise VoteError(f"votes need SQLite or PostgreSQL, not {name}")
    return dialect_insert


def _votes_of_pairs(connection, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """{(clip, annotator): emotion} of the stored votes among `pairs`: one query on the clip
    index (a batch holds a few dozen clips, each with about n votes)."""
    if not pairs:
        return {}
    wanted = set(pairs)
    rows = connection.execute(select(Vote.clip_id, Vote.annotator_id, Vote.emotion)
                              .where(Vote.clip_id.in_(sorted({c for c, _ in pairs}))))
    return {(c, a): e for c, a, e in rows if (c, a) in wanted}


class _Raced(Exception):
    """Fewer votes were inserted than the batch's read promised: another program stored some
    of them in between (PostgreSQL's read committed, or a lock-free read). The batch is
    rolled back and written again with RETURNING, which says row by row which are ours."""


class _BulkInsert:
    """INSERT ... ON CONFLICT (clip_id, annotator_id) DO NOTHING through the DBAPI cursor's
    executemany; returns how many rows were inserted.

    SQLAlchemy's per-row parameter processing (a datetime conversion per row and column)
    costs more than the database's own insert at this scale, so the statement is compiled
    once, the constant columns (timestamps, source) are converted once with the column
    types' bind processors, and plain tuples go to the driver.
    """

    def __init__(self, session: Session, table, columns: tuple[str, ...], constants: dict):
        dialect = session.get_bind().dialect
        names = (*columns, *constants)
        statement = _dialect_insert(session)(table).on_conflict_do_nothing(
            index_elements=["clip_id", "annotator_id"])
        compiled = statement.compile(dialect=dialect, column_keys=list(names))
        fixed = {}
        for name, value in constants.items():
            processor = table.c[name].type._cached_bind_processor(dialect)
            fixed[name] = processor(value) if processor else value
        self.sql = str(compiled)
        self.dbapi_error = dialect.loaded_dbapi.Error
        self.columns, self.fixed = columns, fixed
        order = list(compiled.positiontup) if compiled.positional else None
        if order is not None and sorted(order) != sorted(names):
            raise RuntimeError(f"unexpected insert parameters {order} for {names}")
        self.slots = ([(columns.index(n) if n in columns else None, n) for n in order]
                      if order is not None else None)
        # The usual case: the row's columns first, then the constants.
        self.tail = (tuple(fixed[n] for n in order[len(columns):])
                     if order is not None and tuple(order[:len(columns)]) == columns else None)

    def run(self, session: Session, rows: list[tuple]) -> int:
        if not rows:
            return 0
        if self.tail is not None:
            tail = self.tail
            params = [row + tail for row in rows]
        elif self.slots is not None:
            fixed, slots = self.fixed, self.slots
            params = [tuple(row[i] if i is not None else fixed[n] for i, n in slots)
                      for row in rows]
        else:
            params = [{**dict(zip(self.columns, row)), **self.fixed} for row in rows]
        cursor = session.connection().connection.cursor()
        try:
            cursor.executemany(self.sql, params)
            return cursor.rowcount
        except self.dbapi_error as exc:  # as SQLAlchemy's own execute would raise it
            raise DBAPIError.instance(self.sql, None, exc, self.dbapi_error) from exc
        finally:
            cursor.close()


class _Writer:
    """Writes the file's rows batch by batch; each batch is a transaction of its own."""

    def __init__(self, session: Session, names: dict[int, str], update_existing: bool):
        self.session = session
        self.names = names
        self.update_existing = update_existing
        self.dialect = session.get_bind().dialect.name
        self.rows_written = 0  # rows of committed batches (stored, unchanged or reported)
        self.held_s = 0.0      # time spent in write transactions
        now = utcnow()
        self.assignments = _BulkInsert(session, Assignment.__table__, ("clip_id", "annotator_id"),
                                       {"source": "imported", "assigned_at": now})
        self.votes = _BulkInsert(session, Vote.__table__, ("clip_id", "annotator_id", "emotion"),
                                 {"created_at": now, "updated_at": now})
        table = Vote.__table__
        self.votes_returning = (
            _dialect_insert(session)(table).values(created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["clip_id", "annotator_id"])
            .returning(table.c.clip_id, table.c.annotator_id))
        self.update_votes = (update(table)
                             .where(table.c.clip_id == bindparam("c"),
                                    table.c.annotator_id == bindparam("a"))
                             .values(emotion=bindparam("e"), updated_at=now))

    def write(self, rows: list[tuple[int, int, int, int]], *, returning: bool = False) -> _Batch:
        """rows: (line, clip, annotator, emotion), no (clip, annotator) twice.

        Every row is judged against the database as it is inside this transaction: a vote
        the web form stored a moment ago counts as stored, exactly like one from last week.
        The assignments go first: on SQLite that statement takes the write lock, so the
        read of the stored votes that follows cannot be overtaken by another writer.
        Raises _Raced when it was overtaken all the same (PostgreSQL); `returning=True`
        (after a rollback) then finds out row by row.
        """
        batch = _Batch()
        connection = self.session.connection()
        # A vote needs its assignment; ON CONFLICT DO NOTHING leaves existing ones alone,
        # and a pair that has a vote has its assignment already.
        batch.assignments_created = self.assignments.run(
            self.session, sorted({(c, a) for _, c, a, _ in rows}))
        stored = _votes_of_pairs(connection, [(c, a) for _, c, a, _ in rows])
        new = [(c, a, e) for _, c, a, e in rows if (c, a) not in stored]
        inserted: set[tuple[int, int]] = set()
        if new and not returning:
            if self.votes.run(self.session, new) != len(new):
                raise _Raced()
            inserted = {(c, a) for c, a, _ in new}
        elif new:
            inserted = {(c, a) for c, a in connection.execute(
                self.votes_returning,
                [{"clip_id": c, "annotator_id": a, "emotion": e} for c, a, e in new])}
            raced = [(c, a) for c, a, _ in new if (c, a) not in inserted]
            if raced:  # voted by someone else between the read above and the insert
                stored.update(_votes_of_pairs(connection, raced))
        batch.imported = len(inserted)
        changed = []
        for line, clip, person, emotion in rows:
            if (clip, person) in inserted:
                continue
            before = stored.get((clip, person))
            if before is None:  # pragma: no cover - stored, then deleted, within milliseconds
                batch.problems.append((line, f"clip {clip} by {self.names[person]}: not stored "
                                             "(its vote changed while it was written); "
                                             "import again"))
            elif before == emotion:
                batch.unchanged += 1
            elif self.update_existing:
                changed.append({"c": clip, "a": person, "e": emotion})
            else:
                batch.problems.append((
                    line, f"clip {clip} by {self.names[person]} already has the stored vote "
                          f"{_name(before)}, the file says {_name(emotion)}; not changed "
                          "(import with --update to replace stored votes)"))
        if changed:
            connection.execute(self.update_votes, changed)
            batch.updated = len(changed)
        return batch

    def limit_lock_wait(self, seconds: float) -> None:
        """Wait at most `seconds` for another writer's lock in the next statements."""
        ms = max(1, int(seconds * 1000))
        if self.dialect == "sqlite":
            self.session.execute(text(f"PRAGMA busy_timeout = {ms}"))
        else:
            self.session.execute(text(f"SET LOCAL lock_timeout = {ms}"))

    def restore_lock_wait(self) -> None:
        if self.dialect == "sqlite":
            from dfew_build.db.session import SQLITE_BUSY_TIMEOUT_MS

            try:  # the connection goes back to the pool with the engine's usual wait
                self.session.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
            except DBAPIError:  # pragma: no cover - only after the connection broke
                pass


def _is_lock_error(exc: DBAPIError) -> bool:
    """Another writer holds a lock we need: SQLite busy/locked, PostgreSQL lock timeout,
    deadlock or serialisation failure. Worth waiting and trying the batch again."""
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY (incl. BUSY_SNAPSHOT), SQLITE_LOCKED
    if getattr(orig, "sqlstate", None) in ("55P03", "40P01", "40001"):
        return True
    message = str(orig).lower()
    return "database is locked" in message or "database table is locked" in message


def _commit_batch(writer: _Writer, rows: list[tuple[int, int, int, int]],
                  lock_wait_s: float, report: VoteImportReport) -> None:
    """writer.write(rows) in a transaction of its own, committed and added to the report;
    tried again (the same rows, from scratch) while another writer holds a lock it needs,
    for at most lock_wait_s in all, then _LockedOut."""
    session = writer.session
    deadline = time.monotonic() + lock_wait_s
    pause = 0.01
    returning = False
    while True:
        try:
            writer.limit_lock_wait(max(deadline - time.monotonic(), 0.001))
            began = time.perf_counter()
            batch = writer.write(rows, returning=returning)
            session.commit()
            writer.held_s += time.perf_counter() - began
            break
        except _Raced:
            session.rollback()
            returning = True
        except DBAPIError as exc:
            session.rollback()
            if not isinstance(exc, OperationalError) or not _is_lock_error(exc):
                raise
            if time.monotonic() + pause >= deadline:
                raise _LockedOut(exc.orig) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
    batch.add_to(report)
    writer.rows_written += len(rows)


def _commit_rows(writer: _Writer, rows: list[tuple[int, int, int, int]],
                 lock_wait_s: float, report: VoteImportReport) -> None:
    """_commit_batch; when the database refuses the batch (a clip or assignment removed by
    another program meanwhile), each row is tried alone and the refused ones are reported."""
    try:
        return _commit_batch(writer, rows, lock_wait_s, report)
    except IntegrityError:
        writer.session.rollback()
    for row in rows:
        try:
            _commit_batch(writer, [row], lock_wait_s, report)
        except IntegrityError as exc:
            writer.session.rollback()
            line, clip, person, _ = row
            reason = str(exc.orig).splitlines()[0]
            report.problems.append((line, f"clip {clip} by {writer.names[person]}: the "
                                          f"database refused the vote ({reason}); check the "
                                          "clip and the annotator, then import again"))
            writer.rows_written += 1
