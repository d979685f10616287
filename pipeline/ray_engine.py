"""Batch classification of camera-trap media on Ray Data (``predict.engine: ray``): the same core code as the
local engine, spread over a local Ray instance or a cluster.

The media index becomes a Ray dataset of rows; ``map_batches`` runs :class:`ClassifyBatch` actors, each holding
one ONNX classifier and calling ``models.inference.camtrap.classify_camera_media`` on its batch, exactly what
the local engine calls on the whole drop. Each output row is one input media item with its predictions,
probabilities and, for a file that cannot be decoded, its rejection (a column, never an exception: Ray fails
the whole dataset on an exception in a batch function, and ``max_errored_blocks`` would drop whole blocks
silently). The driver checks that every input row came back exactly once, restores the input order (Ray does
not keep it) and groups events as the local engine does.

Ray: ``RAY_ADDRESS`` (or ``address``) selects a cluster; otherwise a local instance bound to 127.0.0.1 starts.
Lessons from Ray 2.60 on 2 CPUs: an actor pool whose CPUs leave nothing for the read tasks hangs without a
warning, so actors ask for ``cpus_per_actor`` (0.5 by default) of a CPU each.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from models.inference.camtrap import CameraResult, classify_camera_media, collect_results
from models.inference.checkpoint import Checkpoint, Done
from models.inference.detect import Prediction
from models.learning.onnx_bundle import load_classifier
from models.media.imaging import ImagePreprocessing
from models.media.tables import Rejection
from models.taxonomy.catalogue import Catalogue
from pipeline.ray_common import init_ray

log = logging.getLogger(__name__)

#: Columns of a media row handed to the actors (all strings).
ROW_FIELDS = ("mediaID", "deploymentID", "stationID", "filePath", "modality", "timestamp", "timestampIssues",
              "duration_s")


class ClassifyBatch:
    """Ray Data actor: one classifier per actor, ``classify_camera_media`` per batch (module docstring).

    Args:
        bundle: the ONNX export (or PyTorch bundle) folder, readable on every node.
        root: folder the media ``filePath`` values are relative to, readable on every node.
        k, batch_size, video_rate_hz, video_max_frames: as ``classify_camera_media``.
        preprocessing: per-deploymentID image pipelines (``pipeline.stages.predict.strip_preprocessing``).
        threads: ONNX Runtime threads per actor.
    """

    def __init__(self, bundle: str, root: str, k: int, batch_size: int, video_rate_hz: float, video_max_frames: int,
                 preprocessing: Mapping[str, ImagePreprocessing] | None = None, threads: int = 1) -> None:
        self.classifier = load_classifier(bundle, threads)
        self.catalogue = Catalogue.load()
        self.root, self.k, self.batch_size = root, k, batch_size
        self.video = (video_rate_hz, video_max_frames)
        self.preprocessing = dict(preprocessing or {})

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [{f: str(batch[f][i]) for f in ROW_FIELDS} for i in range(len(batch["mediaID"]))]
        try:
            result = classify_camera_media(self.classifier, rows, self.root, self.catalogue, self.k, self.batch_size,
                                           0, self.preprocessing, *self.video)
        except Exception as exc:  # noqa: BLE001 - a batch must come back as rows, whatever failed in it
            log.exception("batch of %d media failed", len(rows))
            result = CameraResult(rejected=[Rejection(r["filePath"], "internal_error", type(exc).__name__)
                                            for r in rows])
            result.probs = np.zeros((0, len(self.classifier.labels)), np.float32)
        by_media: dict[str, list[int]] = {}
        for j, p in enumerate(result.predictions):
            by_media.setdefault(p.mediaID, []).append(j)
        rejected = {r.filePath: r for r in result.rejected}
        out = {"mediaID": [], "predictions": [], "probs": [], "rejection": []}
        for r in rows:
            idx = by_media.get(r["mediaID"], [])
            rej = rejected.get(r["filePath"])
            out["mediaID"].append(r["mediaID"])
            out["predictions"].append(json.dumps([dataclasses.asdict(result.predictions[j]) for j in idx]))
            out["probs"].append(json.dumps(result.probs[idx].tolist() if idx else []))
            out["rejection"].append(json.dumps(dataclasses.asdict(rej)) if rej else "")
        return {key: np.asarray(v, dtype=object) for key, v in out.items()}


def classify_camera_media_ray(bundle: str | Path, media: list[dict], root: str | Path, k: int = 3,
                              batch_size: int = 32, preprocessing: Mapping[str, ImagePreprocessing] | None = None,
                              video_rate_hz: float = 1.0, video_max_frames: int = 300, actors: int = 1,
                              cpus_per_actor: float = 0.5, address: str | None = None,
                              checkpoint: Checkpoint | None = None) -> CameraResult:
    """:func:`models.inference.camtrap.classify_camera_media` on Ray Data (module docstring).

    With a ``checkpoint`` (``models.inference.checkpoint``) media it holds are not sent to Ray, and every row
    Ray returns is appended to it as it streams in (``Dataset.iter_rows``), so a killed run resumes.

    Returns:
        The same ``CameraResult`` as the local engine: images in input order, then videos; rejections with
        reasons; probabilities row-aligned with the predictions.

    Raises:
        RuntimeError: Ray returned a different set of media than it was given (lost or doubled rows).
    """
    import ray

    cam = [m for m in media if m.get("modality") in ("image", "video")]
    done = checkpoint.load() if checkpoint is not None else {}
    items = [{f: str(m.get(f, "") or "") for f in ROW_FIELDS} for m in cam if m["mediaID"] not in done]
    results: dict[str, Done] = dict(done)
    if done:
        log.info("resuming: %d media already classified (checkpoint %s)", len(done), checkpoint.path)
    if items:
        init_ray(address)
        ds = ray.data.from_items(items).map_batches(
            ClassifyBatch, batch_size=batch_size, batch_format="numpy", num_cpus=cpus_per_actor,
            compute=ray.data.ActorPoolStrategy(size=actors),
            fn_constructor_kwargs={"bundle": str(bundle), "root": str(root), "k": k, "batch_size": batch_size,
                                   "video_rate_hz": video_rate_hz, "video_max_frames": video_max_frames,
                                   "preprocessing": dict(preprocessing or {})})
        seen: list[str] = []
        for r in ds.iter_rows():
            preds = [Prediction(**p) for p in json.loads(r["predictions"])]
            p = np.asarray(json.loads(r["probs"]), np.float32).reshape(len(preds), -1) if preds else np.zeros((0, 0))
            rej = Rejection(**json.loads(r["rejection"])) if r["rejection"] else None
            results[r["mediaID"]] = Done(preds, p, rej)
            seen.append(r["mediaID"])
            if checkpoint is not None:
                checkpoint.add(r["mediaID"], preds, p, rej)
        if checkpoint is not None:
            checkpoint.close()
        if len(seen) != len(items) or set(seen) != {i["mediaID"] for i in items}:
            raise RuntimeError(f"Ray returned {len(seen)} rows for {len(items)} media ({len(set(seen))} distinct)")
    width = next((d.probs.shape[1] for d in results.values() if d.predictions), 0)
    return collect_results(cam, results, width)

