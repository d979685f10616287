"""Stages ``train_images`` and ``train_audio``: a timm classifier per modality, logged to MLflow.

Reads the preprocessed arrays and the split; writes the model bundle (``models/learning/bundle.py``) to
``artifacts/<modality>_model/``, the final metrics to ``reports/train_<modality>.json`` and the
per-epoch history to ``reports/train_<modality>_history.csv`` (a DVC plot). The MLflow run holds
the params (long values shortened, full values as artifacts), per-epoch and final metrics, the
data hash, the git commit, the weights status, the bundle as artifact and its registry version.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import shutil
from pathlib import Path

import mlflow
import numpy as np
import torch
import typer

from models.learning.augment import augment_image, augment_spectrogram
from models.learning.bundle import BundleMeta, save_bundle, softmax, write_meta
from models.learning.classifier import model_kwargs_for, norm_stats
from models.learning.thresholds import decision_block
from models.learning.training import TrainConfig, predict_logits, train_classifier
from models.media.tables import read_csv
from models.taxonomy.catalogue import BLANK, private_kind
from pipeline.common import PROCESSED, setup_logging, write_json
from pipeline.params import Params, load_params
from pipeline.tracking import code_version, files_hash, register_bundle, training_run

log = logging.getLogger(__name__)

#: Params of a ``train`` section that are not training hyper-parameters.
NOT_TRAINING = {"augment", "target_precision", "blank_max_animal_loss"}

@dataclasses.dataclass
class Dataset:
    """Arrays and integer targets per split, with the ordered label list."""

    labels: list[str]
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    files: list[Path]


def load_dataset(processed: Path, modality: str) -> Dataset:
    """Join the preprocessed arrays with the split (by ``mediaID``); labels come from train items.

    Raises:
        ValueError: the training split is empty.
    """
    folder, array = PROCESSED[modality]
    files = [processed / folder / array, processed / folder / "index.csv", processed / "splits" / f"{folder}.csv"]
    x = np.load(files[0], mmap_mode="r")
    index = read_csv(files[1])
    split_of = {r["mediaID"]: r["split"] for r in read_csv(files[2])}
    splits = np.array([split_of.get(r["mediaID"], "") for r in index])
    labels = sorted({r["label"] for r, s in zip(index, splits, strict=True) if s == "train"})
    if not labels:
        raise ValueError(f"no {modality} training items")
    pos = {lb: i for i, lb in enumerate(labels)}
    y_all = np.array([pos.get(r["label"], -1) for r in index])
    xs, ys = {}, {}
    for s in ("train", "val", "test"):
        keep = (splits == s) & (y_all >= 0)
        xs[s], ys[s] = np.asarray(x[keep]), y_all[keep]
    return Dataset(labels, xs, ys, files)


def image_input(mean: tuple[float, ...], std: tuple[float, ...]):
    """``(B, S, S, 3) uint8`` -> normalised ``(B, 3, S, S)`` float32 tensor."""
    m = torch.tensor(mean).view(1, 3, 1, 1)
    sd = torch.tensor(std).view(1, 3, 1, 1)

    def convert(batch: np.ndarray) -> torch.Tensor:
        return (torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 255.0 - m) / sd

    return convert


def audio_input(batch: np.ndarray) -> torch.Tensor:
    """``(B, n_mels, T) float16`` -> ``(B, 1, n_mels, T)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None]


