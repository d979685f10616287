"""One end-to-end run of the real DVC pipeline on a subset of the sample data, then API queries.

The workspace is a copy of the project (code, dvc.yaml, params.yaml with a small-subset override)
with the pulled sample data hard-linked in, plus one truncated JPEG dropped into a station folder.
It runs ``dvc repro`` as a user would, checks what every stage left, that a second ``dvc repro``
re-runs nothing, and queries the service built on the result.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
DATASETS = ("camera_traps", "acoustic", "stations")

# The sample station drop holds 33 images and 26 recordings: 24 of 10 s, one of 120 s, one of 60 s.
# With 3 s windows, 3 s hop and a kept tail of >= 1 s, a 10 s file gives windows starting at 0, 3, 6
# plus the 9-10 s tail (4 windows), 120 s gives 40 and 60 s gives 20: 24*4 + 40 + 20 = 156.
STATION_IMAGES = 33
STATION_RECORDINGS = 26
STATION_WINDOWS = 156

pytestmark = pytest.mark.slow


def _link_tree(src: Path, dst: Path) -> None:
    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link)


def _run(cmd: list[str], cwd: Path, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "BIODIV_PROGRESS": "0", "PYTHONPATH": str(cwd)}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    missing = [d for d in DATASETS if not (RAW / d).is_dir()]
    if not (ROOT / "data" / "weights").is_dir():
        missing.append("weights")
    if missing:
        pytest.fail(f"sample data missing ({', '.join(missing)}): run `dvc pull` first (make test does)")
    ws = tmp_path_factory.mktemp("e2e")
    for d in ("models", "pipeline"):
        shutil.copytree(ROOT / d, ws / d, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "dvc.yaml", ws / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"]["limit_per_label"] = 6
    params["preprocess"]["image"]["size_px"] = 64
    for modality in ("image", "audio"):
        # a small random-init model keeps the test fast; the pretrained start has its own tests
        params["train"][modality].update(epochs=2, patience=2, arch="mobilenetv3_small_050", pretrained="none")
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for d in DATASETS:
        _link_tree(RAW / d, ws / "data" / "raw" / d)
    # the training stages depend on the pulled weights and their card even when they start at random
    _link_tree(ROOT / "data" / "weights", ws / "data" / "weights")
    shutil.copy2(ROOT / "data" / "weights.card.yaml", ws / "data" / "weights.card.yaml")
    # A corrupt file in a drop: the first 60 % of a real station image (no JPEG end marker).
    good = ws / "data/raw/stations/demo-1/cam-arc/sample-arc-01.jpg"
    broken = good.with_name("broken-upload.jpg")
    broken.write_bytes(good.read_bytes()[: int(good.stat().st_size * 0.6)])
    _run(["dvc", "init", "--no-scm", "-q"], ws)
    first = _run(["dvc", "repro"], ws)
    (ws / "first_repro.log").write_text(first.stdout)
    return ws


def test_every_stage_ran_and_left_its_outputs(workspace):
    log = (workspace / "first_repro.log").read_text()
    for stage in ("ingest", "preprocess_images", "preprocess_audio", "split", "train_images", "train_audio",
                  "evaluate_images", "evaluate_audio", "export_images", "predict", "export_audio", "predict_audio",
                  "publish"):
        assert f"Running stage '{stage}'" in log
    for modality in ("image", "audio"):
        ev = json.loads((workspace / f"reports/eval_{modality}.json").read_text())
        assert 0.0 <= ev["test"]["macro_f1"] <= 1.0 and ev["test"]["n"] > 0
        bundle = json.loads((workspace / f"artifacts/{modality}_model/bundle.json").read_text())
        per_class = json.loads((workspace / f"reports/eval_{modality}_per_class.json").read_text())
        assert set(per_class["test"]) <= set(bundle["labels"]) and len(per_class["test"]) >= 2
        assert bundle["registry_version"] == "1"
        assert bundle["weights_status"]["loaded"] == "random_init"
        assert bundle["labels"] == sorted(bundle["labels"])
    assert json.loads((workspace / "reports/eval_audio.json").read_text())["invasive_labels"] == [
        "Lithobates catesbeianus"]


def test_corrupt_file_is_rejected_and_the_rest_processed(workspace):
    rejected = (workspace / "data/interim/stations/rejected.csv").read_text().splitlines()
    assert rejected[0] == "filePath,reason,detail"
    assert len(rejected) == 2 and rejected[1].startswith("demo-1/cam-arc/broken-upload.jpg,truncated,")
    pred = json.loads((workspace / "reports/predict.json").read_text())
    assert pred["by_modality"]["image"] == STATION_IMAGES
    audio = json.loads((workspace / "reports/predict_audio.json").read_text())
    assert (audio["recordings"], audio["windows"], audio["rejected"]) == (STATION_RECORDINGS, STATION_WINDOWS, 0)
    # one acoustic-index segment per recording (all last at most 120 s: 60 s segments, >= 10 s tail)
    assert audio["index_segments"] == 24 * 1 + 2 + 1


def _audio_detected(workspace: Path) -> int:
    return json.loads((workspace / "reports/predict_audio.json").read_text())["detections"]


def test_database_holds_a_classification_for_every_image_and_window(workspace):
    con = sqlite3.connect(workspace / "var/biodiv.db")
    rows = con.execute("SELECT modality, count(*), count(DISTINCT mediaID) FROM detections GROUP BY modality"
                       " ORDER BY modality").fetchall()
    # audio: only windows at or above their species' threshold are published (all are in windows.csv)
    detected = _audio_detected(workspace)
    assert [r for r in rows if r[0] == "image"] == [("image", STATION_IMAGES, STATION_IMAGES)]
    assert sum(r[1] for r in rows if r[0] == "audio") == detected
    # every published window is an accepted animal taxon of the decision path, linked to its event
    assert con.execute("SELECT count(*) FROM detections WHERE modality = 'audio' AND (eventID IS NULL"
                       " OR observationType != 'animal' OR scientificName IS NULL)"
                       " AND classificationSource != 'speech'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM acoustic_indices").fetchone()[0] == 27
    assert con.execute("SELECT count(*) FROM events WHERE modality = 'audio'").fetchone()[0] == json.loads(
        (workspace / "reports/predict_audio.json").read_text())["events"]
    bad = con.execute("SELECT count(*) FROM detections WHERE classificationProbability NOT BETWEEN 0 AND 1"
                      " OR modelVersion NOT LIKE 'biodiv-%-classifier/1' OR isInvasive IS NULL"
                      " OR (scientificName IS NULL) != (observationType != 'animal')"
                      " OR classificationSource NOT IN ('model', 'privacy', 'rollup', 'region', 'threshold-unknown',"
                      " 'silence', 'speech')").fetchone()[0]
    assert bad == 0
    # Song Meter file names give local times; Europe/Paris in May is UTC+2.
    import csv

    with open(workspace / "data/predictions/audio/windows.csv", newline="") as fh:
        jura = [r for r in csv.DictReader(fh) if r["filePath"].endswith("S4A03895_20190522_170000.wav")]
    assert [r["eventStart"] for r in jura] == ["2019-05-22T17:00:00+02:00", "2019-05-22T17:00:03+02:00",
                                              "2019-05-22T17:00:06+02:00", "2019-05-22T17:00:09+02:00"]
    start = con.execute("SELECT segmentStart, segmentStartUTC FROM acoustic_indices a JOIN media m USING (mediaID)"
                        " WHERE m.fileName = 'S4A03895_20190522_170000.wav'").fetchone()
    assert start[0] == "2019-05-22T17:00:00+02:00" and start[1].startswith("2019-05-22 15:00:00")
    inv = con.execute("SELECT count(*) FROM detections WHERE isInvasive = 1 AND scientificName != "
                      "'Lithobates catesbeianus'").fetchone()[0]
    assert inv == 0
    # MLflow: one run per training stage, each with metrics.
    ml = sqlite3.connect(workspace / "mlflow.db")
    runs = ml.execute("SELECT r.name, count(m.key) FROM runs r JOIN metrics m ON m.run_uuid = r.run_uuid"
                      " GROUP BY r.run_uuid ORDER BY r.name").fetchall()
    assert [r[0] for r in runs] == ["train_audio", "train_image"] and all(n > 0 for _, n in runs)


def test_second_repro_reruns_nothing_and_status_is_clean(workspace):
    before = (workspace / "var/biodiv.db").stat().st_mtime_ns
    second = _run(["dvc", "repro"], workspace)
    assert "Running stage" not in second.stdout
    status = _run(["dvc", "status", "--json"], workspace)
    assert json.loads(status.stdout) == {}
    assert (workspace / "var/biodiv.db").stat().st_mtime_ns == before


def test_publish_is_idempotent(workspace):
    _run([sys.executable, "-m", "pipeline.stages.publish"], workspace)
    con = sqlite3.connect(workspace / "var/biodiv.db")
    assert con.execute("SELECT count(*) FROM detections").fetchone()[0] == STATION_IMAGES + _audio_detected(workspace)
    assert con.execute("SELECT count(*) FROM media").fetchone()[0] == STATION_IMAGES + STATION_RECORDINGS


def test_service_answers_queries_and_classifies_an_upload(workspace, tmp_path):
    from fastapi.testclient import TestClient

    from serve.app import create_app
    from serve.settings import Settings

    settings = Settings(database_url=f"sqlite:///{workspace / 'var/biodiv.db'}",
                        image_bundle=str(workspace / "artifacts/image_model_onnx"),
                        audio_bundle=str(workspace / "artifacts/audio_model_onnx"), media_root=str(tmp_path / "media"))
    from models.store.privacy import PRIVATE_NAMES, is_private

    con = sqlite3.connect(workspace / "var/biodiv.db")
    # the most frequent species the uploader role may see (people and vehicles are private, models.store.privacy)
    marks = ", ".join("?" * len(PRIVATE_NAMES))
    name, n = con.execute("SELECT scientificName, count(*) FROM detections WHERE scientificName IS NOT NULL"
                          f" AND observationType = 'animal' AND lower(scientificName) NOT IN ({marks})"
                          " GROUP BY scientificName ORDER BY count(*) DESC LIMIT 1", PRIVATE_NAMES).fetchone()
    from sqlalchemy.orm import Session

    from models.store.db import make_engine
    from models.store.keys import create_key

    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        token = create_key(session, "uploader", "e2e-station").token
    engine.dispose()
    with TestClient(create_app(settings), headers={"X-API-Key": token}) as client:
        assert client.get("/health").json()["status"] == "ok"
        body = client.get("/v1/detections", params={"scientificName": name, "limit": 500, "include_total": True}).json()
        assert body["total"] == n and len(body["items"]) == n
        assert {d["scientificName"] for d in body["items"]} == {name}
        image = workspace / "data/raw/stations/demo-2/cam-dzf/sample-dzf-01.jpg"
        # a station image already published comes back as a duplicate with its detection
        r = client.post("/v1/media", data={"deploymentID": "demo-2-cam-dzf"},
                        files={"file": ("sample-dzf-01.jpg", image.read_bytes(), "image/jpeg")})
        assert r.status_code == 200 and r.json()["duplicate"] is True and len(r.json()["detections"]) == 1
        # the same scene re-encoded (new bytes) is stored and classified with the registered model
        import cv2

        ok, jpeg = cv2.imencode(".jpg", cv2.imread(str(image)), [cv2.IMWRITE_JPEG_QUALITY, 80])
        r = client.post("/v1/media", data={"deploymentID": "demo-2-cam-dzf"},
                        files={"file": ("field-upload.jpg", jpeg.tobytes(), "image/jpeg")})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["duplicate"] is False and body["media"]["stationID"] == "demo-2"
        dets = body["detections"]
        assert len(dets) == 1 and 0.0 <= dets[0]["classificationProbability"] <= 1.0
        assert dets[0]["modelVersion"] == "biodiv-image-classifier/1"
        # the uploader role sees it unless the (2-epoch) model called it a person or vehicle
        visible = 0 if is_private(dets[0]["observationType"], dets[0]["scientificName"]) else 1
        assert client.get("/v1/detections", params={"mediaID": body["media"]["mediaID"],
                                                               "include_total": True}).json()["total"] == visible
