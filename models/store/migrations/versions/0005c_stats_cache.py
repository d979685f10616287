"""stats_cache: computed station statistics shared by every service worker

Revision ID: 0005c
Revises: 0005b
Create Date: 2026-11-30 08:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005c"
down_revision = "0005b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_cache",
        sa.Column("cacheKey", sa.String(length=64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("computedUTC", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cacheKey"),
    )


def downgrade() -> None:
    op.drop_table("stats_cache")
