"""The gate: a plain ASGI middleware in front of every route.

Before a route runs it
- finds the login session of the `dfew_session` cookie (one query, in a database thread),
- refuses a request body over the size limit (413) — by Content-Length at once, and by
  counting what arrives — so no upload can fill the disk or memory,
- refuses a POST without a live session (except the login form) before reading its body:
  an anonymous 1 GB upload is answered 401 without a byte of it being read,
- answers 503 with Retry-After when the database is busy, locked, full, read-only or down.
Around the response it
- stores the flash messages a route left (and clears the ones a page showed) in the
  session row, before the response starts, so a redirect's next page finds them,
- sets and deletes the session cookies (Secure when the server is reached over HTTPS),
- adds the security headers (and HSTS over HTTPS).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser

from annotation_server.database import DatabaseUnavailable, ServerBusy
from annotation_server.rendering import error_page
from annotation_server.security import ANON_COOKIE, HSTS, SECURITY_HEADERS
from dfew_build.logins import find_login, store_flashes

SESSION_COOKIE = "dfew_session"
MAX_BODY = 256 * 1024          # a form of this app is a few KB (hundreds of candidate ids)
MAX_ANONYMOUS_BODY = 4 * 1024  # the login form: a token and the CSRF field
ANONYMOUS_POSTS = ("/login",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ENDED = "Your session has ended. Open your login link again."
log = logging.getLogger("annotation_server")


class BodyTooLarge(HTTPException):
    """Raised while a body is read past the limit (FastAPI passes HTTPExceptions on)."""

    def __init__(self, limit: int):
        super().__init__(413, f"The request is larger than this server takes "
                              f"({limit // 1024} KB); nothing was stored.")


class Gate:
    def __init__(self, app, *, database, settings):
        self.app = app
        self.db = database
        self.settings = settings
        self.https = settings.https
        headers = dict(SECURITY_HEADERS)
        if self.https:
            headers["Strict-Transport-Security"] = HSTS
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in headers.items()]
        secure = "; Secure" if self.https else ""
        self.cookie_flags = "; HttpOnly; SameSite=Lax; Path=/" + secure

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        path = scope.get("path", "")
        method = scope["method"]
        headers = scope.get("headers") or []
        cookies = {}
        length = None
        for name, value in headers:
            if name == b"cookie":
                cookies = cookie_parser(value.decode("latin-1"))
            elif name == b"content-length":
                length = value
        login = None
        token = cookies.get(SESSION_COOKIE)
        try:
            if token and not path.startswith("/static/"):
                login = await self.db.read_now(find_login, token)
                if login is None:
                    state["clear_session"] = True
        except (ServerBusy, DatabaseUnavailable) as exc:
            return await self._unavailable(exc, scope, receive, send)
        state["login"] = login
        if method not in SAFE_METHODS:
            limit = MAX_BODY if login is not None else MAX_ANONYMOUS_BODY
            if login is None and path not in ANONYMOUS_POSTS:
                # Authentication before the body: nothing of it is read.
                return await error_page(401, ENDED)(scope, receive, send)
            if length is not None:
                if not length.isdigit() or len(length) > 15 or int(length) > limit:
                    return await self._too_large(limit, scope, receive, send)
            receive = _limited(receive, limit)

        started = False

        async def send_wrapper(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                await self._persist(state)
                out = list(message.get("headers", []))
                present = {k.lower() for k, _ in out}
                out += [(k, v) for k, v in self.headers if k not in present]
                out += self._cookies(state)
                message = {**message, "headers": out}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(MAX_BODY, scope, receive, send)
        except (ServerBusy, DatabaseUnavailable) as exc:
            if started:
                raise
            await self._unavailable(exc, scope, receive, send)

    async def _persist(self, state) -> None:
        login = state.get("login")
        new = state.get("new_flashes") or []
        shown = state.get("flashes_shown")
        if login is None or not (new or shown):
            return
        kept = new if shown else [*login.flashes, *new]
        try:
            await self.db.write_now(store_flashes, login.session_id, kept)
        except (ServerBusy, DatabaseUnavailable) as exc:  # a message is not worth a 503
            log.warning("flash messages not stored: %s", exc)

    def _cookies(self, state) -> list[tuple[bytes, bytes]]:
        out = []
        if state.get("set_session"):
            age = self.settings.session_max_age_s
            out.append(f"{SESSION_COOKIE}={state['set_session']}; Max-Age={age}"
                       f"{self.cookie_flags}")
            out.append(f"{ANON_COOKIE}=; Max-Age=0{self.cookie_flags}")
        elif state.get("clear_session"):
            out.append(f"{SESSION_COOKIE}=; Max-Age=0{self.cookie_flags}")
        if state.get("set_anon") and not state.get("set_session"):
            out.append(f"{ANON_COOKIE}={state['set_anon']}; Max-Age=86400{self.cookie_flags}")
        return [(b"set-cookie", c.encode("latin-1")) for c in out]

    async def _too_large(self, limit, scope, receive, send):
        response = error_page(413, f"The request is larger than this server takes "
                                   f"({limit // 1024} KB); nothing was stored.")
        response.headers["Connection"] = "close"
        await self._send_page(response, scope, receive, send)

    async def _unavailable(self, exc, scope, receive, send):
        reason = str(exc) if isinstance(exc, DatabaseUnavailable) else \
            "the server is very busy right now"
        log.warning("503 for %s %s: %s", scope["method"], scope.get("path"), reason)
        state = scope.get("state", {})
        retry_form = state.get("retry_form")
        what = ("Nothing was saved: " if scope["method"] not in SAFE_METHODS else "")
        message = (f"{what}{reason[0].upper()}{reason[1:]}. "
                   + ("Your answer is sent again by itself in a moment."
                      if retry_form else "Please try again in a moment."))
        response = error_page(503, message, retry_after=exc.retry_after,
                              retry_form=retry_form)
        await self._send_page(response, scope, receive, send)

    async def _send_page(self, response, scope, receive, send):
        async def with_headers(message):
            if message["type"] == "http.response.start":
                out = list(message.get("headers", []))
                out += [(k, v) for k, v in self.headers]
                message = {**message, "headers": out}
            await send(message)
        await response(scope, receive, with_headers)


def _limited(receive, limit: int):
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message
    return wrapped
