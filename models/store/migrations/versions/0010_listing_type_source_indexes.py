"""indexes for the observation-type and classification-source filters of keyset-paginated listings

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:00:00

``GET /v1/detections`` and the ``/detections`` page list ``WHERE <filter> ORDER BY eventStartUTC DESC, id``.
For ``classificationSource`` and ``observationType`` only single-column indexes existed, so SQLite walked the
whole time index and tested each row: a rare value (``classificationSource=human``, reviewed rows; a public
``observationType=human``, whose rows are all hidden) read every detection, 1.7-2.4 s over 1,000,000 rows
(``benchmarks/pages.py``). ``(<filter>, eventStartUTC, id)`` answers it with one range scan, as in 0005.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_detections_source_time": ["classificationSource", "eventStartUTC", "detectionID"],
    "ix_detections_type_time": ["observationType", "eventStartUTC", "detectionID"],
}


def upgrade() -> None:
    for name, cols in INDEXES.items():
        op.create_index(name, "detections", cols)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="detections")
