"""Who is calling: roles and the request principal (the contract every router uses).

Roles are ordered: ``public`` < ``uploader`` < ``reviewer`` < ``admin``. A request without an API key
is ``public``. Routers that need more declare it with ``Depends(require(Role.uploader))``; routers
whose output depends on the caller (sensitive-species coordinates, media of people or vehicles) take
``PrincipalDep`` and check ``principal.at_least(Role.reviewer)``.

A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` (keys and their hashed
storage: ``models.store.keys``). A request that sends a key which is malformed, unknown or revoked gets 401
on every route (it is never silently served as public); a valid key with too low a role gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from models.store.keys import verify_key


class Role(IntEnum):
    """Access roles, ordered so that a higher role includes every lower one."""

    public = 0
    uploader = 1
    reviewer = 2
    admin = 3


@dataclass(frozen=True)
class Principal:
    """The caller of a request: its role and, when authenticated, the API key's public ID and name."""

    role: Role = Role.public
    key_id: str | None = None
    name: str = "public"

    def at_least(self, role: Role) -> bool:
        """True when this principal holds ``role`` or a higher one."""
        return self.role >= role


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="API key (``biodiv_<id>_<secret>``); omit for public reads")
_bearer = HTTPBearer(auto_error=False, description="the same API key as a Bearer token")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "ApiKey"})


def get_principal(request: Request,
                  api_key: Annotated[str | None, Security(_api_key_header)] = None,
                  bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Principal:
    """The request's principal: public without a key, else the verified key's role and name.

    Raises:
        HTTPException: 401 when a key is sent but is malformed, unknown, revoked or has a wrong
            secret, or when both headers carry different keys.
    """
    token = api_key or (bearer.credentials if bearer is not None else None)
    if api_key and bearer is not None and bearer.credentials != api_key:
        raise _unauthorized("X-API-Key and Authorization carry different keys")
    if not token:
        return Principal()
    with request.app.state.sessions() as session:
        row = verify_key(session, token)
    if row is None:
        raise _unauthorized("invalid or revoked API key")
    return Principal(role=Role[row.role], key_id=row.key_id, name=row.name)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: Role):
    """A dependency that answers 401 (no key) or 403 (key with a lower role) unless the caller has ``role``."""

    def dependency(principal: PrincipalDep) -> Principal:
        if principal.at_least(role):
            return principal
        if principal.key_id is None:
            raise _unauthorized("an API key is required")
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {role.name} required")

    return dependency
