"""alerts: status (open / withdrawn), when and why a review withdrew an alert

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="open"))
        batch.add_column(sa.Column("withdrawn", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("withdrawnReason", sa.String(length=512), nullable=False, server_default=""))
    op.create_index("ix_alerts_status", "alerts", ["status"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("withdrawnReason")
        batch.drop_column("withdrawn")
        batch.drop_column("status")
