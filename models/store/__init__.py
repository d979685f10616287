"""The detections database and what works on stored rows.

Owns the SQLAlchemy schema and its Alembic migrations (:mod:`~models.store.db`, ``migrations/``), the
invasive-species alert outbox (:mod:`~models.store.alerts`), human review and label export
(:mod:`~models.store.review`), statistics (:mod:`~models.store.stats`), public-read privacy rules
(:mod:`~models.store.privacy`), Camtrap DP and Darwin Core export (:mod:`~models.store.export`) and API
keys (:mod:`~models.store.keys`). It may import :mod:`models.taxonomy` and :mod:`models.media`, never
``learning`` or ``inference``: it never loads a model.
"""
