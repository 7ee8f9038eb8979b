"""Templates (base.html + partials) and the context every page gets."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from annotation_server.security import CSRF_FIELD, csrf_token
from dfew_build.emotions import EMOTIONS

PACKAGE_DIR = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
templates.env.globals.update(emotions=EMOTIONS, csrf_field=CSRF_FIELD)


def render(request: Request, name: str, context: dict | None = None, status_code: int = 200,
           person=None):
    flashes = request.session.pop("flash", []) if "session" in request.scope else []
    page = {"person": person, "flashes": flashes,
            "csrf_token": csrf_token(request) if "session" in request.scope else ""}
    page.update(context or {})
    response = templates.TemplateResponse(request, name, page, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
