"""Stages ``preprocess_images`` and ``preprocess_audio``: model-ready arrays for training.

Images: decode (EXIF-oriented) -> crop info strips -> resize, saved as ``pixels.npy``
``(N, S, S, 3) uint8``. Audio: mono -> resample -> windows -> log-mel, saved as
``spectrograms.npy`` ``(N, n_mels, frames) float16``. Each folder also holds ``index.csv``
(one row per array item), ``rejected.csv`` and ``config.json`` (the exact preprocessing, which
the train stage copies into the model bundle).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import typer

from models.media.audio import AudioPreprocessing, load_audio
from models.media.errors import MediaError
from models.media.imaging import ImagePreprocessing
from models.media.tables import REJECTION_FIELDS, Rejection, read_csv, write_csv
from pipeline.common import progress, setup_logging, write_json
from pipeline.params import AudioPreParams, ImagePreParams, load_params

log = logging.getLogger(__name__)

IMAGE_INDEX = ["mediaID", "label", "deploymentID", "timestamp", "fileName"]
AUDIO_INDEX = ["mediaID", "label", "deploymentID", "start_s", "end_s"]


def image_preprocessing(p: ImagePreParams, max_pixels: int) -> ImagePreprocessing:
    """The image pipeline for these params (normalisation stats are set by the model at train time)."""
    return ImagePreprocessing(size_px=p.size_px, crop_top_frac=p.crop_top_frac,
                              crop_bottom_frac=p.crop_bottom_frac, max_pixels=max_pixels)


def audio_preprocessing(p: AudioPreParams) -> AudioPreprocessing:
    """The audio pipeline for these params."""
    d = p.model_dump()
    d.pop("min_recordings_per_label")
    return AudioPreprocessing(**d)


def run_images(p: ImagePreParams, max_pixels: int, media_csv: Path, root: Path, out: Path) -> dict:
    """Decode and resize every indexed training image; unreadable ones are listed in ``rejected.csv``."""
    pre = image_preprocessing(p, max_pixels)
    rows, arrays, rejected = [], [], []
    for m in progress(read_csv(media_csv), "images"):
        try:
            arrays.append(pre.pixels((root / m["filePath"]).read_bytes(), m["filePath"]))
        except (MediaError, OSError) as exc:
            rejected.append(Rejection(m["filePath"], getattr(exc, "reason", "unreadable"), str(exc)))
            continue
        rows.append(m)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "pixels.npy", np.stack(arrays) if arrays else np.zeros((0, p.size_px, p.size_px, 3), np.uint8))
    write_csv(out / "index.csv", rows, IMAGE_INDEX)
    write_csv(out / "rejected.csv", rejected, REJECTION_FIELDS)
    write_json(out / "config.json", dataclasses.asdict(pre))
    return {"items": len(rows), "rejected": len(rejected), "per_label": dict(Counter(r["label"] for r in rows))}


def run_audio(p: AudioPreParams, media_csv: Path, root: Path, out: Path) -> dict:
    """Window and transform every recording of labels with enough recordings to split.

    Silent windows (below ``silence_dbfs``) carry no call of the labelled species and are dropped.
    """
    pre = audio_preprocessing(p)
    media = read_csv(media_csv)
    per_label = Counter(m["label"] for m in media)
    kept_labels = {lb for lb, n in per_label.items() if n >= p.min_recordings_per_label}
    excluded = sorted(set(per_label) - kept_labels)
    if excluded:
        log.warning("labels with fewer than %d recordings are not trained on: %s", p.min_recordings_per_label,
                    ", ".join(excluded))
    rows, specs, rejected = [], [], []
    silent_windows = 0
    for m in progress([m for m in media if m["label"] in kept_labels], "recordings"):
        try:
            bounds, windows = pre.windows(load_audio(root / m["filePath"]))
        except MediaError as exc:
            rejected.append(Rejection(m["filePath"], exc.reason, exc.detail))
            continue
        loud = ~pre.silent(windows)
        silent_windows += int((~loud).sum())
        specs.append(pre.spectrograms(windows[loud]).astype(np.float16))
        rows += [{**m, "start_s": s, "end_s": e} for (s, e), keep in zip(bounds, loud, strict=True) if keep]
    out.mkdir(parents=True, exist_ok=True)
    frames = 1 + round(pre.window_s * pre.sample_rate_hz) // pre.hop_length
    np.save(out / "spectrograms.npy", np.concatenate(specs) if specs else np.zeros((0, p.n_mels, frames), np.float16))
    write_csv(out / "index.csv", rows, AUDIO_INDEX)
    write_csv(out / "rejected.csv", rejected, REJECTION_FIELDS)
    write_json(out / "config.json", dataclasses.asdict(pre))
    return {"windows": len(rows), "silent_windows_dropped": silent_windows, "recordings": len(specs),
            "rejected": len(rejected), "excluded_labels": excluded}


cli = typer.Typer(add_completion=False)


@cli.command()
def images(params: Path = Path("params.yaml"), media: Path = Path("data/interim/camera_traps/media.csv"),
           root: Path = Path("data/raw/camera_traps"), out: Path = Path("data/processed/images")) -> None:
    """Preprocess the labelled camera-trap images."""
    setup_logging()
    prm = load_params(params)
    summary = run_images(prm.preprocess.image, prm.ingest.max_pixels, media, root, out)
    log.info("images: %s", summary)


@cli.command()
def audio(params: Path = Path("params.yaml"), media: Path = Path("data/interim/acoustic/media.csv"),
          root: Path = Path("data/raw/acoustic"), out: Path = Path("data/processed/audio")) -> None:
    """Preprocess the labelled acoustic recordings."""
    setup_logging()
    summary = run_audio(load_params(params).preprocess.audio, media, root, out)
    log.info("audio: %s", summary)


if __name__ == "__main__":
    cli()
