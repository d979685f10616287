"""Image classification throughput: our predict path vs the standard timm path vs a bare decode.

Runs, in one process tree and on the same files (the station images, their full-resolution subset,
then the training images):

(a) our predict path end to end: ``models.inference.camtrap.classify_camera_media`` exactly as the predict
    stage calls it (file read, reduced-size JPEG decode in worker processes, info-strip crop,
    batched model on ONNX Runtime from the bundle's ONNX export, prediction rows);
(b) the standard timm path with the same model and weights: ``PIL.Image.open(...).convert("RGB")``,
    the bundle's info strips cropped with ``Image.crop`` (so both paths classify the same part of the
    frame), then the transform ``timm.data.create_transform`` builds from the model's data config
    (``resolve_data_config`` with the bundle's input size, mean and std; squash resize, as trained),
    batched model;
(c) a plain full-size ``cv2.imread`` of each file and nothing else.

Each variant runs in its own child process (so its peak memory is its own), after one untimed pass
over the files that warms the OS file cache. Prints images per second, the ratios a/b and a/c, peak
resident memory (the variant's main process and, for (a), its largest decode worker) and how often
(a) and (b) agree on the top-1 class.

    python benchmarks/images.py [--bundle artifacts/image_model] [--onnx artifacts/image_model_onnx] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


def _hwm_mb(pid: str = "self") -> float:
    """Peak resident memory (``VmHWM``, MB) of a process; unlike ``ru_maxrss`` it starts afresh at exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class _WorkerPeak:
    """Samples the peak memory of this process's children (the decode workers) every 50 ms."""

    def __init__(self) -> None:
        import threading

        self.last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import os

        me = os.getpid()
        while not self._stop.wait(0.05):
            for task in Path(f"/proc/{me}/task").glob("*/children"):
                for pid in task.read_text().split():
                    hwm = _hwm_mb(pid)
                    if hwm == hwm:  # keep the latest reading: right after fork it is still the parent's
                        self.last[pid] = hwm

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.last.values(), default=0.0)


def _peak_mb(workers: _WorkerPeak | None = None) -> tuple[float, float]:
    """Peak RSS (MB) of this process and of its largest child seen."""
    return _hwm_mb(), workers.stop() if workers else 0.0


def _run_ours(bundle: str, files: list[str], repeat: int, workers: int, batch_size: int,
              oversample: float | None, threads: int, q) -> None:
    import json

    from models.inference.camtrap import classify_camera_media
    from models.learning.onnx_bundle import load_classifier
    from models.taxonomy.catalogue import Catalogue

    clf, cat = load_classifier(bundle, threads), Catalogue.load()  # the ONNX export when given: no PyTorch
    if hasattr(clf, "model"):  # a PyTorch bundle
        import torch

        torch.set_num_threads(threads)
    pre = clf.meta.image_preprocessing()
    if oversample:
        pre = dataclasses.replace(pre, decode_oversample=oversample)
    media = [{"mediaID": str(i), "deploymentID": "", "filePath": f, "modality": "image", "timestamp": ""}
             for i, f in enumerate(files)]
    sampler = _WorkerPeak()
    t0 = time.perf_counter()
    for _ in range(repeat):
        res = classify_camera_media(clf, media, "/", cat, 1, batch_size, workers, {"": pre})
    elapsed = time.perf_counter() - t0
    top1 = {p.filePath: json.loads(p.topK)[0][0] for p in res.predictions}  # the model's top-1, before decisions
    q.put({"elapsed": elapsed, "n": len(files) * repeat, "top1": [top1.get(f) for f in files],
           "rejected": len(res.rejected), "peak": _peak_mb(sampler), "decode_target_px": pre.decode_target_px})


