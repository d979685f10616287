"""The one invasive-alert rule (``Catalogue.invasive_detection``) on the station-drop paths: image and
video frames (``make_predictions``), image events (``build_events``) and audio windows (``apply_thresholds``)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from models.inference.audio_events import apply_thresholds
from models.inference.decision import policy_for
from models.inference.detect import make_predictions
from models.taxonomy.catalogue import DEFAULT_DETECTION_THRESHOLD, Catalogue

LABELS = ["Lithobates catesbeianus", "Sus scrofa", "blank"]
FROG = LABELS[0]


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.load()


def clf():
    return SimpleNamespace(labels=LABELS, meta=SimpleNamespace(model_version="test/1"))


def media(modality="image"):
    return {"mediaID": "m1", "deploymentID": "d", "stationID": "S1", "filePath": "a.jpg", "modality": modality,
            "timestamp": "2024-05-01T10:00:00+08:00", "timestampIssues": ""}


def test_catalogue_threshold_and_rule(catalogue):
    assert DEFAULT_DETECTION_THRESHOLD == 0.5
    assert catalogue.detection_threshold(FROG) == 0.5  # no detectionThreshold in species.csv
    assert catalogue.detection_threshold(FROG, 0.7) == 0.7
    assert catalogue.detection_threshold("not a species", 0.3) == 0.3
    assert catalogue.invasive_detection(FROG, 0.5) and not catalogue.invasive_detection(FROG, 0.4999)
    assert not catalogue.invasive_detection("Sus scrofa", 0.99)  # native
    assert not catalogue.invasive_detection("blank", 1.0)


@pytest.mark.parametrize(("p", "invasive"), [(0.35, False), (0.45, False), (0.5, True), (0.9, True)])
def test_station_drop_frames_use_the_rule(catalogue, p, invasive):
    probs = np.array([[p, (1 - p) / 2, (1 - p) / 2]], np.float32)
    (pred,) = make_predictions(media(), probs, [(0.0, 0.0)], clf(), catalogue, k=3)
    assert pred.isInvasive is invasive
    # below the threshold the bullfrog is not the answer (nothing above it holds 0.5 either): unknown
    assert (pred.scientificName, pred.observationType, pred.classificationSource) == (
        (FROG, "animal", "model") if invasive else ("", "unknown", "threshold-unknown"))
    assert json.loads(pred.topK)[0] == [FROG, pytest.approx(p, abs=1e-6)]  # the model's own answer is kept


def test_audio_windows_use_the_stage_threshold(catalogue):
    probs = np.array([[0.35, 0.33, 0.32], [0.45, 0.30, 0.25], [0.9, 0.05, 0.05]], np.float32)
    preds = make_predictions(media("audio"), probs, [(0, 3), (3, 6), (6, 9)], clf(), catalogue, k=3)
    assert [p.isInvasive for p in preds] == [False, False, True]
    # predict_audio.threshold 0.4 is the policy's default for species without their own threshold
    preds = make_predictions(media("audio"), probs, [(0, 3), (3, 6), (6, 9)], clf(), catalogue, k=3,
                             policy=policy_for(clf(), catalogue, 0.4))
    windows = apply_thresholds(preds, [None] * 3, catalogue, default_threshold=0.4)
    assert [(w.detected, w.prediction.isInvasive) for w in windows] == [(False, False), (True, True), (True, True)]
    assert [w.prediction.observationType for w in windows] == ["unknown", "animal", "animal"]
