"""biodiv-obs core library: from a media file to a stored, shareable species detection.

Four subpackages, each owning one concern, plus the species catalogue and ingest:

- :mod:`models.media`: media value types and decoding (images, video frames, audio blocks and windows,
  capture timestamps, content hashes, rejection tables, the error types). Imports nothing else of
  ``models``.
- :mod:`models.taxonomy`: the species catalogue (``taxonomy/data/species.csv``: names in Latin, English
  and Chinese, taxonomy, invasive / sensitive status, detection thresholds). Imports only ``media``.
- :mod:`models.learning`: classifier factory, training loop, augmentation, splits, metrics, the model
  bundle (weights + labels + preprocessing) and its ONNX export. Imports ``media`` (and ``taxonomy``).
- :mod:`models.inference`: from decoded media and a bundle to predictions (per image, video frame and
  audio window), camera-trap events, acoustic detection events and soundscape indices. Imports
  ``learning``, ``taxonomy`` and ``media``.
- :mod:`models.store`: the detections database (SQLAlchemy models, Alembic migrations) and everything
  that works on stored rows: alerts, review, statistics, privacy rules, Camtrap DP / Darwin Core export,
  API keys. Imports ``taxonomy`` and ``media``, never ``learning`` or ``inference``.
- :mod:`models.ingest`: station drops and labelled training sets to media indexes (uses ``media`` and
  ``taxonomy``).

Data flows ``media -> inference (with a learning bundle) -> store``; ``learning`` trains the bundle from
``media``. The layering is checked by import-linter contracts in ``pyproject.toml`` (``make lint``).
Nothing here imports an application framework (MLflow, DVC, FastAPI, typer); ``pipeline`` and
``serve`` build on this package, never the reverse. Importing it does no work.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
