"""Alembic environment for the detections schema (``models.store.db``).

Used two ways: programmatically by :func:`models.store.db.create_schema` (the caller's connection is
passed in ``config.attributes["connection"]``), and from the command line with the project's
``alembic.ini`` (``alembic -x url=sqlite:///var/biodiv.db upgrade head``;
``alembic revision --autogenerate -m "..."`` after changing ``models/store/db.py``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from models.store.db import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    # batch mode lets ALTER TABLE work on SQLite (copy-and-move), and is a no-op elsewhere
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit SQL for a URL without connecting (``alembic upgrade head --sql``)."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the given connection, or one opened from ``-x url=`` / ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    run_offline()
else:
    run_online()
