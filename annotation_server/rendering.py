"""Templates (base.html + partials) and the context every page gets.

Templates are compiled once and cached (no file checks per request). Flash messages come
from the login session in the database (loaded with it by the gate) and are cleared there
once a page has shown them.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from annotation_server.security import CSRF_FIELD, csrf_token
from dfew_build.emotions import EMOTIONS

PACKAGE_DIR = Path(__file__).resolve().parent
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(PACKAGE_DIR / "templates")),
    autoescape=jinja2.select_autoescape(("html", "xml")), auto_reload=False,
    cache_size=-1)
environment.globals.update(emotions=EMOTIONS, csrf_field=CSRF_FIELD)

STATUS_TITLES = {401: "Please log in", 403: "Not allowed", 404: "Not found",
                 413: "Too large", 422: "Check the form", 503: "Please try again shortly"}


def render(request: Request, name: str, context: dict | None = None, status_code: int = 200,
           person=None, headers: dict | None = None) -> HTMLResponse:
    state = request.scope.setdefault("state", {})
    login = state.get("login")
    flashes = list(login.flashes) if login is not None and not state.get("flashes_shown") \
        else []
    if flashes:
        state["flashes_shown"] = True  # the gate clears them in the database
    flashes += state.pop("new_flashes", [])  # set while handling this very request
    if person is None:  # error pages too keep the logged-in person's navigation
        person = login
    page = {"request": request, "person": person, "flashes": flashes,
            "csrf_token": csrf_token(request)}
    page.update(context or {})
    body = environment.get_template(name).render(page)
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status: int, message: str, *, person=None, retry_after: int | None = None,
               retry_form: dict | None = None) -> HTMLResponse:
    """A stand-alone error page (no request needed: the gate answers with it before any
    route runs). retry_form: {'action': path, 'fields': {...}} re-posts a form by itself
    after retry_after seconds (static/retry.js)."""
    body = environment.get_template("error.html").render(
        status=status, title=STATUS_TITLES.get(status, "Something went wrong"),
        message=message, person=person, flashes=[], csrf_token="", retry_after=retry_after,
        retry_form=retry_form)
    headers = {"Cache-Control": "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return HTMLResponse(body, status_code=status, headers=headers)
