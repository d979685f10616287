"""Sign-in for the pages: an API key in, a signed HttpOnly SameSite session cookie out; CSRF on every form;
a revoked key ends its sessions; no open redirect."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from models.store.keys import create_key, revoke_key
from serve.app import create_app
from serve.pages.account import safe_next
from serve.web_session import SESSION_COOKIE, session_secret
from tests.serve_helpers import seed_database


@pytest.fixture()
def web(settings, db):
    seed_database(settings.database_url)
    with TestClient(create_app(settings)) as c:
        yield c, db


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(c, token: str, next_: str = "/"):
    csrf = _csrf(c.get("/signin").text)
    return c.post("/signin", data={"api_key": token, "csrf_token": csrf, "next": next_}, follow_redirects=False)


def test_sign_in_sets_a_signed_httponly_samesite_cookie_and_shows_the_reviewer_view(web):
    c, db = web
    assert "Public view" in c.get("/").text
    key = create_key(db, "reviewer", "Li Wei")
    r = _sign_in(c, key.token, "/detections?stationID=S1")
    assert r.status_code == 303 and r.headers["location"] == "/detections?stationID=S1"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert key.token not in cookie  # only the key ID is in the session
    page = c.get("/").text
    assert "Signed in as Li Wei (reviewer)" in page and "Public view" not in page
    assert 'href="/review?lang=en"' in page  # reviewer links appear in the navigation


def test_wrong_key_is_refused_and_a_tampered_cookie_is_public(web):
    c, db = web
    r = _sign_in(c, "biodiv_000000000000_" + "A" * 43)
    assert r.status_code == 401 and "unknown or revoked" in r.text
    key = create_key(db, "reviewer", "Li Wei")
    _sign_in(c, key.token)
    value = c.cookies.get(SESSION_COOKIE)
    c.cookies.clear()
    c.cookies.set(SESSION_COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert "Public view" in c.get("/").text


def test_csrf_token_is_required_on_sign_in_and_sign_out(web):
    c, db = web
    key = create_key(db, "admin", "Admin")
    c.get("/signin")
    r = c.post("/signin", data={"api_key": key.token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 403 and r.json()["detail"]["reason"] == "csrf_failed"
    r = c.post("/signin", data={"api_key": key.token, "csrf_token": "forged", "next": "/"}, follow_redirects=False)
    assert r.status_code == 403
    assert _sign_in(c, key.token).status_code == 303
    assert c.post("/signout", data={}, follow_redirects=False).status_code == 403
    assert "Signed in as Admin" in c.get("/").text
    r = c.post("/signout", data={"csrf_token": _csrf(c.get("/").text)}, follow_redirects=False)
    assert r.status_code == 303 and "Public view" in c.get("/").text


def test_revoking_the_key_ends_its_sessions(web):
    c, db = web
    key = create_key(db, "reviewer", "Li Wei")
    _sign_in(c, key.token)
    assert "Signed in as Li Wei" in c.get("/").text
    revoke_key(db, key.key_id)
    assert "Public view" in c.get("/").text


@pytest.mark.parametrize("target,expected", [("/detections?a=1", "/detections?a=1"), ("//evil.example/x", "/"),
                                             ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/")])
def test_sign_in_never_redirects_to_another_site(target, expected):
    assert safe_next(target) == expected


def test_session_secret_is_created_once_and_shared(tmp_path):
    path = tmp_path / "k" / "session.key"
    first = session_secret(None, path)
    assert len(first) == 64 and session_secret(None, path) == first
    assert (path.stat().st_mode & 0o777) == 0o600
    assert session_secret("configured", path) == "configured"
