"""Browser sessions for the pages: sign-in with an API key, a signed session cookie, CSRF tokens.

A person signs in once with the API key they were given (``/signin``); the key is verified
(:func:`models.store.keys.verify_key`) and only its public ``key_id`` goes into the session. The session
is Starlette's ``SessionMiddleware``: a cookie signed with ``itsdangerous`` (HMAC-SHA1 over a timestamped
payload, so it cannot be forged or altered), ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when
``Settings.secure_cookies`` is on, expiring after ``Settings.session_max_age_s``. Every request re-reads the
key's row, so a revoked key ends its sessions at once.

CSRF: the session also holds a random token (:func:`csrf_token`); every form that changes something sends it
as the ``csrf_token`` field or the ``X-CSRF-Token`` header (htmx requests), and :func:`require_csrf` compares
it in constant time (OWASP's synchronizer-token pattern). Requests authenticated by an API key header are
not cookie-based and need no token.

The signing secret is ``Settings.session_secret`` or, when unset, a random one kept in
``Settings.session_key_file`` (created once with mode 0600, shared by all workers of one installation).
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from models.store.db import ApiKey
from serve.auth import Principal, Role, get_principal

SESSION_COOKIE = "biodiv_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def session_secret(configured: str | None, key_file: Path) -> str:
    """The cookie-signing secret: ``configured`` when given, else the content of ``key_file``, created with
    32 random bytes (hex) and mode 0600 when missing. Several workers starting at once agree: the first
    creates the file (``O_EXCL``), the others read it.

    Raises:
        OSError: the file can be neither created nor read.
    """
    if configured:
        return configured
    key_file = Path(key_file)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it right now
            value = key_file.read_text().strip()
            if value:
                return value
            import time

            time.sleep(0.02)
        raise OSError(f"session key file {key_file} is empty") from None
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _session(request: Request) -> dict:
    return request.session if "session" in request.scope else {}


def session_principal(request: Request) -> Principal:
    """The principal of the signed session cookie: the key's role and name while the key exists and is not
    revoked, else the public (and the stale session is cleared)."""
    data = _session(request)
    key_id = data.get("key_id")
    if not key_id:
        return Principal()
    with request.app.state.sessions() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_id == str(key_id)))
    if row is None or row.revoked is not None:
        data.pop("key_id", None)
        return Principal()
    return Principal(role=Role[row.role], key_id=row.key_id, name=row.name)


def get_viewer(request: Request,
               api_key: Annotated[str | None, Security(_api_key_header)] = None,
               bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Principal:
    """Who is looking at a page or its media: an API key header (as for the API), else the session cookie,
    else the public.

    Raises:
        HTTPException: 401 for a malformed, unknown or revoked key header (never served as public).
    """
    header = get_principal(request, api_key, bearer)
    if header.key_id is not None:
        return header
    return session_principal(request)


ViewerDep = Annotated[Principal, Depends(get_viewer)]


def sign_in(request: Request, principal: Principal) -> None:
    """Start a session for ``principal`` (a verified key): the old session's content is dropped and a new CSRF
    token is drawn."""
    data = request.session
    data.clear()
    data["key_id"] = principal.key_id
    data["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    """End the session (the cookie is cleared in the response)."""
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, drawn on first use (so anonymous forms such as sign-in have one too)."""
    if "session" not in request.scope:
        return ""
    data = request.session
    if not data.get("csrf"):
        data["csrf"] = secrets.token_urlsafe(32)
    return data["csrf"]


async def require_csrf(request: Request) -> None:
    """Dependency of every state-changing page route: the token of the form field ``csrf_token`` or the header
    ``X-CSRF-Token`` must equal the session's. Requests that carry an API key header are exempt (no cookie
    involved).

    Raises:
        HTTPException: 403 when the token is missing or wrong.
    """
    if request.headers.get("x-api-key") or request.headers.get("authorization"):
        return
    expected = _session(request).get("csrf", "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                                        "multipart/form-data")):
        form = await request.form()
        sent = str(form.get(CSRF_FIELD, ""))
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise HTTPException(status.HTTP_403_FORBIDDEN, {"reason": "csrf_failed",
                                                        "message": "missing or wrong CSRF token; reload the page"})


CsrfDep = Annotated[None, Depends(require_csrf)]


class SignInRequired(Exception):
    """A page needs a higher role than the viewer's: answered by :func:`sign_in_required` (a redirect to the
    sign-in page for a GET, 403 otherwise)."""

    def __init__(self, role: Role) -> None:
        super().__init__(role.name)
        self.role = role


def needs(role: Role):
    """Page dependency: the viewer, when it holds ``role``; else :class:`SignInRequired`."""

    def dependency(viewer: ViewerDep) -> Principal:
        if not viewer.at_least(role):
            raise SignInRequired(role)
        return viewer

    return dependency


def sign_in_required(request: Request, exc: SignInRequired):
    """Exception handler for :class:`SignInRequired`: 303 to ``/signin?next=<this page>`` for GET/HEAD, else 403."""
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}&role={exc.role.name}", status_code=303)
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": {"reason": "forbidden", "message": f"role {exc.role.name} required"}},
                        status_code=403)


def install(app, settings) -> None:
    """Add the session middleware (signed cookie ``biodiv_session``) and the sign-in redirect to ``app``."""
    from starlette.middleware.sessions import SessionMiddleware

    secret = session_secret(settings.session_secret.get_secret_value() if settings.session_secret else None,
                            settings.session_key_file)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=settings.session_max_age_s, same_site="lax", https_only=settings.secure_cookies)
    app.add_exception_handler(SignInRequired, sign_in_required)
