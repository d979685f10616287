"""Recordings on Ray Data (``predict_audio.engine: ray``): one task per recording, each running the local engine's
``pipeline.stages.predict_audio.run`` in an actor that holds one ONNX audio classifier. Results (windows, events,
per-recording summaries, acoustic indices, rejections) come back as one JSON cell per recording, are checked
(every recording once) and concatenated in input order, which is what the local engine returns: detection
events never span recordings.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from models.inference.audio_events import AudioEvent, AudioWindow
from models.inference.detect import Prediction
from models.learning.onnx_bundle import load_classifier
from models.taxonomy.catalogue import Catalogue
from pipeline.ray_common import init_ray

log = logging.getLogger(__name__)


class AnalyseRecordings:
    """Ray Data actor for recordings: one ONNX audio classifier per actor, the local
    ``pipeline.stages.predict_audio.run`` per batch of recordings (windows, events, summaries, indices and
    rejections of each recording come back as one JSON cell)."""

    def __init__(self, bundle: str, root: str, params_json: str, threads: int = 1) -> None:
        from pipeline.params import PredictAudioParams

        self.classifier = load_classifier(bundle, threads)
        self.catalogue = Catalogue.load()
        self.root = Path(root)
        self.params = PredictAudioParams.model_validate_json(params_json)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from pipeline.stages import predict_audio

        ids, cells = [], []
        for i in range(len(batch["mediaID"])):
            row = {f: str(batch[f][i]) for f in batch}
            try:
                res = predict_audio.run(self.params, [row], self.root, self.classifier, self.catalogue)
            except Exception as exc:  # noqa: BLE001 - a recording must come back as a row, whatever failed
                log.exception("recording %s failed", row["filePath"])
                res = {"windows": [], "events": [], "recordings": [], "indices": [],
                       "rejected": [{"filePath": row["filePath"], "reason": "internal_error",
                                     "detail": type(exc).__name__}]}
            ids.append(row["mediaID"])
            cells.append(json.dumps({
                "windows": [{**dataclasses.asdict(w), "prediction": dataclasses.asdict(w.prediction)}
                            for w in res["windows"]],
                "events": [dataclasses.asdict(e) for e in res["events"]],
                "recordings": res["recordings"], "indices": res["indices"], "rejected": res["rejected"]}))
        return {"mediaID": np.asarray(ids, dtype=object), "result": np.asarray(cells, dtype=object)}


def analyse_recordings_ray(bundle: str | Path, media: list[dict], root: str | Path, params, actors: int = 1,
                           cpus_per_actor: float = 0.5, address: str | None = None) -> dict:
    """``pipeline.stages.predict_audio.run`` on Ray Data, one recording per task; the same result dict.

    Raises:
        RuntimeError: Ray returned a different set of recordings than it was given.
    """
    import ray

    recordings = [m for m in media if m.get("modality") == "audio"]
    out = {"windows": [], "events": [], "recordings": [], "indices": [], "rejected": []}
    if not recordings:
        return out
    init_ray(address)
    fields = sorted({k for m in recordings for k in m})
    items = [{f: str(m.get(f, "") or "") for f in fields} for m in recordings]
    ds = ray.data.from_items(items).map_batches(
        AnalyseRecordings, batch_size=1, batch_format="numpy", num_cpus=cpus_per_actor,
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_kwargs={"bundle": str(bundle), "root": str(root), "params_json": params.model_dump_json(),
                               "threads": params.threads})
    by_id = {r["mediaID"]: json.loads(r["result"]) for r in ds.iter_rows()}
    if set(by_id) != {m["mediaID"] for m in recordings}:
        raise RuntimeError(f"Ray returned {len(by_id)} recordings for {len(recordings)}")
    for m in recordings:
        res = by_id[m["mediaID"]]
        out["windows"] += [AudioWindow(**{**w, "prediction": Prediction(**w["prediction"])}) for w in res["windows"]]
        out["events"] += [AudioEvent(**e) for e in res["events"]]
        for key in ("recordings", "indices", "rejected"):
            out[key] += res[key]
    return out
