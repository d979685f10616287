"""Helpers shared by the stage entry points: logging, progress bars, JSON outputs."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

#: Preprocessed training data per modality: folder under ``data/processed`` and its array file.
PROCESSED = {"image": ("images", "pixels.npy"), "audio": ("audio", "spectrograms.npy")}


def setup_logging(level: str | None = None) -> None:
    """Configure logging once, at an entry point (``BIODIV_LOG_LEVEL``, default INFO)."""
    logging.basicConfig(level=(level or os.environ.get("BIODIV_LOG_LEVEL", "INFO")).upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("alembic", "mlflow.store", "urllib3", "PIL", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def progress(items: Iterable, desc: str = "") -> Iterable:
    """tqdm progress on stderr; off when ``BIODIV_PROGRESS=0`` or stderr is not a terminal."""
    disable = os.environ.get("BIODIV_PROGRESS", "") == "0" or not sys.stderr.isatty()
    return tqdm(items, desc=desc, disable=disable, file=sys.stderr)


def write_json(path: str | Path, obj: object) -> None:
    """Write JSON (UTF-8, indented, sorted keys) creating parent folders."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")
