"""Stage ``predict``: classify every station image and video (recordings: the ``predict_audio`` stage).

Reads the station media index (``data/interim/stations/media.csv``) and the image bundle; writes
``data/predictions/detections.csv`` (one row per image / sampled video frame: top-1
species or blank, calibrated probability, invasive flag, top-k alternatives as JSON, model version,
offsets in s, absolute start time where the media has a usable one, and the camera-trap
``eventID``), ``data/predictions/events.csv`` (camera-trap events: sequences per deployment with
the aggregated species or blank, see ``models.inference.events``), ``data/predictions/rejected.csv`` (files
that could not be classified, with the reason) and ``reports/predict.json`` (counts).

Images and videos go through ``models.inference.camtrap`` (reduced-size decode in worker processes, batched
model, per-deployment info-strip handling from the ``deployments`` params section).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import typer

from models.inference.camtrap import CameraResult, attach_events, classify_camera_media
from models.inference.checkpoint import Checkpoint
from models.inference.detect import PREDICTION_FIELDS, Prediction
from models.inference.events import EVENT_FIELDS
from models.learning.bundle import Classifier
from models.learning.onnx_bundle import OnnxClassifier
from models.media.imaging import ImagePreprocessing
from models.media.tables import REJECTION_FIELDS, read_csv, write_csv
from models.taxonomy.catalogue import Catalogue
from pipeline.common import progress, setup_logging, write_json
from pipeline.params import DeploymentSettings, PredictParams, deployment_settings, load_params

log = logging.getLogger(__name__)


def strip_preprocessing(base: ImagePreprocessing, deployments: dict[str, DeploymentSettings],
                        deployment_ids: set[str]) -> dict[str, ImagePreprocessing]:
    """Per-deployment image pipeline: the bundle's, with the deployment's info-strip setting
    (``strip_mode``/``strip_top_frac``/``strip_bottom_frac``; unset fields keep the bundle's)."""
    out = {}
    for dep in deployment_ids:
        s = deployment_settings(deployments, dep)
        out[dep] = dataclasses.replace(
            base, strip_mode=s.strip_mode or base.strip_mode,
            crop_top_frac=base.crop_top_frac if s.strip_top_frac is None else s.strip_top_frac,
            crop_bottom_frac=base.crop_bottom_frac if s.strip_bottom_frac is None else s.strip_bottom_frac)
    return out


def run_camera(p: PredictParams, media: list[dict], root: Path, image_clf: Classifier | OnnxClassifier,
               catalogue: Catalogue, deployments: dict[str, DeploymentSettings] | None = None,
               checkpoint: Checkpoint | None = None, bundle: Path | None = None) -> CameraResult:
    """Classify the station images and videos and group them into events; bad files are recorded. With a
    ``checkpoint`` an interrupted run resumes where it stopped (``models.inference.checkpoint``). With
    ``p.engine == "ray"`` the media are classified by Ray Data actors loading ``bundle`` (``pipeline.ray_engine``),
    with the same core functions and results."""
    cam_media = [m for m in media if m["modality"] in ("image", "video")]
    pre = strip_preprocessing(image_clf.meta.image_preprocessing(), deployments or {},
                              {m.get("deploymentID", "") for m in cam_media})
    if p.engine == "ray":
        from pipeline.ray_engine import classify_camera_media_ray

        if bundle is None:
            raise ValueError("predict.engine ray needs the bundle folder (its actors load it themselves)")
        result = classify_camera_media_ray(bundle, cam_media, root, p.top_k, p.batch_size, pre,
                                           p.video_frame_rate_hz, p.video_max_frames, p.ray_actors,
                                           p.ray_cpus_per_actor, p.ray_address, checkpoint)
    else:
        result = classify_camera_media(image_clf, cam_media, root, catalogue, p.top_k, p.batch_size,
                                       p.decode_workers, pre, p.video_frame_rate_hz, p.video_max_frames,
                                       progress=lambda it: progress(it, "images"), checkpoint=checkpoint)
    return attach_events(result, cam_media, image_clf, catalogue, p.event_gap_s, p.top_k)


def run(p: PredictParams, media: list[dict], root: Path, image_clf: Classifier | OnnxClassifier,
        catalogue: Catalogue, deployments: dict[str, DeploymentSettings] | None = None,
        ) -> tuple[list[Prediction], list[dict]]:
    """Classify the station images and videos of ``media``; one unreadable file is recorded and
    skipped, never fatal (recordings are left to ``pipeline.stages.predict_audio``).

    Returns:
        ``(predictions, rejected)``; ``rejected`` rows have ``filePath``, ``reason``, ``detail``.
    """
    cam = run_camera(p, media, root, image_clf, catalogue, deployments)
    return cam.predictions, [dataclasses.asdict(r) for r in cam.rejected]


def main(params: Path = Path("params.yaml"), media: Path = Path("data/interim/stations/media.csv"),
         root: Path = Path("data/raw/stations"), artifacts: Path = Path("artifacts"),
         out: Path = Path("data/predictions"), report: Path = Path("reports/predict.json"),
         checkpoint: Path = Path("data/interim/predict.checkpoint.jsonl")) -> None:
    """Predict species for the station images and videos with the image bundle's ONNX export. Killed half-way,
    the next run resumes from ``checkpoint`` (media classified by the same model version are not redone)."""
    setup_logging()
    params_all = load_params(params)
    prm = params_all.predict
    rows = read_csv(media)
    catalogue = Catalogue.load()
    # the ONNX export (stage export_images): classified on ONNX Runtime, PyTorch is never loaded here
    clf = OnnxClassifier.load(artifacts / "image_model_onnx", prm.threads)
    ckpt = Checkpoint(checkpoint, clf.meta.model_version)
    cam = run_camera(prm, rows, root, clf, catalogue, params_all.deployments, ckpt, artifacts / "image_model_onnx")
    preds = cam.predictions
    rejected = [dataclasses.asdict(r) for r in cam.rejected]
    write_csv(out / "detections.csv", preds, PREDICTION_FIELDS)
    write_csv(out / "events.csv", cam.events, EVENT_FIELDS)
    write_csv(out / "rejected.csv", rejected, REJECTION_FIELDS)
    by_mod = {mod: sum(1 for x in preds if x.modality == mod) for mod in ("image", "video")}
    write_json(report, {"media": len(rows), "predictions": len(preds), "by_modality": by_mod,
                        "rejected": len(rejected), "invasive": sum(x.isInvasive for x in preds),
                        "blank": sum(x.observationType == "blank" for x in preds),
                        "private": sum(x.observationType in ("human", "vehicle") for x in preds),
                        "events": len(cam.events),
                        "blank_events": sum(e.observationType == "blank" for e in cam.events)})
    ckpt.remove()  # every output is written: the next run starts afresh


if __name__ == "__main__":
    typer.run(main)
