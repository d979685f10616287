"""event-level observations (camera-trap sequences, acoustic detection events)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 08:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("eventID", sa.String(length=64), nullable=False),
        sa.Column("deploymentID", sa.String(length=128), nullable=False),
        sa.Column("stationID", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("mediaID", sa.String(length=64), nullable=True),
        sa.Column("mediaCount", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.Column("end_s", sa.Float(), nullable=True),
        sa.Column("eventStart", sa.String(length=40), nullable=False),
        sa.Column("eventEnd", sa.String(length=40), nullable=False),
        sa.Column("eventStartUTC", sa.DateTime(), nullable=True),
        sa.Column("eventEndUTC", sa.DateTime(), nullable=True),
        sa.Column("observationType", sa.String(length=16), nullable=False),
        sa.Column("scientificName", sa.String(length=256), nullable=True),
        sa.Column("classificationProbability", sa.Float(), nullable=False),
        sa.Column("isInvasive", sa.Boolean(), nullable=False),
        sa.Column("topK", sa.JSON(), nullable=False),
        sa.Column("modelVersion", sa.String(length=128), nullable=False),
        sa.Column("classificationMethod", sa.String(length=16), nullable=False),
        sa.Column("classifiedBy", sa.String(length=256), nullable=False),
        sa.Column("classificationTimestamp", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("eventID"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        for col in ("deploymentID", "stationID", "modality", "mediaID", "eventStartUTC", "scientificName",
                    "isInvasive", "modelVersion"):
            batch_op.create_index(batch_op.f(f"ix_events_{col}"), [col], unique=False)
    with op.batch_alter_table("detections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("eventID", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_detections_eventID"), ["eventID"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("detections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_detections_eventID"))
        batch_op.drop_column("eventID")
    op.drop_table("events")
