"""Login by link, logout, and the home page that sends each role to its own page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from annotation_server.deps import current_person, get_db
from annotation_server.rendering import render
from annotation_server.security import csrf_protect, csrf_token
from dfew_build.db.models import Person
from dfew_build.people import person_for_token, session_key

router = APIRouter(dependencies=[Depends(csrf_protect)])

HOME = {"annotator": "/annotate", "extractor": "/extract", "admin": "/admin"}
BAD_LINK = ("This login link is not valid: it was mistyped, replaced by a newer link, or its "
            "owner was deactivated. Ask your admin for a new one (dfew-build people link NAME).")


def _log_in(request: Request, db: Session, token: str):
    person = person_for_token(db, token.strip())
    if person is None:
        return render(request, "login.html", {"error": BAD_LINK}, status_code=403)
    # A fresh session (and CSRF token) on every login: nothing carries over from before.
    request.session.clear()
    request.session.update({"pid": person.id, "key": session_key(person)})
    csrf_token(request)
    return RedirectResponse(HOME[person.role], status_code=303)


@router.get("/")
def home(person: Person = Depends(current_person)):
    return RedirectResponse(HOME[person.role], status_code=303)


@router.get("/login")
def login_page(request: Request):
    return render(request, "login.html")


@router.post("/login")
def login_form(request: Request, token: str = Form(""), db: Session = Depends(get_db)):
    return _log_in(request, db, token)


@router.get("/login/{token}")
def login_link(request: Request, token: str, db: Session = Depends(get_db)):
    # The access log shows this path redacted (security.RedactLoginTokens).
    return _log_in(request, db, token)


@router.post("/logout")
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
