"""indexes for keyset-paginated queries and public-read filtering

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-30 08:40:00

Each filtered listing is ``WHERE <filter> AND (eventStartUTC, id) > (:k, :id) ORDER BY eventStartUTC, id
LIMIT n``; a composite index ``(<filter column>, eventStartUTC, id)`` answers it with one range scan and
no sort. The species filter compares ``lower(scientificName)``, hence expression indexes. The
``(mediaID, observationType)`` index serves the public-read probe for people/vehicles on the same media.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = ("data",)
depends_on = None

LOWER_NAME = sa.text('lower("scientificName")')

DETECTION_INDEXES = {
    "ix_detections_time_id": ["eventStartUTC", "detectionID"],
    "ix_detections_station_time": ["stationID", "eventStartUTC", "detectionID"],
    "ix_detections_deployment_time": ["deploymentID", "eventStartUTC", "detectionID"],
    "ix_detections_invasive_time": ["isInvasive", "eventStartUTC", "detectionID"],
    "ix_detections_lname_time": [LOWER_NAME, "eventStartUTC", "detectionID"],
    "ix_detections_prob_id": ["classificationProbability", "detectionID"],
    "ix_detections_media_type": ["mediaID", "observationType"],
    "ix_detections_station_day": ["stationID", "observationType", "scientificName", "eventStart"],
}
EVENT_INDEXES = {
    "ix_events_time_id": ["eventStartUTC", "eventID"],
    "ix_events_station_time": ["stationID", "eventStartUTC", "eventID"],
    "ix_events_lname_time": [LOWER_NAME, "eventStartUTC", "eventID"],
}


def upgrade() -> None:
    for name, cols in DETECTION_INDEXES.items():
        op.create_index(name, "detections", cols)
    for name, cols in EVENT_INDEXES.items():
        op.create_index(name, "events", cols)


def downgrade() -> None:
    for name in EVENT_INDEXES:
        op.drop_index(name, table_name="events")
    for name in DETECTION_INDEXES:
        op.drop_index(name, table_name="detections")
