"""Login sessions of the annotation server, kept in the database (table `login_session`).

A browser that opens a login link gets a session: a random token in its cookie, whose
SHA-256 only is stored, with an absolute expiry. A session ends when it expires, when its
person logs out, and — for every session of the person at once — when they are deactivated
or get a new login link (`dfew-build people deactivate` / `people link`). Nothing else can
revive it: a replayed cookie of an ended session is refused.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import DateTime, bindparam, select, text, update
from sqlalchemy.orm import Session

from dfew_build.db.models import LoginSession, Person, utcnow

SESSION_TOKEN_BYTES = 32
MAX_FLASHES = 50        # kept per session; older ones are dropped
MAX_FLASH_LENGTH = 600  # characters per message


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives naive ones back)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Login:
    """A live session and its person, as read in one query (detached from any session)."""

    session_id: int
    token: str
    person_id: int
    name: str
    role: str
    excluded: bool
    queue_version: int
    flashes: tuple[tuple[str, str], ...] = ()


def open_session(session: Session, person: Person, max_age_s: int) -> str:
    """Start a session for `person`; returns the cookie token (never stored)."""
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    now = utcnow()
    session.add(LoginSession(person_id=person.id, token_hash=hash_session_token(token),
                             created_at=now, expires_at=now + timedelta(seconds=max_age_s)))
    session.flush()
    return token


_DT = DateTime(timezone=True)
_LINK = text("SELECT id, role, active, token_expires_at FROM person WHERE token_hash = :h"
             ).columns(token_expires_at=_DT)
_END = text("UPDATE login_session SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL"
            ).bindparams(bindparam("now", type_=_DT))
_OPEN = text("INSERT INTO login_session (person_id, token_hash, created_at, expires_at) "
             "VALUES (:person, :h, :now, :expires)").bindparams(
    bindparam("now", type_=_DT), bindparam("expires", type_=_DT))


def log_in(connection, link_token: str, max_age_s: int, previous: int | None = None):
    """The login of a link, in prepared statements (200 people may open their links at
    once): (cookie token, role) of a new session for the link's person, or None when the
    link is unknown, replaced, expired or its person deactivated. `previous`, the session
    the browser had, ends (a login starts afresh)."""
    from dfew_build.people import hash_token

    if not link_token or len(link_token) > 200:
        return None
    row = connection.execute(_LINK, {"h": hash_token(link_token)}).first()
    now = utcnow()
    if row is None or not row.active or (row.token_expires_at is not None
                                         and aware(row.token_expires_at) <= now):
        return None
    if previous is not None:
        connection.execute(_END, {"now": now, "id": previous})
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    connection.execute(_OPEN, {"person": row.id, "h": hash_session_token(token), "now": now,
                               "expires": now + timedelta(seconds=max_age_s)})
    return token, row.role


# The lookup runs on every request: one prepared statement, no ORM.
_FIND = text(
    "SELECT s.id, s.flashes, p.id, p.name, p.role, p.excluded_at IS NOT NULL, "
    "p.queue_version FROM login_session s JOIN person p ON p.id = s.person_id "
    "WHERE s.token_hash = :token_hash AND s.revoked_at IS NULL AND s.expires_at > :now "
    "AND p.active = :active"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))


def find_login(session, token: str) -> Login | None:
    """The live session with this cookie token, or None: unknown, revoked, expired, or its
    person deactivated. `session` is a Session or a Connection."""
    if not token or len(token) > 100:
        return None
    row = session.execute(_FIND, {"token_hash": hash_session_token(token), "now": utcnow(),
                                  "active": True}).first()
    if row is None:
        return None
    sid, flashes, pid, name, role, excluded, version = row
    return Login(sid, token, pid, name, role, bool(excluded), int(version or 0),
                 _decode(flashes))


def _decode(flashes: str | None) -> tuple[tuple[str, str], ...]:
    if not flashes:
        return ()
    try:
        return tuple((str(kind), str(text)) for kind, text in json.loads(flashes))
    except (ValueError, TypeError):
        return ()


def end_session(session: Session, session_id: int) -> None:
    """Log out: this session is revoked."""
    session.execute(update(LoginSession).where(LoginSession.id == session_id,
                                               LoginSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def revoke_sessions(session: Session, person_ids) -> int:
    """Revoke every open session of these people (deactivation, a new link); the count."""
    ids = [int(p) for p in person_ids]
    if not ids:
        return 0
    result = session.execute(update(LoginSession).where(LoginSession.person_id.in_(ids),
                                                        LoginSession.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
    return result.rowcount or 0


_STORE_FLASHES = text("UPDATE login_session SET flashes = :flashes WHERE id = :id")


def store_flashes(session, session_id: int, flashes) -> None:
    """Replace the session's waiting flash messages (an empty list clears them)."""
    kept = [[str(kind), str(message)[:MAX_FLASH_LENGTH]]
            for kind, message in flashes][-MAX_FLASHES:]
    session.execute(_STORE_FLASHES, {"flashes": json.dumps(kept) if kept else None,
                                     "id": session_id})


def open_sessions(session: Session, person_id: int) -> int:
    """How many sessions of the person are live (not revoked, not expired)."""
    now = utcnow()
    rows = session.execute(select(LoginSession.expires_at).where(
        LoginSession.person_id == person_id, LoginSession.revoked_at.is_(None)))
    return sum(1 for (expires_at,) in rows if aware(expires_at) > now)
