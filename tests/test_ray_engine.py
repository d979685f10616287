"""The Ray engine (``predict.engine: ray``) gives the local engine's predictions for the same media, with corrupt
files as rejection rows, on one session-scoped local Ray instance bound to 127.0.0.1."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from models.inference.camtrap import classify_camera_media
from models.learning.onnx_bundle import export_onnx, load_classifier
from models.taxonomy.catalogue import Catalogue
from tests.serve_helpers import make_bundle

ray = pytest.importorskip("ray")


@pytest.fixture(scope="session")
def local_ray():
    from pipeline.ray_common import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    make_bundle(root / "bundle", "image")
    export_onnx(root / "bundle", root / "onnx")
    rng = np.random.default_rng(0)
    media = []
    for i in range(40):
        cv2.imwrite(str(root / f"{i}.jpg"), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        media.append({"mediaID": f"m{i:02d}", "deploymentID": "d", "stationID": "s", "filePath": f"{i}.jpg",
                      "modality": "image", "timestamp": f"2024-05-01T10:00:{i:02d}+08:00", "timestampIssues": ""})
    (root / "5.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "6.jpg").write_bytes(b"")
    return root, media


def test_ray_engine_equals_the_local_engine_with_rejection_rows(local_ray, drop):
    from pipeline.ray_engine import classify_camera_media_ray

    root, media = drop
    local = classify_camera_media(load_classifier(root / "onnx"), media, root, Catalogue.load(), 3, 8, 0)
    distributed = classify_camera_media_ray(root / "onnx", media, root, 3, 8, actors=2, cpus_per_actor=0.5)
    assert [dataclasses.asdict(p) for p in distributed.predictions] == [dataclasses.asdict(p)
                                                                         for p in local.predictions]
    assert len(distributed.predictions) == 38
    assert np.array_equal(distributed.probs, local.probs)
    assert sorted((r.filePath, r.reason) for r in distributed.rejected) == sorted(
        (r.filePath, r.reason) for r in local.rejected)
    assert {r.filePath for r in distributed.rejected} == {"5.jpg", "6.jpg"}


def test_ray_engine_resumes_from_a_checkpoint(local_ray, drop, tmp_path):
    from models.inference.checkpoint import Checkpoint
    from pipeline.ray_engine import classify_camera_media_ray

    root, media = drop
    clf = load_classifier(root / "onnx")
    ck = Checkpoint(tmp_path / "c.jsonl", clf.meta.model_version)
    first = classify_camera_media(clf, media[:15], root, Catalogue.load(), 3, 8, 0, checkpoint=ck)
    assert len(first.predictions) == 13  # 5.jpg and 6.jpg rejected
    full = classify_camera_media_ray(root / "onnx", media, root, 3, 8, checkpoint=ck)
    local = classify_camera_media(clf, media, root, Catalogue.load(), 3, 8, 0)
    assert [p.mediaID for p in full.predictions] == [p.mediaID for p in local.predictions]
    assert np.array_equal(full.probs, local.probs)
    assert len(Checkpoint(tmp_path / "c.jsonl", clf.meta.model_version).load()) == 40  # every media, once


def test_ray_audio_engine_equals_the_local_one(local_ray, tmp_path):
    import soundfile as sf

    from pipeline.params import PredictAudioParams
    from pipeline.ray_audio import analyse_recordings_ray
    from pipeline.stages import predict_audio
    make_bundle(tmp_path / "audio", "audio")
    export_onnx(tmp_path / "audio", tmp_path / "audio_onnx")
    media = []
    for i, freq in enumerate((300.0, 900.0, 1500.0)):
        t = np.arange(int(2.5 * 8000)) / 8000
        sf.write(tmp_path / f"r{i}.wav", (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 8000)
        media.append({"mediaID": f"a{i}", "deploymentID": "d", "stationID": "s", "filePath": f"r{i}.wav",
                      "fileName": f"r{i}.wav", "modality": "audio", "timestamp": "2024-05-01T05:00:00+08:00"})
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    media.append({"mediaID": "bad", "deploymentID": "d", "stationID": "s", "filePath": "bad.wav",
                  "fileName": "bad.wav", "modality": "audio", "timestamp": ""})
    p = PredictAudioParams(threads=1)
    local = predict_audio.run(p, media, tmp_path, load_classifier(tmp_path / "audio_onnx"), Catalogue.load())
    distributed = analyse_recordings_ray(tmp_path / "audio_onnx", media, tmp_path, p, actors=2)
    assert [w.row() for w in distributed["windows"]] == [w.row() for w in local["windows"]]
    assert len(distributed["windows"]) == 9  # 3 recordings x (2 windows + a 0.5 s tail)
    assert [e.row() for e in distributed["events"]] == [e.row() for e in local["events"]]
    assert [r["filePath"] for r in distributed["rejected"]] == [r["filePath"] for r in local["rejected"]] == ["bad.wav"]
    assert len(distributed["indices"]) == len(local["indices"]) and len(distributed["recordings"]) == 4