def run(params: Params, modality: str, processed: Path, bundle_dir: Path, reports: Path) -> dict:
    """Train one modality's classifier, write its bundle and reports, and log an MLflow run."""
    cfg_p = params.train.image if modality == "image" else params.train.audio
    arch, model_kwargs = model_kwargs_for(cfg_p.arch, cfg_p.pretrained)
    cfg = TrainConfig(**{**cfg_p.model_dump(exclude=NOT_TRAINING), "arch": arch, "model_kwargs": model_kwargs})
    ds = load_dataset(processed, modality)
    folder, _ = PROCESSED[modality]
    preprocessing = json.loads((processed / folder / "config.json").read_text())
    if modality == "image":
        mean, std = norm_stats(cfg.arch, cfg.pretrained)
        preprocessing.update(mean=list(mean), std=list(std))
        to_input, augment, in_chans = image_input(mean, std), augment_image, 3
    else:
        to_input, augment, in_chans = audio_input, augment_spectrogram, 1
    data_hash = files_hash(ds.files)
    commit = code_version()
    counts = {s: int(len(ds.y[s])) for s in ds.y}
    run_params = {**cfg_p.model_dump(), "modality": modality, "class_names": ds.labels,
                  "num_classes": len(ds.labels), "preprocessing": preprocessing, "items": counts}
    tags = {"modality": modality, "git_commit": commit, "data_hash": data_hash, "stage": f"train_{modality}"}
    with training_run(params.tracking, f"train_{modality}", run_params, tags) as mlrun:
        result = train_classifier(ds.x["train"], ds.y["train"], ds.x["val"], ds.y["val"], len(ds.labels), in_chans,
                                  cfg, to_input, augment if cfg_p.augment else None,
                                  on_epoch=lambda e, m: mlflow.log_metrics(m, step=e))
        ws = result.weights_status
        mlflow.set_tags({"weights.requested": ws.requested, "weights.loaded": ws.loaded,
                         "weights.fell_back": str(ws.fell_back).lower(),
                         "weights.fallback_reason": ws.reason or "-",
                         **{f"weights.card.{k}": json.dumps(v) if isinstance(v, (dict, list)) else str(v)
                            for k, v in ws.card.items()}})
        if ws.fell_back:
            log.warning("%s model trained from random initialisation: %s", modality, ws.reason)
        final = {"best_epoch": result.best_epoch, "best_val_macro_f1": result.best_val_macro_f1,
                 "temperature": result.temperature, "train_seconds": round(result.seconds, 1),
                 "epochs_run": len(result.history)}
        mlflow.log_metrics({k: float(v) for k, v in final.items()})
        decision = {}
        if len(ds.y["val"]):
            logits = predict_logits(result.model, ds.x["val"], to_input).numpy() / result.temperature
            decision = decision_block(softmax(logits), ds.y["val"], ds.labels, cfg_p.target_precision,
                                      BLANK if modality == "image" else None, cfg_p.blank_max_animal_loss,
                                      tuple(lb for lb in ds.labels if private_kind(lb)))
            mlflow.log_dict(decision, "decision.json")
            mlflow.log_metrics({"blank_threshold": decision["blank_threshold"],
                                "privacy_threshold": decision["privacy_threshold"]})
        if bundle_dir.exists():
            shutil.rmtree(bundle_dir)
        meta = BundleMeta(modality=modality, arch=cfg.arch, in_chans=in_chans, labels=ds.labels,
                          preprocessing=preprocessing, temperature=result.temperature, code_version=commit,
                          weights_status=dataclasses.asdict(ws), train_data_hash=data_hash,
                          model_kwargs=model_kwargs, decision=decision)
        meta = save_bundle(bundle_dir, result.model, meta)
        if params.tracking.register_model:
            meta.registry_name = f"biodiv-{modality}-classifier"
            meta.registry_version = register_bundle(mlrun, bundle_dir, meta.registry_name)
            write_meta(bundle_dir, meta)
            mlflow.log_artifact(str(bundle_dir / "bundle.json"), "bundle")
        mlflow.set_tag("model_version", meta.model_version)
        final.update(model_version=meta.model_version, mlflow_run_id=mlrun.info.run_id,
                     weights_loaded=ws.loaded, classes=len(ds.labels), **{f"{k}_items": v for k, v in counts.items()})
    write_json(reports / f"train_{modality}.json", final)
    with open(reports / f"train_{modality}_history.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(result.history[0]))
        w.writeheader()
        w.writerows(result.history)
    return final


def main(modality: str = typer.Argument(..., help="image or audio"), params: Path = Path("params.yaml"),
         processed: Path = Path("data/processed"), artifacts: Path = Path("artifacts"),
         reports: Path = Path("reports")) -> None:
    """Train the ``image`` or ``audio`` classifier."""
    setup_logging()
    if modality not in PROCESSED:
        raise typer.BadParameter("modality must be 'image' or 'audio'")
    final = run(load_params(params), modality, processed, artifacts / f"{modality}_model", reports)
    log.info("%s: %s", modality, final)


if __name__ == "__main__":
    typer.run(main)
