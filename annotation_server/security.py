"""CSRF tokens, login-token redaction in logs, and security headers."""

from __future__ import annotations

import hmac
import logging
import re
import secrets

from fastapi import HTTPException, Request

CSRF_FIELD = "csrf_token"
_LOGIN_PATH = re.compile(r"^/login/[^?\s]*")


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use), for hidden form fields."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """Dependency on every router: a form POST must carry this session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.session.get("csrf")
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form has expired or did not come from this site. "
                                 "Go back, reload the page and try again.")


def redact_path(path: str) -> str:
    return _LOGIN_PATH.sub("/login/[redacted]", path)


class RedactLoginTokens(logging.Filter):
    """Keeps login tokens out of uvicorn's access log (its 3rd argument is the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        elif isinstance(record.msg, str) and "/login/" in record.msg:
            record.msg = redact_path(record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error"):
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
