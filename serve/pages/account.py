"""Sign-in and sign-out pages (``/signin``, ``/signout``): an API key in, a signed session cookie out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from models.store.keys import verify_key
from serve.auth import Principal, Role
from serve.pages.common import language, render
from serve.web_session import CsrfDep, ViewerDep, sign_in, sign_out

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server (``/...``, not ``//host`` or a URL), else ``/``: the sign-in
    form never redirects to another site (OWASP unvalidated redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, viewer: ViewerDep, lang: str | None = None, next: str | None = None,
                role: str | None = None) -> HTMLResponse:
    """The sign-in form; ``next`` is where to go afterwards, ``role`` the role the previous page needed."""
    lang = language(request, lang)
    return render(request, "signin.html", lang, viewer, next=safe_next(next), needed=role if role in Role.__members__
                  else None, error=None)


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, _: CsrfDep, api_key: Annotated[str, Form(max_length=200)],
           next: Annotated[str, Form(max_length=2048)] = "/", lang: Annotated[str | None, Form()] = None):
    """Verify the key and start a session (303 to ``next``); a wrong key gets the form again with 401."""
    lang = language(request, lang)
    with request.app.state.sessions() as session:
        row = verify_key(session, api_key.strip())
    if row is None:
        return render(request, "signin.html", lang, Principal(), next=safe_next(next), needed=None,
                      error="bad_key", status_code=401)
    sign_in(request, Principal(role=Role[row.role], key_id=row.key_id, name=row.name))
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/signout")
def signout(request: Request, _: CsrfDep) -> RedirectResponse:
    """End the session and go back to the public overview."""
    sign_out(request)
    return RedirectResponse("/", status_code=303)
