"""Extractors (the people who cut clips) as clip commands name them: found, created without
a login, or refused with the known names a typo resembles."""

from __future__ import annotations

import difflib

from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.db.models import Person
from dfew_build.errors import ClipError
from dfew_build.people import find_person, normalize_name


def clean_name(name: str) -> str:
    """An extractor's name as stored and compared: NFC, runs of whitespace as one space.
    ClipError for a name holding a control or bidi character (dfew_build.names)."""
    from dfew_build.names import check_name

    return check_name(normalize_name(name), "the extractor name", ClipError)


def find_extractor(session: Session, name: str) -> Person | None:
    """The extractor named so, None when nobody is; ClipError if it is someone else's role."""
    cleaned = clean_name(name)
    if not cleaned:
        raise ClipError("the extractor is empty: name the person who cut the clip")
    person = find_person(session, cleaned)
    if person is not None and person.role != "extractor":
        raise ClipError(f"{cleaned!r} is an {person.role}, not an extractor; name an extractor "
                        "(or add one with: dfew-build people add NAME --role extractor)")
    return person


def extractor_names(session: Session) -> list[str]:
    """Every extractor's name, alphabetically."""
    return sorted(session.scalars(select(Person.name).where(Person.role == "extractor")))


def close_names(name: str, known, limit: int = 3) -> list[str]:
    """Known names that look like a typo of `name` (difflib ratio >= 0.6, case-insensitive),
    closest first."""
    by_folded = {}
    for known_name in known:
        by_folded.setdefault(known_name.casefold(), known_name)
    folded = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.6)
    return [by_folded[f] for f in folded if by_folded[f] != name]


def unknown_extractor_message(session: Session, name: str) -> str:
    """Why an unknown extractor name is refused, naming the known extractors it resembles."""
    cleaned = clean_name(name)
    known = extractor_names(session)
    close = close_names(cleaned, known)
    if close:
        hint = "did you mean " + " or ".join(repr(n) for n in close) + "?"
    elif known:
        more = f" and {len(known) - 10} more" if len(known) > 10 else ""
        shown = ", ".join(known[:10]) + more
        hint = f"known extractors: {shown}"
    else:
        hint = "there are no extractors yet"
    return (f"unknown extractor {cleaned!r} ({hint}); pass --new-extractor to add "
            f"{cleaned!r} as a new extractor")


def require_extractor(session: Session, name: str) -> Person:
    """The existing extractor named so; ClipError naming close known names otherwise."""
    person = find_extractor(session, name)
    if person is None:
        raise ClipError(unknown_extractor_message(session, name))
    return person


def get_or_create_extractor(session: Session, name: str) -> tuple[Person, bool]:
    """The extractor person, created without a login token when unknown; (person, created)."""
    person = find_extractor(session, name)
    if person is not None:
        return person, False
    person = Person(name=clean_name(name), role="extractor", token_hash=None, active=True)
    session.add(person)
    session.flush()
    return person, True
