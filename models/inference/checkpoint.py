"""Resumable batches: a per-media checkpoint of classified camera-trap media (MegaDetector's checkpoint/resume,
SpeciesNet's partial predictions file).

While a batch runs, each media item is appended to a JSON-lines file as soon as all its frames are classified
(or it is rejected): one line ``{"mediaID", "modelVersion", "predictions": [Prediction as dict, ...], "probs":
[[...], ...], "rejection": {filePath, reason, detail} | null}``, flushed and fsynced, so a process killed at
any point (Ctrl-C, ``kill -9``, a lost node) loses at most the item it was writing; a torn last line is
ignored. The first line records the model version; a checkpoint of another model version is discarded, so
media are never skipped for a model that did not classify them. The next run reads the file, skips the media
it holds and classifies the rest; the caller merges both and deletes the file once the outputs are written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np

from models.inference.detect import Prediction
from models.media.tables import Rejection

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Done:
    """One checkpointed media item: its predictions and their ``(F, C)`` probabilities (``(0, 0)`` when it has
    none), or its rejection."""

    predictions: list[Prediction]
    probs: np.ndarray
    rejection: Rejection | None = None


class Checkpoint:
    """Append-only checkpoint of one batch for one model version (module docstring).

    Args:
        path: the JSON-lines file (created on the first :meth:`add`).
        model_version: the classifier's ``model_version``; entries of any other version are discarded.
    """

    def __init__(self, path: str | Path, model_version: str) -> None:
        self.path = Path(path)
        self.model_version = model_version
        self._fh = None

    def load(self) -> dict[str, Done]:
        """The media already done, by ``mediaID`` (empty when there is no usable checkpoint). A checkpoint of
        another model version is deleted; a torn or malformed line (a kill mid-write) ends the reading."""
        if not self.path.is_file():
            return {}
        out: dict[str, Done] = {}
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        try:
            head = json.loads(lines[0])
        except (json.JSONDecodeError, IndexError):
            head = {}
        if head.get("modelVersion") != self.model_version:
            log.warning("checkpoint %s is of model %s, not %s: starting over", self.path, head.get("modelVersion"),
                        self.model_version)
            self.path.unlink()
            return {}
        for n, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                preds = [Prediction(**p) for p in row["predictions"]]
                rej = Rejection(**row["rejection"]) if row.get("rejection") else None
                probs = np.asarray(row["probs"], dtype=np.float32)
                out[row["mediaID"]] = Done(preds, probs.reshape(len(preds), -1) if preds else np.zeros((0, 0)), rej)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("checkpoint %s: line %d is incomplete (the run was killed while writing it); "
                            "it is classified again", self.path, n)
                break
        return out

    def add(self, media_id: str, predictions: list[Prediction], probs: np.ndarray,
            rejection: Rejection | None = None) -> None:
        """Append one finished media item (flushed and fsynced before returning)."""
        if self._fh is None:
            new = not self.path.is_file() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the whole batch
            if new:
                self._fh.write(json.dumps({"modelVersion": self.model_version}) + "\n")
        row = {"mediaID": media_id, "predictions": [dataclasses.asdict(p) for p in predictions],
               "probs": np.round(np.asarray(probs, dtype=np.float64), 8).tolist(),
               "rejection": dataclasses.asdict(rejection) if rejection else None}
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file (kept for the next run)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        """Delete the checkpoint: the batch's outputs are written."""
        self.close()
        self.path.unlink(missing_ok=True)
