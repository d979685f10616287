"""acoustic indices per recording segment; channel of audio detections and events

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = ("audio",)
depends_on = None

_INDICES = ("ACI", "NDSI", "ADI", "AEI", "BI", "H", "Ht", "Hf")


def upgrade() -> None:
    op.create_table(
        "acoustic_indices",
        sa.Column("indexID", sa.String(length=64), nullable=False),
        sa.Column("mediaID", sa.String(length=64), nullable=False),
        sa.Column("deploymentID", sa.String(length=128), nullable=False),
        sa.Column("stationID", sa.String(length=64), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("segmentStart", sa.String(length=40), nullable=False),
        sa.Column("segmentStartUTC", sa.DateTime(), nullable=True),
        sa.Column("sample_rate_hz", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in _INDICES),
        sa.ForeignKeyConstraint(["mediaID"], ["media.mediaID"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("indexID"),
    )
    with op.batch_alter_table("acoustic_indices", schema=None) as batch_op:
        for col in ("mediaID", "deploymentID", "stationID", "segmentStartUTC"):
            batch_op.create_index(batch_op.f(f"ix_acoustic_indices_{col}"), [col], unique=False)
    for table in ("detections", "events"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("channel", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("events", "detections"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("channel")
    op.drop_table("acoustic_indices")
