"""The server's database access: every piece of work runs in a worker thread with a session
of its own, and that session is closed (its connection back in the pool) before the thread
returns. No connection is ever held across an await, and there are never more threads
working on the database than connections in the pool, so requests cannot deadlock waiting
for each other (issue 14: the old 40 threads over a pool of 15 froze the server).

A request waits for a database thread at most `wait_s`; then it is answered 503 with
Retry-After (ServerBusy). A database that stays locked (SQLite busy timeout, PostgreSQL
lock_timeout), is full, read-only or unreachable gives DatabaseUnavailable, also a 503.

On SQLite, writes go through one thread at a time in this process and start with BEGIN
IMMEDIATE: they queue here instead of spinning in SQLite's busy handler, and a write never
fails half-way for a lock another writer took after it began to read.

`read_now` is for the hot path's single-row reads (the session of every request, a clip's
file): on SQLite they run at once on one connection of the event loop's own, as the floor
app of benchmarks/server_load.py does. A WAL reader never waits for a writer (SQLite's
WAL design), so such a read takes microseconds and cannot block on anyone; its busy timeout
is short for the rare moments SQLite itself asks a reader to retry. On PostgreSQL (a
network round trip) they go through the read threads like everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import anyio
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError, TimeoutError
from sqlalchemy.orm import Session, sessionmaker

from dfew_build.db.session import make_engine

INLINE_BUSY_MS = 200
READ_THREADS = 8          # concurrent read transactions (and pool connections) per process
POSTGRES_WRITE_THREADS = 8
WAIT_S = 10.0             # longest wait for a database thread before a 503
SQLITE_BUSY_MS = 3000     # a write waits this long for another process's lock, then 503
POSTGRES_LOCK_TIMEOUT_MS = 3000
POSTGRES_STATEMENT_TIMEOUT_MS = 30_000
RETRY_AFTER_S = 2
RETRIES = 2  # PostgreSQL deadlock victims and serialisation failures are run again


def _retryable(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


class ServerBusy(Exception):
    """Every database thread stayed busy for the whole bounded wait."""

    retry_after = RETRY_AFTER_S


@dataclass
class DatabaseUnavailable(Exception):
    """The database cannot take the request now: why (locked, full, read-only, down)."""

    reason: str
    retry_after: int = RETRY_AFTER_S

    def __str__(self) -> str:
        return self.reason


def unavailable_reason(exc: BaseException) -> str | None:
    """Why a database error means 'try again later' (a 503), or None for a real bug."""
    if isinstance(exc, TimeoutError):  # the pool: cannot happen with the limiters below
        return "the server's database connections are all busy"
    if not isinstance(exc, DBAPIError):
        return None
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).lower()
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if "locked" in text or "busy" in text or sqlstate in ("55P03", "40P01", "40001"):
        return "the database is locked by another program (an import or a database tool)"
    if "full" in text or sqlstate == "53100":
        return "the database's disk is full"
    if "readonly" in text or "read-only" in text or "read only" in text or sqlstate == "25006":
        return "the database is read-only"
    if "disk i/o" in text or "unable to open" in text:
        return "the database's disk cannot be read or written"
    if sqlstate == "57014":
        return "the database took too long to answer"
    if isinstance(exc, OperationalError) and (exc.connection_invalidated or sqlstate[:2] in
                                              ("08", "57", "53")):
        return "the database cannot be reached"
    return None


class Database:
    """run(fn, *args): fn(session, *args) in a worker thread, committed when it returns."""

    def __init__(self, url: str, *, wait_s: float = WAIT_S, read_threads: int = READ_THREADS,
                 sqlite_busy_ms: int = SQLITE_BUSY_MS):
        self.wait_s = wait_s
        sqlite = url.startswith("sqlite")
        write_threads = 1 if sqlite else POSTGRES_WRITE_THREADS
        options: dict[str, Any] = dict(pool_size=read_threads, max_overflow=0, pool_timeout=5)
        self.read_engine = make_engine(url, **options)
        self.write_engine = make_engine(url, **{**options, "pool_size": write_threads})
        if sqlite:
            for engine in (self.read_engine, self.write_engine):
                event.listen(engine, "connect", _sqlite_busy(sqlite_busy_ms))
            _sqlite_begin(self.write_engine, "BEGIN IMMEDIATE")
            _sqlite_begin(self.read_engine, "BEGIN")
        else:
            for engine in (self.read_engine, self.write_engine):
                event.listen(engine, "connect", _postgres_timeouts)
        self.dialect = self.read_engine.dialect.name
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_limiter = anyio.CapacityLimiter(read_threads)
        self._write_limiter = anyio.CapacityLimiter(write_threads)
        # Threads are taken from these limiters, not from anyio's default one (which
        # serves files), so the pools can never be short of a connection.
        self._threads = anyio.CapacityLimiter(read_threads + write_threads)
        self._inline = self._inline_write = None
        self.inline_engine = self.inline_write_engine = None
        if sqlite:
            self.inline_engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.1)
            event.listen(self.inline_engine, "connect", _sqlite_busy(INLINE_BUSY_MS))
            _sqlite_begin(self.inline_engine, "BEGIN")
            # Writes that never wait: BEGIN IMMEDIATE with no busy timeout either gets the
            # lock at once or fails at once (and the write goes to the writer thread).
            self.inline_write_engine = make_engine(url, pool_size=1, max_overflow=0,
                                                   pool_timeout=0.1)
            event.listen(self.inline_write_engine, "connect", _sqlite_busy(0))
            _sqlite_begin(self.inline_write_engine, "BEGIN IMMEDIATE")

    @property
    def engine(self):
        return self.read_engine

    async def run(self, fn: Callable[..., Any], *args, write: bool = False,
                  raw: bool = False) -> Any:
        """fn(session, *args) in a database thread, committed when it returns (rolled back
        when it raises). raw=True passes a Core Connection instead of an ORM Session: the
        hot path's prepared statements need nothing more."""
        limiter = self._write_limiter if write else self._read_limiter
        with anyio.move_on_after(self.wait_s) as waited:
            await limiter.acquire()
        if waited.cancelled_caught:
            raise ServerBusy()
        try:
            return await anyio.to_thread.run_sync(self._call, fn, args, write, raw,
                                                  limiter=self._threads)
        finally:
            limiter.release()

    def _call(self, fn, args, write, raw=False):
        if raw:
            return self._call_raw(fn, args, write)
        factory = self._write if write else self._read
        for attempt in range(RETRIES + 1):
            session: Session = factory()
            try:
                result = fn(session, *args)
                session.commit()
                return result
            except SQLAlchemyError as exc:
                session.rollback()
                if attempt < RETRIES and _retryable(exc):
                    continue  # a deadlock victim or serialisation failure: once more
                reason = unavailable_reason(exc)
                if reason is not None:
                    raise DatabaseUnavailable(reason) from exc
                raise
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    async def read_now(self, fn: Callable[..., Any], *args) -> Any:
        """fn(connection, *args) for a one-row read: inline on SQLite, else a read thread."""
        if self.inline_engine is None:
            return await self.run(fn, *args, raw=True)
        try:
            if self._inline is None or self._inline.closed or self._inline.invalidated:
                self._inline = self.inline_engine.connect()
            with self._inline.begin():
                return fn(self._inline, *args)
        except SQLAlchemyError as exc:
            reason = unavailable_reason(exc)
            if reason is not None:
                raise DatabaseUnavailable(reason) from exc
            raise

    async def write_now(self, fn: Callable[..., Any], *args, orm: bool = False) -> Any:
        """fn(connection, *args) for a short write (the vote). On SQLite, when no other
        write of this process is under way, it is tried at once on the event loop's own
        connection without waiting for any lock: it gets SQLite's write lock immediately
        or gives up immediately (rolled back, nothing done) and goes to the writer thread,
        which waits for the lock up to the busy timeout. So a vote costs no thread switch
        on an idle database and still never blocks the server on a held lock.
        orm=True passes an ORM Session on that connection instead (a login)."""
        if orm:
            return await self.write_now(_with_session, fn, *args)
        if self.inline_write_engine is not None and self._write_limiter.borrowed_tokens == 0:
            try:
                if self._inline_write is None or self._inline_write.closed \
                        or self._inline_write.invalidated:
                    self._inline_write = self.inline_write_engine.connect()
                with self._inline_write.begin():
                    return fn(self._inline_write, *args)
            except OperationalError as exc:
                if not _sqlite_busy_error(exc):
                    reason = unavailable_reason(exc)
                    if reason is not None:
                        raise DatabaseUnavailable(reason) from exc
                    raise
                # Locked by another program: the writer thread waits for it (bounded).
        return await self.run(fn, *args, write=True, raw=True)

    def _call_raw(self, fn, args, write):
        engine = self.write_engine if write else self.read_engine
        for attempt in range(RETRIES + 1):
            try:
                with engine.connect() as connection:
                    with connection.begin():
                        return fn(connection, *args)
            except SQLAlchemyError as exc:
                if attempt < RETRIES and _retryable(exc):
                    continue
                reason = unavailable_reason(exc)
                if reason is not None:
                    raise DatabaseUnavailable(reason) from exc
                raise

    def call_sync(self, fn: Callable[..., Any], *args, write: bool = False,
                  raw: bool = False) -> Any:
        """The same work from a plain thread (tests, start-up)."""
        return self._call(fn, args, write, raw)

    def dispose(self) -> None:
        for connection in (self._inline, self._inline_write):
            if connection is not None:
                connection.close()
        self._inline = self._inline_write = None
        for engine in (self.read_engine, self.write_engine, self.inline_engine,
                       self.inline_write_engine):
            if engine is not None:
                engine.dispose()


def _with_session(connection, fn, *args):
    """fn(session, *args) with an ORM Session inside the connection's transaction."""
    with Session(bind=connection, expire_on_commit=False) as session:
        result = fn(session, *args)
        session.flush()
        return result


def _sqlite_busy_error(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
    return "database is locked" in str(orig or exc).lower()


def _sqlite_busy(ms: int):
    def connect(dbapi_connection, _record):
        # After dfew_build.db.session's pragmas: the server waits less than the CLI does.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(ms)}")
        cursor.close()
        # SQLAlchemy emits BEGIN itself (below), so pysqlite must not.
        dbapi_connection.isolation_level = None
    return connect


def _sqlite_begin(engine, statement: str) -> None:
    @event.listens_for(engine, "begin")
    def begin(conn):
        conn.exec_driver_sql(statement)


def _postgres_timeouts(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET lock_timeout = {POSTGRES_LOCK_TIMEOUT_MS}")
    cursor.execute(f"SET statement_timeout = {POSTGRES_STATEMENT_TIMEOUT_MS}")
    cursor.close()
    dbapi_connection.commit()
