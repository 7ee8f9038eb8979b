"""The app factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from annotation_server.deps import LoginRequired
from annotation_server.rendering import PACKAGE_DIR, render
from annotation_server.security import SECURITY_HEADERS, install_log_redaction
from annotation_server.settings import Settings
from dfew_build.db.session import make_engine, make_session_factory

SESSION_COOKIE = "dfew_session"


def create_app(settings: Settings) -> FastAPI:
    from annotation_server.routes import admin, annotate, auth, extract, media

    install_log_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.engine.dispose()

    app = FastAPI(title="dfew-build annotation", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.sessions = make_session_factory(app.state.engine)

    # Signed (itsdangerous), HttpOnly, SameSite=Lax; Secure when served over HTTPS.
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key,
                       session_cookie=SESSION_COOKIE, max_age=settings.session_max_age_s,
                       same_site="lax", https_only=settings.secure_cookies)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    for module in (auth, annotate, extract, admin, media):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired):
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return render(request, "error.html", {"status": 401,
                      "message": "Your session has ended. Open your login link again."},
                      status_code=401)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return render(request, "error.html", {"status": exc.status_code,
                                              "message": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                             for e in exc.errors())
        return render(request, "error.html", {"status": 422,
                      "message": f"The form was not filled in correctly ({problems})."},
                      status_code=422)

    return app
