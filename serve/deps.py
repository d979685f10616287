"""Typed request dependencies: settings, a database session, the catalogue and the classifiers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from models.taxonomy.catalogue import Catalogue
from serve.classifiers import Classifiers
from serve.settings import Settings


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One SQLAlchemy session per request, closed afterwards (rolled back if not committed)."""
    with request.app.state.sessions() as session:
        yield session


def get_catalogue(request: Request) -> Catalogue:
    """The species catalogue loaded at startup."""
    return request.app.state.catalogue


def get_classifiers(request: Request) -> Classifiers:
    """The classifiers loaded at startup."""
    return request.app.state.classifiers


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
ClassifiersDep = Annotated[Classifiers, Depends(get_classifiers)]
