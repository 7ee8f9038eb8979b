"""The app factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from annotation_server.database import Database, DatabaseUnavailable, ServerBusy
from annotation_server.deps import LoginRequired
from annotation_server.gate import ENDED, Gate
from annotation_server.rendering import PACKAGE_DIR, error_page, render
from annotation_server.security import install_log_redaction
from annotation_server.settings import Settings

log = logging.getLogger("annotation_server")


def create_app(settings: Settings, *, openapi: bool = False) -> FastAPI:
    """The annotation server. openapi=True publishes /openapi.json (tests fuzz it)."""
    from annotation_server.agreement import AgreementCache
    from annotation_server.annotating import QueueCache
    from annotation_server.routes import (admin, annotate, auth, extract, guidelines, media,
                                          practice)

    install_log_redaction()
    if settings.base_url.lower().startswith("http://") and settings.secure_cookies:
        log.warning("--secure-cookies is set but [server] base_url is http://: browsers "
                    "will not send the Secure cookie back over plain HTTP")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.db.dispose()
        app.state.agreement.dispose()

    app = FastAPI(title="dfew-build annotation", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json" if openapi else None, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = Database(settings.database_url, wait_s=settings.db_wait_s,
                            sqlite_busy_ms=settings.sqlite_busy_ms)
    app.state.engine = app.state.db.engine
    app.state.queues = QueueCache()
    app.state.agreement = AgreementCache(settings.database_url,
                                         wait_s=settings.agreement_wait_s)
    app.add_middleware(Gate, database=app.state.db, settings=settings)

    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    for module in (auth, annotate, extract, admin, media, practice, guidelines):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired):
        if request.method in ("GET", "HEAD"):
            return RedirectResponse("/login", status_code=303)
        return render(request, "error.html", {"status": 401, "message": ENDED},
                      status_code=401)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if "application/json" in request.headers.get("accept", ""):  # the pages' fetch
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        response = render(request, "error.html", {"status": exc.status_code,
                                                  "message": exc.detail},
                          status_code=exc.status_code, headers=exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                             for e in exc.errors())
        return render(request, "error.html", {"status": 422,
                      "message": f"The form was not filled in correctly ({problems})."},
                      status_code=422)

    async def unavailable(request: Request, exc):
        reason = str(exc) if isinstance(exc, DatabaseUnavailable) else \
            "the server is very busy right now"
        log.warning("503 for %s %s: %s", request.method, request.url.path, reason)
        retry_form = request.scope.get("state", {}).get("retry_form")
        saved = "Nothing was saved: " if request.method not in ("GET", "HEAD") else ""
        message = (f"{saved}{reason[0].upper()}{reason[1:]}. "
                   + ("Your answer is sent again by itself in a moment." if retry_form
                      else "Please try again in a moment."))
        return error_page(503, message, retry_after=exc.retry_after, retry_form=retry_form)

    app.add_exception_handler(ServerBusy, unavailable)
    app.add_exception_handler(DatabaseUnavailable, unavailable)
    return app
