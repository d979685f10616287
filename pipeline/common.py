"""Helpers shared by the stage entry points: logging, progress bars, JSON outputs."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
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


#: Seconds between two progress lines when stderr is not a terminal (``BIODIV_PROGRESS_INTERVAL_S``).
DEFAULT_PROGRESS_INTERVAL_S = 30.0


def progress_mode() -> str:
    """``bar`` (tqdm), ``lines`` (periodic log lines) or ``off``.

    ``BIODIV_PROGRESS``: ``0``/``off`` none; ``bar`` or ``lines`` forces that kind; unset, ``1`` or ``auto``
    picks a bar when stderr is a terminal and lines otherwise (CI, ``dvc repro`` logs), never both.
    """
    raw = os.environ.get("BIODIV_PROGRESS", "auto").strip().lower()
    if raw in ("0", "off", "false", "no"):
        return "off"
    if raw in ("bar", "lines"):
        return raw
    return "bar" if sys.stderr.isatty() else "lines"


def _interval_s() -> float:
    try:
        return max(0.0, float(os.environ.get("BIODIV_PROGRESS_INTERVAL_S", DEFAULT_PROGRESS_INTERVAL_S)))
    except ValueError:
        return DEFAULT_PROGRESS_INTERVAL_S


def _lines(items: Iterable, desc: str, interval_s: float, clock=time.monotonic) -> Iterator:
    """Yield ``items``, logging ``desc: n/total (pct %), rate, elapsed`` at most every ``interval_s`` and at the end."""
    total = len(items) if hasattr(items, "__len__") else None
    name = desc or "progress"
    start = last = clock()
    n = 0

    def line(done: bool) -> str:
        elapsed = clock() - start
        rate = n / elapsed if elapsed > 0 else 0.0
        of = f"{n}/{total} ({100 * n / total:.0f} %)" if total else f"{n}"
        return f"{name}: {of}{' done' if done else ''}, {rate:.1f}/s, {elapsed:.0f} s"

    for item in items:
        yield item
        n += 1
        now = clock()
        if now - last >= interval_s and (total is None or n < total):
            last = now
            _progress_log.info(line(False))
    _progress_log.info(line(True))


_progress_log = logging.getLogger("biodiv.progress")


def progress(items: Iterable, desc: str = "") -> Iterable:
    """Wrap ``items`` with progress on stderr: a tqdm bar on a terminal, periodic log lines
    (``biodiv.progress`` logger, INFO) elsewhere, nothing with ``BIODIV_PROGRESS=0`` (see :func:`progress_mode`)."""
    mode = progress_mode()
    if mode == "off":
        return items
    if mode == "bar":
        return tqdm(items, desc=desc, file=sys.stderr)
    return _lines(items, desc, _interval_s())


def write_json(path: str | Path, obj: object) -> None:
    """Write JSON (UTF-8, indented, sorted keys) creating parent folders."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")
