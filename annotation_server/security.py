"""CSRF tokens, login-token redaction in logs, security headers, and the CSV convention
against formula injection.

CSRF: a form carries HMAC(server secret, session token) — or, before login, HMAC of a random
`dfew_anon` cookie — so it is checked without storing anything, and a token from another
session never matches.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

from fastapi import HTTPException, Request

CSRF_FIELD = "csrf_token"
ANON_COOKIE = "dfew_anon"
# Any path segment that is, or follows, /login/ (also `//login/TOKEN`, `/x/../login/TOKEN`,
# `/login/TOKEN/more` or a percent-encoded slash): the segment after it is a token.
_LOGIN_PATH = re.compile(r"(?i)((?:/|%2f)login(?:/|%2f)+)[^?\s\"/]+")
_TOKENISH = re.compile(r"[A-Za-z0-9_-]{40,}")
BAD_CSRF = ("This form has expired or did not come from this site. Go back, reload the page "
            "and try again.")


def _mac(secret: str, value: str) -> str:
    return hmac.new(secret.encode("utf-8"), value.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()[:43]


def csrf_token(request: Request) -> str:
    """This session's CSRF token, for hidden form fields. Before login it is bound to a
    random `dfew_anon` cookie, created here (and set on the response) when missing."""
    secret = request.app.state.settings.secret_key
    state = request.scope.setdefault("state", {})
    login = state.get("login")
    if login is not None:
        return _mac(secret, "session:" + login.token)
    anon = state.get("anon") or request.cookies.get(ANON_COOKIE)
    if not anon or len(anon) > 100:
        anon = secrets.token_urlsafe(24)
        state["set_anon"] = anon
    state["anon"] = anon
    return _mac(secret, "anon:" + anon)


def expected_csrf(request: Request) -> str | None:
    secret = request.app.state.settings.secret_key
    login = request.scope.get("state", {}).get("login")
    if login is not None:
        return _mac(secret, "session:" + login.token)
    anon = request.cookies.get(ANON_COOKIE)
    if not anon or len(anon) > 100:
        return None
    return _mac(secret, "anon:" + anon)


async def csrf_protect(request: Request) -> None:
    """Dependency on every router: a form POST must carry this session's CSRF token. The
    body was read already (FastAPI reads forms first), within the limits of the gate."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = expected_csrf(request)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode("utf-8", "surrogatepass"), expected.encode("ascii")):
        raise HTTPException(403, BAD_CSRF)


def redact_path(path: str) -> str:
    """A request path (or a log line holding one) without login tokens: whatever follows a
    /login/ segment anywhere, and any long token-like run of characters."""
    path = _LOGIN_PATH.sub(r"\1[redacted]", path)
    return _TOKENISH.sub("[redacted]", path)


class RedactLoginTokens(logging.Filter):
    """Keeps login tokens out of uvicorn's logs (the access log's 3rd argument is the path;
    error messages may quote it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "fastapi"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLoginTokens) for f in logger.filters):
            logger.addFilter(RedactLoginTokens())


SECURITY_HEADERS = {
    # No page may be framed, sniffed, or leak its URL to other sites.
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "media-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                "form-action 'self'; base-uri 'none'"),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=31536000; includeSubDomains"
