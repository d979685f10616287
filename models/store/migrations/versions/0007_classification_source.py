"""decision: taxonRank and classificationSource on detections and events

The one decision path (``models.inference.decision``) records which rule produced each label (model,
privacy, rollup, region, threshold-unknown, silence, or human for a review) and the Darwin Core rank of
a rolled-up name. Rows written before it were plain model top-1 labels: ``model`` / ``species``
(blank rows: NULL rank).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("detections", "events")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("taxonRank", sa.String(length=16), nullable=True))
            batch.add_column(sa.Column("classificationSource", sa.String(length=24), nullable=False,
                                       server_default="model"))
        op.create_index(f"ix_{table}_classificationSource", table, ["classificationSource"])
        op.execute(sa.text(f"UPDATE {table} SET \"taxonRank\" = 'species' WHERE \"scientificName\" IS NOT NULL"))
        op.execute(sa.text(f"UPDATE {table} SET \"classificationSource\" = 'human' "
                           "WHERE \"classificationMethod\" = 'human'"))


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_classificationSource", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("classificationSource")
            batch.drop_column("taxonRank")