def _run_timm(bundle: str, files: list[str], repeat: int, batch_size: int, threads: int, q) -> None:
    import torch
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    from models.learning.bundle import Classifier

    torch.set_num_threads(threads)
    clf = Classifier.load(bundle)
    pre = clf.meta.image_preprocessing()
    cfg = resolve_data_config({"input_size": (3, pre.size_px, pre.size_px), "mean": pre.mean, "std": pre.std,
                               "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "squash"}, model=clf.model)
    transform = create_transform(**cfg, is_training=False)

    def load(path: str) -> torch.Tensor:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            im = im.crop((0, round(h * pre.crop_top_frac), w, h - round(h * pre.crop_bottom_frac)))
            return transform(im)

    labels = clf.labels
    t0 = time.perf_counter()
    for _ in range(repeat):
        top1 = []
        for i in range(0, len(files), batch_size):
            x = torch.stack([load(f) for f in files[i : i + batch_size]])
            with torch.inference_mode():
                top1 += [labels[j] for j in clf.model(x).argmax(1).tolist()]
    elapsed = time.perf_counter() - t0
    q.put({"elapsed": elapsed, "n": len(files) * repeat, "top1": top1, "cfg": {k: cfg[k] for k in sorted(cfg)},
           "peak": _peak_mb()})


def _run_imread(files: list[str], repeat: int, q) -> None:
    import cv2

    t0 = time.perf_counter()
    for _ in range(repeat):
        for f in files:
            cv2.imread(f)
    q.put({"elapsed": time.perf_counter() - t0, "n": len(files) * repeat, "peak": _peak_mb()})


def _child(target, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, q))
    proc.start()
    out = q.get()
    proc.join()
    return out


def bench(name: str, bundle: str, files: list[str], repeat: int, workers: int, batch_size: int,
          oversample: float | None = None, threads: int = 2, ours: str | None = None) -> dict:
    """Run (a), (b), (c) on ``files`` and print one block of figures; returns them. (a) runs ``ours`` (the ONNX
    export of ``bundle``, as the predict stage does) when given, else ``bundle``."""
    for f in files:  # warm the file cache so no variant pays for the first read
        Path(f).read_bytes()
    a = _child(_run_ours, ours or bundle, files, repeat, workers, batch_size, oversample, threads)
    b = _child(_run_timm, bundle, files, repeat, batch_size, threads)
    c = _child(_run_imread, files, repeat)
    ips = {k: v["n"] / v["elapsed"] for k, v in (("a", a), ("b", b), ("c", c))}
    agree = sum(x == y for x, y in zip(a["top1"], b["top1"], strict=True)) / len(files)
    print(f"\n== {name}: {len(files)} images x {repeat} passes, {threads} torch thread(s) in (a) and (b) ==")
    print(f"(a) ours (JPEG decoded to >= {a['decode_target_px']} px, {workers} workers, batch {batch_size}):"
          f" {ips['a']:8.1f} images/s"
          f"  peak RSS {a['peak'][0]:.0f} MB (largest worker {a['peak'][1]:.0f} MB), rejected {a['rejected']}")
    print(f"(b) timm (PIL + create_transform):            {ips['b']:8.1f} images/s  peak RSS {b['peak'][0]:.0f} MB")
    print(f"(c) cv2.imread full size only:                {ips['c']:8.1f} images/s  peak RSS {c['peak'][0]:.0f} MB")
    print(f"a/b = {ips['a'] / ips['b']:.2f}   a/c = {ips['a'] / ips['c']:.2f}   "
          f"top-1 agreement (a vs b) = {100 * agree:.1f} % ({round(agree * len(files))}/{len(files)})")
    return {"ips": ips, "agreement": agree}


def _images_under(folder: Path) -> list[Path]:
    from models.media.imaging import sniff_mime

    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            with open(p, "rb") as fh:
                if (sniff_mime(fh.read(262)) or "").startswith("image/"):
                    out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=str(ROOT / "artifacts" / "image_model"))
    ap.add_argument("--onnx", default=str(ROOT / "artifacts" / "image_model_onnx"),
                    help="the bundle's ONNX export for (a), as the predict stage runs it ('' = the PyTorch bundle)")
    ap.add_argument("--stations", default=str(ROOT / "data" / "raw" / "stations"))
    ap.add_argument("--training", default=str(ROOT / "data" / "raw" / "camera_traps"))
    ap.add_argument("--training-limit", type=int, default=0, help="at most this many training images (0 = all)")
    ap.add_argument("--full-res-min-width", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=3, help="passes over each file set per variant")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads, the same for (a) and (b)")
    ap.add_argument("--decode-oversample", type=float, default=None,
                    help="override the bundle's ImagePreprocessing.decode_oversample for (a)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import json

    import cv2

    # not models.learning.bundle: keep torch out of here
    meta = json.loads(Path(args.bundle, "bundle.json").read_text())
    print(f"bundle {args.bundle}: {meta['arch']}, {len(meta['labels'])} classes, "
          f"input {meta['preprocessing']['size_px']} px")
    stations = _images_under(Path(args.stations))
    full = []
    for p in stations:
        im = cv2.imread(str(p), cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if im is not None and im.shape[1] * 8 >= args.full_res_min_width:
            full.append(p)
    training = _images_under(Path(args.training))
    if args.training_limit:
        training = training[:: max(1, len(training) // args.training_limit)][: args.training_limit]
    for name, files in (("station images", stations), (f"full-resolution station images (>= "
                        f"{args.full_res_min_width} px wide)", full), ("training images", training)):
        if files:
            bench(name, args.bundle, [str(f.resolve()) for f in files], args.repeat, args.workers, args.batch_size,
                  args.decode_oversample, args.threads,
                  args.onnx if args.onnx and Path(args.onnx, "model.onnx").is_file() else None)


if __name__ == "__main__":
    main()
