"""Who is calling: roles and the request principal (the contract every router uses).

Roles are ordered: ``public`` < ``uploader`` < ``reviewer`` < ``admin``. A request without an API key
is ``public``. Routers that need more declare it with ``Depends(require(Role.uploader))``; routers
whose output depends on the caller (sensitive-species coordinates, media of people or vehicles) take
``PrincipalDep`` and check ``principal.at_least(Role.reviewer)``.

API-key storage and verification are filled in by the access work (issue 5); until then every
request is ``public`` and any role requirement above ``public`` answers 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated

from fastapi import Depends, HTTPException, status


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


def get_principal() -> Principal:
    """The request's principal (public until API keys are implemented)."""
    return Principal()


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: Role):
    """A dependency that answers 401 (no key) or 403 (key with a lower role) unless the caller has ``role``."""

    def dependency(principal: PrincipalDep) -> Principal:
        if principal.at_least(role):
            return principal
        if principal.key_id is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is required",
                                headers={"WWW-Authenticate": "ApiKey"})
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {role.name} required")

    return dependency
