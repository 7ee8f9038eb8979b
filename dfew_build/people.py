"""People: annotators, extractors and admins, and their login tokens.

A login token is a random URL-safe string shown once (in a login link). Only its SHA-256
is stored: the token carries 256 bits of entropy, so a plain hash cannot be brute-forced
and lets the server find the person with one indexed lookup. Issuing a new link replaces
the hash, which invalidates the old link and every session opened with it.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.db.models import PERSON_ROLES, Person
from dfew_build.errors import PeopleError

TOKEN_BYTES = 32
MAX_NAME_LENGTH = 200


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (token, hash) pair."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def login_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/login/{quote(token, safe='')}"


def normalize_name(name: str) -> str:
    """A name as stored and compared: Unicode NFC, runs of whitespace as one space.

    NFC makes a name typed on one system equal to the same name copied from another (macOS
    file names and some keyboards give decomposed "e" + U+0301 for "é")."""
    return " ".join(unicodedata.normalize("NFC", str(name)).split())


def name_variants(name: str) -> list[str]:
    """The stored spellings a normalised name may have: NFC, and NFD for rows written before
    names were normalised. For `Person.name.in_(...)` lookups (one indexed query)."""
    return sorted({name, unicodedata.normalize("NFD", name)})


def find_person(session: Session, name: str) -> Person | None:
    """The person with this name after normalisation (see normalize_name), or None."""
    cleaned = normalize_name(name)
    if not cleaned:
        return None
    matches = list(session.scalars(select(Person).where(Person.name.in_(name_variants(cleaned)))
                                   .order_by(Person.id)))
    exact = [p for p in matches if p.name == cleaned]
    return (exact or matches or [None])[0]


def _clean_name(name: str) -> str:
    cleaned = normalize_name(name)
    if not cleaned:
        raise PeopleError("a person's name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise PeopleError(f"the name {cleaned[:40]!r}... is longer than {MAX_NAME_LENGTH} "
                          "characters; choose a shorter one")
    return cleaned


def _check_role(role: str) -> str:
    if role not in PERSON_ROLES:
        raise PeopleError(f"unknown role {role!r}: use one of {', '.join(PERSON_ROLES)}")
    return role


def add_person(session: Session, name: str, role: str) -> tuple[Person, str]:
    """Add a person; returns them and their login token (shown once, never stored)."""
    name = _clean_name(name)
    role = _check_role(role)
    existing = find_person(session, name)
    if existing is not None:
        raise PeopleError(f"a person named {name!r} already exists (role {existing.role}); "
                          f"choose another name, or issue a new login link with: "
                          f"dfew-build people link {name!r}")
    token, token_hash = new_token()
    person = Person(name=name, role=role, token_hash=token_hash, active=True)
    session.add(person)
    session.flush()
    return person, token


def get_person(session: Session, name: str) -> Person:
    person = find_person(session, _clean_name(name))
    if person is None:
        raise PeopleError(f"no person named {name!r}; see `dfew-build people list`")
    return person


def list_people(session: Session, role: str | None = None,
                include_inactive: bool = True) -> list[Person]:
    query = select(Person).order_by(Person.role, Person.name)
    if role is not None:
        query = query.where(Person.role == _check_role(role))
    if not include_inactive:
        query = query.where(Person.active.is_(True))
    return list(session.scalars(query))


def issue_token(session: Session, name: str) -> tuple[Person, str]:
    """A new login token for a person; their old link and sessions stop working."""
    person = get_person(session, name)
    if not person.active:
        raise PeopleError(f"{person.name!r} is deactivated; reactivate them first with: "
                          f"dfew-build people activate {person.name!r}")
    token, person.token_hash = new_token()
    session.flush()
    return person, token


def deactivate(session: Session, name: str) -> Person:
    """Deactivate a person: they can no longer log in. Their votes stay."""
    person = get_person(session, name)
    person.active = False
    session.flush()
    return person


def activate(session: Session, name: str) -> Person:
    person = get_person(session, name)
    person.active = True
    session.flush()
    return person


def person_for_token(session: Session, token: str) -> Person | None:
    """The active person a login token belongs to, or None."""
    if not token or len(token) > 200:
        return None
    token_hash = hash_token(token)
    person = session.scalar(select(Person).where(Person.token_hash == token_hash))
    return person if person is not None and person.active else None


def session_key(person: Person) -> str:
    """A short fingerprint of the person's current token, kept in their session cookie so a
    reissued link (or deactivation) ends sessions opened with the old one."""
    return (person.token_hash or "")[:16]


def person_dict(person: Person) -> dict:
    return {"id": person.id, "name": person.name, "role": person.role,
            "active": person.active, "created_at": person.created_at}


def configured_base_url(config: dict) -> str:
    """The address in login links: [server] base_url, else http://host:port."""
    server = config.get("server", {})
    if server.get("base_url"):
        return str(server["base_url"]).rstrip("/")
    return f"http://{server.get('host', '127.0.0.1')}:{server.get('port', 8000)}"
