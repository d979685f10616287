"""access: API keys, background jobs, detection reviews, invasive alerts (outbox)

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-30 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "jobs",
        sa.Column("jobID", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("deploymentID", sa.String(length=128), nullable=False),
        sa.Column("fileName", sa.String(length=512), nullable=False),
        sa.Column("stagedPath", sa.String(length=1024), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("mediaID", sa.String(length=64), nullable=True),
        sa.Column("detections", sa.Integer(), nullable=True),
        sa.Column("submittedBy", sa.String(length=256), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=True),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("jobID"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_sha256"), ["sha256"], unique=False)
    op.create_table(
        "detection_reviews",
        sa.Column("reviewID", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("detectionID", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("observationType", sa.String(length=16), nullable=False),
        sa.Column("scientificName", sa.String(length=256), nullable=True),
        sa.Column("classifiedBy", sa.String(length=256), nullable=False),
        sa.Column("classificationTimestamp", sa.String(length=40), nullable=False),
        sa.Column("comment", sa.String(length=1024), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("reviewID"),
    )
    with op.batch_alter_table("detection_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_detection_reviews_detectionID"), ["detectionID"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("alertID", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alertKey", sa.String(length=64), nullable=False),
        sa.Column("detectionID", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("nextAttempt", sa.DateTime(), nullable=True),
        sa.Column("lastError", sa.String(length=1024), nullable=False),
        sa.Column("delivered", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("alertID"),
        sa.UniqueConstraint("alertKey"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_detectionID"), ["detectionID"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_delivery"), ["delivery"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_nextAttempt"), ["nextAttempt"], unique=False)


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("detection_reviews")
    op.drop_table("jobs")
    op.drop_table("api_keys")
