"""covering index for the public-read probe (people/vehicles on the same media)

Revision ID: 0005b
Revises: 0005
Create Date: 2026-11-30 08:40:00

``models.store.privacy.public_detections`` probes ``detections`` by ``mediaID`` for rows whose
``observationType`` is human/vehicle or whose ``lower(scientificName)`` names a person or vehicle; with
``scientificName`` in the index the probe never reads the table (it ran once per listed row).
"""

from __future__ import annotations

from alembic import op

revision = "0005b"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_detections_media_private", "detections", ["mediaID", "observationType", "scientificName"])
    op.drop_index("ix_detections_media_type", table_name="detections")


def downgrade() -> None:
    op.create_index("ix_detections_media_type", "detections", ["mediaID", "observationType"])
    op.drop_index("ix_detections_media_private", table_name="detections")
