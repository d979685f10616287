"""API keys: ``/v1/keys`` (admin: create, list, revoke) and ``/v1/whoami`` (anyone)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from models.store.db import ApiKey
from models.store.keys import ApiKeyError, create_key, list_keys, revoke_key
from serve.access_schemas import KeyIn, KeyOut, NewKeyOut, WhoAmIOut
from serve.auth import Principal, PrincipalDep, Role, require
from serve.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["access"])
AdminDep = Annotated[Principal, Depends(require(Role.admin))]
_AUTH = {401: {"description": "No API key, or an invalid or revoked one."},
         403: {"description": "The key's role is not admin."}}


@router.get("/whoami", response_model=WhoAmIOut, responses={401: _AUTH[401]})
def whoami(principal: PrincipalDep) -> WhoAmIOut:
    """The caller's role and key (``public`` without a key)."""
    return WhoAmIOut(role=principal.role.name, key_id=principal.key_id, name=principal.name)


@router.post("/keys", status_code=201, response_model=NewKeyOut, responses=_AUTH)
def create(body: KeyIn, session: SessionDep, _: AdminDep) -> NewKeyOut:
    """Create a key; the reply's ``token`` is the only time the secret is shown (only its hash is stored)."""
    try:
        new = create_key(session, body.role, body.name)
    except ApiKeyError as exc:
        raise HTTPException(422, str(exc)) from exc
    return NewKeyOut(key_id=new.key_id, name=new.name, role=new.role, created=new.created, revoked=None,
                     token=new.token)


@router.get("/keys", response_model=list[KeyOut], responses=_AUTH)
def listing(session: SessionDep, _: AdminDep) -> list[ApiKey]:
    """Every key, newest first, without secrets."""
    return list_keys(session)


@router.delete("/keys/{key_id}", response_model=KeyOut,
               responses={**_AUTH, 404: {"description": "No key with this ID."}})
def revoke(key_id: Annotated[str, Path(max_length=32)], session: SessionDep, _: AdminDep) -> ApiKey:
    """Revoke a key (idempotent): requests with it get 401 from now on; the row is kept for audit."""
    try:
        return revoke_key(session, key_id)
    except ApiKeyError as exc:
        raise HTTPException(404, str(exc)) from exc
