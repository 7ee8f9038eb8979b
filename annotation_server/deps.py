"""Request dependencies: the database, the logged-in person (found by the gate before the
route runs, from the session table), roles, and flash messages."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request

from annotation_server.database import Database
from dfew_build.logins import Login


class LoginRequired(Exception):
    """Raised by `current_person` when no valid session exists; answered with the login page."""


def get_db(request: Request) -> Database:
    """The server's Database: `await db.run(fn, *args)` runs fn(session, *args) in a database
    thread with a session of its own, committed and closed before the thread returns."""
    return request.app.state.db


async def current_person(request: Request) -> Login:
    login = request.scope.get("state", {}).get("login")
    if login is None:
        raise LoginRequired()
    return login


def require_role(*roles: str):
    async def dependency(person: Login = Depends(current_person)) -> Login:
        if person.role not in roles:
            raise HTTPException(403, f"This page is for {' or '.join(roles)}s; you are logged "
                                     f"in as {person.role} {person.name!r}.")
        return person

    return dependency


def flash(request: Request, message: str, kind: str = "info") -> None:
    """A message for the next page this session shows (stored in the session row by the
    gate before the response goes out)."""
    state = request.scope.setdefault("state", {})
    state.setdefault("new_flashes", []).append((kind, message))
