"""alerts: the workflow open -> acknowledged -> resolved, with who and when

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("acknowledged", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("acknowledgedBy", sa.String(length=256), nullable=False, server_default=""))
        batch.add_column(sa.Column("resolved", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("resolvedBy", sa.String(length=256), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("resolvedBy")
        batch.drop_column("resolved")
        batch.drop_column("acknowledgedBy")
        batch.drop_column("acknowledged")
