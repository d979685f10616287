"""API keys: creation, verification and revocation; only a SHA-256 digest of each secret is stored.

A key reads ``biodiv_<key_id>_<secret>``: ``key_id`` (12 hex digits, public, the row's primary key)
names the key in logs and listings; ``secret`` is 32 random bytes from :mod:`secrets` (43 URL-safe
base64 characters), shown once at creation. Because the secret has 256 bits of entropy, a single
SHA-256 is a sufficient verifier (slow password hashes such as argon2 defend low-entropy passwords;
cf. the GitHub/Stripe token designs and OWASP's API key guidance); the comparison is constant-time
(:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.store.db import ApiKey

PREFIX = "biodiv"
#: Roles a key can carry (``public`` needs no key), lowest first.
KEY_ROLES = ("uploader", "reviewer", "admin")
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
#: A key's display name, which is also the ``classifiedBy`` of the reviews made with it: 1 to 128 characters,
#: starting with a letter or digit of any script (Chinese names included), then letters, digits, spaces and
#: ``. _ - ' ( ) @ / & ,``; no control characters, so no name can start a spreadsheet formula in an export
#: (OWASP CSV Injection) or break a log line.
KEY_NAME = re.compile(r"[^\W_][\w .'()@/&,-]{0,127}")


class ApiKeyError(ValueError):
    """A key that cannot be created or revoked (unknown role, unknown key ID)."""


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: ``token`` is the full secret string, returned once and never stored."""

    key_id: str
    name: str
    role: str
    token: str
    created: datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def validate_key_name(name: str) -> str:
    """``name`` trimmed, when it is a valid key (and reviewer) name (:data:`KEY_NAME`).

    Raises:
        ApiKeyError: empty, longer than 128 characters, or starting with anything but a letter or digit
            (e.g. ``=``, ``+``, ``-``, ``@``), or holding a control character or other symbol.
    """
    name = name.strip()
    if not name or len(name) > 128:
        raise ApiKeyError("a key needs a name of 1 to 128 characters")
    if KEY_NAME.fullmatch(name) is None:
        raise ApiKeyError("a key name starts with a letter or digit and holds only letters, digits, spaces "
                          "and . _ - ' ( ) @ / & ,")
    return name


def create_key(session: Session, role: str, name: str) -> NewKey:
    """Create and commit a key with ``role`` (one of :data:`KEY_ROLES`) and a display ``name``.

    Raises:
        ApiKeyError: unknown role, or a name that does not match :data:`KEY_NAME` (after trimming
            surrounding whitespace).
    """
    if role not in KEY_ROLES:
        raise ApiKeyError(f"unknown role {role!r}; expected one of {', '.join(KEY_ROLES)}")
    name = validate_key_name(name)
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = ApiKey(key_id=key_id, name=name, role=role, secret_sha256=_digest(secret),
                 created=datetime.now(UTC).replace(tzinfo=None))
    session.add(row)
    session.commit()
    return NewKey(key_id, name, role, f"{PREFIX}_{key_id}_{secret}", row.created)


def verify_key(session: Session, token: str) -> ApiKey | None:
    """The active key row that ``token`` proves, or None (malformed, unknown, wrong secret, revoked)."""
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    row = session.get(ApiKey, match.group(1))
    if row is None or row.revoked is not None:
        return None
    return row if hmac.compare_digest(row.secret_sha256, _digest(match.group(2))) else None


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Mark a key revoked (idempotent) and commit; the row is kept for the audit trail.

    Raises:
        ApiKeyError: no key has this ID.
    """
    row = session.get(ApiKey, key_id)
    if row is None:
        raise ApiKeyError(f"no API key with ID {key_id!r}")
    if row.revoked is None:
        row.revoked = datetime.now(UTC).replace(tzinfo=None)
        session.commit()
    return row


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, newest first (secrets are not stored, so none is returned)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created.desc(), ApiKey.key_id)))
