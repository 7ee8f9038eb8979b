"""Login by link, logout, and the home page that sends each role to its own page.

Opening a login link while logged in as somebody else does not switch silently (a link
from someone else would otherwise put you in their account: login CSRF); a page asks first
and switching takes a POST with this session's CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from annotation_server.deps import current_person, get_db
from annotation_server.rendering import render
from annotation_server.security import csrf_protect
from dfew_build.logins import Login, end_session, log_in
from dfew_build.people import person_for_token

router = APIRouter(dependencies=[Depends(csrf_protect)])

HOME = {"annotator": "/annotate", "extractor": "/extract", "admin": "/admin"}
BAD_LINK = ("This login link is not valid: it was mistyped, replaced by a newer link, has "
            "expired, or its owner was deactivated. Ask your admin for a new one "
            "(dfew-build people link NAME).")
MAX_TOKEN = 200


def _who(db_session, token: str):
    person = person_for_token(db_session, token.strip()[:MAX_TOKEN + 1])
    return None if person is None else (person.id, person.name, person.role)


async def _log_in(request: Request, token: str):
    login = request.scope["state"].get("login")
    settings = request.app.state.settings
    started = await get_db(request).write_now(
        log_in, token.strip()[:MAX_TOKEN + 1], settings.session_max_age_s,
        login.session_id if login is not None else None)
    if started is None:
        return render(request, "login.html", {"error": BAD_LINK}, status_code=403,
                      person=login)
    cookie, role = started
    request.scope["state"].update(set_session=cookie, login=None)
    return RedirectResponse(HOME[role], status_code=303)


@router.get("/")
async def home(person: Login = Depends(current_person)):
    return RedirectResponse(HOME[person.role], status_code=303)


@router.get("/login")
async def login_page(request: Request):
    return render(request, "login.html", person=request.scope["state"].get("login"))


@router.post("/login")
async def login_form(request: Request, token: str = Form("", max_length=1000)):
    return await _log_in(request, token)


@router.get("/login/{token}")
async def login_link(request: Request, token: str):
    # The access log shows this path redacted (security.RedactLoginTokens).
    login = request.scope["state"].get("login")
    if login is None:
        return await _log_in(request, token)
    who = await get_db(request).run(_who, token)
    if who is None:
        return render(request, "login.html", {"error": BAD_LINK}, status_code=403,
                      person=login)
    person_id, name, role = who
    if person_id == login.person_id:
        return RedirectResponse(HOME[login.role], status_code=303)
    other = {"name": name, "role": role}
    return render(request, "switch.html", {"token": token, "other": other}, person=login)


@router.post("/logout")
async def logout(request: Request):
    login = request.scope["state"].get("login")
    if login is not None:
        await get_db(request).run(end_session, login.session_id, write=True)
    request.scope["state"].update(clear_session=True, login=None)
    return RedirectResponse("/login", status_code=303)
