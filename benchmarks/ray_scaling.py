"""Ray engine vs the local engine on this machine: images per second on 1 and 2 workers, per core, per day.

Classifies the same camera-trap images (the labelled training images of ``data/raw/camera_traps``, repeated to
``--images``) with the image bundle's ONNX export (``artifacts/image_model_onnx``, else a seeded 192 px
``mobilenetv2_100`` export made here) through:

- the local engine (``models.inference.camtrap.classify_camera_media``) with 0 and 1 decode workers
  (0: decoding in the calling process; 1: one decode process beside the model);
- the Ray engine (``pipeline.ray_engine``) on a local Ray instance with 1 and 2 actors of 0.5 CPU each.

Prints images/s, images/s per core used, and what that rate would classify per day on a 16-core node and a
10-node cluster of such nodes (linear extrapolation: the per-core figure times the cores; the output notes
where that stops holding). Usage::

    python benchmarks/ray_scaling.py [--images 1200] [--bundle artifacts/image_model_onnx]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _media(n: int) -> tuple[Path, list[dict]]:
    images = sorted((ROOT / "data/raw/camera_traps/images").rglob("*.jpg"))
    if not images:
        raise SystemExit("no images under data/raw/camera_traps: run `dvc pull data/raw/camera_traps` first")
    root = ROOT / "data/raw/camera_traps"
    media = [{"mediaID": f"m{i:06d}", "deploymentID": "d", "stationID": "s",
              "filePath": images[i % len(images)].relative_to(root).as_posix(), "modality": "image",
              "timestamp": "", "timestampIssues": "missing"} for i in range(n)]
    return root, media


def _bundle(given: Path | None, tmp: Path) -> Path:
    if given is not None:
        return given
    default = ROOT / "artifacts/image_model_onnx"
    if (default / "model.onnx").is_file():
        return default
    import torch

    from models.learning.bundle import BundleMeta, save_bundle
    from models.learning.classifier import create_classifier
    from models.learning.onnx_bundle import export_onnx

    torch.manual_seed(0)
    model, _ = create_classifier("mobilenetv2_100", 15, 3, "none")
    save_bundle(tmp / "bundle", model, BundleMeta(
        modality="image", arch="mobilenetv2_100", in_chans=3, labels=[f"c{i}" for i in range(14)] + ["blank"],
        preprocessing={"size_px": 192, "crop_top_frac": 0.04, "crop_bottom_frac": 0.04, "mean": [0.502] * 3,
                       "std": [0.502] * 3}))
    return export_onnx(tmp / "bundle", tmp / "onnx")


def main(images: int = 1200, bundle: Path | None = None, batch_size: int = 32) -> None:
    """Measure and print the table (module docstring)."""
    from models.inference.camtrap import classify_camera_media
    from models.learning.onnx_bundle import load_classifier
    from models.taxonomy.catalogue import Catalogue
    from pipeline.ray_common import init_ray
    from pipeline.ray_engine import classify_camera_media_ray

    root, media = _media(images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = _bundle(bundle, Path(tmp))
        rows = []
        for workers in (0, 1):
            clf = load_classifier(folder, 1)
            t0 = time.perf_counter()
            res = classify_camera_media(clf, media, root, Catalogue.load(), 3, batch_size, workers)
            rows.append((f"local, 1 model thread, {workers} decode workers", 1 + workers,
                         len(res.predictions), time.perf_counter() - t0))
        init_ray(num_cpus=os.cpu_count())
        classify_camera_media_ray(folder, media[:batch_size], root, 3, batch_size)  # warm-up: workers start
        for actors in (1, 2):
            t0 = time.perf_counter()
            res = classify_camera_media_ray(folder, media, root, 3, batch_size, actors=actors, cpus_per_actor=0.5)
            rows.append((f"ray, {actors} actor(s) x 0.5 CPU", actors, len(res.predictions),
                         time.perf_counter() - t0))
    print(f"{images} images ({len({m['filePath'] for m in media})} distinct files), bundle {folder.name}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'engine':42s} {'cores':>5s} {'images/s':>9s} {'per core':>9s} {'16-core node/day':>17s} "
          f"{'10 nodes/day':>13s}")
    for name, cores, n, secs in rows:
        rate = n / secs
        per_core = rate / cores
        print(f"{name:42s} {cores:5d} {rate:9.1f} {per_core:9.1f} {per_core * 16 * 86400:17,.0f} "
              f"{per_core * 160 * 86400:13,.0f}")
    print("Extrapolation is linear in cores; it stops holding where decoding (JPEG size), the shared file "
          "system or the database writes of publish become the limit.")


if __name__ == "__main__":
    typer.run(main)
