"""Resumable batches (issue 12, item 2): a predict stage killed with SIGKILL half-way, then run again, ends with
every media item classified exactly once, with the results of an uninterrupted run."""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from models.inference.checkpoint import Checkpoint
from models.inference.detect import Prediction
from models.learning.bundle import BundleMeta, save_bundle
from models.learning.classifier import create_classifier
from models.learning.onnx_bundle import export_onnx
from models.media.tables import Rejection

ROOT = Path(__file__).resolve().parents[1]
N = 400
LABELS = ["Lithobates catesbeianus", "Sus scrofa", "blank"]


@pytest.fixture(scope="module")
def drop(tmp_path_factory) -> Path:
    """``N`` station JPEGs (one corrupt), their media index, a tiny ONNX image export and params for batches of 8."""
    root = tmp_path_factory.mktemp("resume")
    torch.manual_seed(0)
    model, _ = create_classifier("mobilenetv3_small_050", len(LABELS), 3, "none")
    save_bundle(root / "artifacts/image_model", model, BundleMeta(
        modality="image", arch="mobilenetv3_small_050", in_chans=3, labels=LABELS,
        preprocessing={"size_px": 64, "crop_top_frac": 0.0, "crop_bottom_frac": 0.0,
                       "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}))
    export_onnx(root / "artifacts/image_model", root / "artifacts/image_model_onnx")
    rng = np.random.default_rng(0)
    (root / "drop").mkdir()
    rows = []
    for i in range(N):
        name = f"IMG_{i:04d}.jpg"
        cv2.imwrite(str(root / "drop" / name), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        rows.append({"mediaID": f"m{i:04d}", "deploymentID": "d1", "stationID": "s1", "filePath": name,
                     "modality": "image", "timestamp": f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}+08:00",
                     "timestampIssues": ""})
    (root / "drop" / "IMG_0007.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    with open(root / "media.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["predict"].update(batch_size=8, decode_workers=0, threads=1)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def _cmd(root: Path, name: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.stages.predict", "--params", str(root / "params.yaml"),
            "--media", str(root / "media.csv"), "--root", str(root / "drop"), "--artifacts", str(root / "artifacts"),
            "--out", str(root / name), "--report", str(root / f"{name}.json"),
            "--checkpoint", str(root / f"{name}.checkpoint.jsonl")]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_predict_killed_half_way_resumes_and_classifies_every_media_once(drop):
    clean = subprocess.run(_cmd(drop, "clean"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-2000:]
    ckpt = drop / "killed.checkpoint.jsonl"
    proc = subprocess.Popen(_cmd(drop, "killed"), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 300
    while not (ckpt.is_file() and ckpt.read_text().count("\n") > N // 4):
        assert proc.poll() is None, "predict finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    kept = ckpt.read_text().count("\n") - 1
    assert N // 4 <= kept < N and not (drop / "killed/detections.csv").exists()
    again = subprocess.run(_cmd(drop, "killed"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = int(re.search(r"resuming: (\d+) media already classified", again.stderr + again.stdout).group(1))
    assert resumed >= N // 4
    assert not ckpt.exists()  # outputs written, checkpoint gone
    got, want = _rows(drop / "killed/detections.csv"), _rows(drop / "clean/detections.csv")
    assert len(got) == N - 1 and len({r["mediaID"] for r in got}) == N - 1  # exactly once; the corrupt one is not
    assert got == want  # the same labels, probabilities, events and order as an uninterrupted run
    assert _rows(drop / "killed/events.csv") == _rows(drop / "clean/events.csv")
    rejected = _rows(drop / "killed/rejected.csv")
    assert [r["filePath"] for r in rejected] == ["IMG_0007.jpg"]


def test_checkpoint_ignores_a_torn_line_and_another_model_version(tmp_path):
    pred = Prediction(mediaID="a", deploymentID="d", stationID="s", filePath="a.jpg", modality="image", start_s=0,
                      end_s=0, eventStart="", scientificName="Sus scrofa", observationType="animal",
                      classificationProbability=0.9, isInvasive=False, topK="[]", modelVersion="v/1")
    ck = Checkpoint(tmp_path / "c.jsonl", "v/1")
    ck.add("a", [pred], np.array([[0.05, 0.9, 0.05]], np.float32))
    ck.add("b", [], np.zeros((0, 3), np.float32), Rejection("b.jpg", "corrupt", "no end marker"))
    ck.close()
    with open(tmp_path / "c.jsonl", "a") as fh:
        fh.write('{"mediaID": "c", "predictions": [{"mediaID"')  # killed while writing
    done = Checkpoint(tmp_path / "c.jsonl", "v/1").load()
    assert sorted(done) == ["a", "b"] and done["a"].predictions == [pred]
    assert done["a"].probs.shape == (1, 3) and done["a"].probs[0].tolist() == pytest.approx([0.05, 0.9, 0.05])
    assert done["b"].rejection == Rejection("b.jpg", "corrupt", "no end marker")
    assert Checkpoint(tmp_path / "c.jsonl", "v/2").load() == {}  # another model: start over
    assert not (tmp_path / "c.jsonl").exists()
