"""Request dependencies: one database session per request, the logged-in person, roles."""

from __future__ import annotations

from typing import Iterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from dfew_build.db.models import Person
from dfew_build.people import session_key


class LoginRequired(Exception):
    """Raised by `current_person` when no valid session exists; answered with the login page."""


def get_db(request: Request) -> Iterator[Session]:
    """A session for this request. Handlers that write commit before they answer, so a
    redirect is only ever sent for a change that is stored."""
    with request.app.state.sessions() as session:
        yield session


def current_person(request: Request, db: Session = Depends(get_db)) -> Person:
    person_id = request.session.get("pid")
    person = db.get(Person, person_id) if isinstance(person_id, int) else None
    # A reissued link or a deactivation ends sessions opened before it.
    if person is None or not person.active or request.session.get("key") != session_key(person):
        request.session.pop("pid", None)
        raise LoginRequired()
    return person


def require_role(*roles: str):
    def dependency(person: Person = Depends(current_person)) -> Person:
        if person.role not in roles:
            raise HTTPException(403, f"This page is for {' or '.join(roles)}s; you are logged "
                                     f"in as {person.role} {person.name!r}.")
        return person

    return dependency


def flash(request: Request, message: str, kind: str = "info") -> None:
    # A new list: Starlette saves the session only when a key is assigned, so a message
    # appended in place to an existing list would be lost.
    request.session["flash"] = [*request.session.get("flash", []), [kind, message]]
