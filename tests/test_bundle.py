"""Model bundles and classifiers: round trip, probabilities, top-k, calibration, weights fallback."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from models.learning.bundle import META, WEIGHTS, BundleMeta, Classifier, read_meta, save_bundle, softmax, top_k
from models.learning.classifier import create_classifier, fit_temperature
from models.media.errors import BiodivError

ARCH = "mobilenetv3_small_050"
IMAGE_PRE = {"size_px": 32, "crop_top_frac": 0.04, "crop_bottom_frac": 0.0, "mean": [0.5, 0.5, 0.5],
             "std": [0.25, 0.25, 0.25], "max_pixels": 10_000}


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    torch.manual_seed(0)
    model, _ = create_classifier(ARCH, 3, 3, "none")
    d = tmp_path_factory.mktemp("bundle")
    meta = BundleMeta(modality="image", arch=ARCH, in_chans=3, labels=["a", "b", "blank"],
                      preprocessing=dict(IMAGE_PRE), temperature=2.0)
    meta = save_bundle(d, model, meta)
    x = np.random.default_rng(0).normal(size=(5, 3, 32, 32)).astype(np.float32)
    with torch.inference_mode():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    return d, meta, x, expected


def test_round_trip_gives_identical_logits(bundle_dir):
    d, meta, x, expected = bundle_dir
    clf = Classifier.load(d)
    np.testing.assert_array_equal(clf.logits(x), expected)
    np.testing.assert_allclose(clf.logits(x, batch_size=2), expected, rtol=1e-4, atol=1e-6)  # batching is transparent
    assert clf.labels == ["a", "b", "blank"]
    np.testing.assert_allclose(clf.predict(x), softmax(expected / 2.0), rtol=1e-6)


def test_meta_round_trip_and_model_version(bundle_dir):
    d, meta, _, _ = bundle_dir
    assert meta.weights_sha256 == hashlib.sha256((d / WEIGHTS).read_bytes()).hexdigest()
    back = read_meta(d)
    assert back == meta
    assert back.model_version == f"local-{meta.weights_sha256[:12]}"
    back.registry_name, back.registry_version = "biodiv-image-classifier", "3"
    assert back.model_version == "biodiv-image-classifier/3"
    pre = back.image_preprocessing()
    assert (pre.size_px, pre.crop_top_frac, pre.mean, pre.max_pixels) == (32, 0.04, (0.5, 0.5, 0.5), 10_000)
    with pytest.raises(BiodivError, match="not audio"):
        back.audio_preprocessing()


def test_read_meta_errors(tmp_path, bundle_dir):
    with pytest.raises(BiodivError, match="not a model bundle"):
        read_meta(tmp_path)
    raw = json.loads((bundle_dir[0] / META).read_text())
    raw["format"] = 99
    (tmp_path / META).write_text(json.dumps(raw))
    with pytest.raises(BiodivError, match="format 99"):
        Classifier.load(tmp_path)


def test_empty_batch(bundle_dir):
    clf = Classifier.load(bundle_dir[0])
    assert clf.logits(np.zeros((0, 3, 32, 32), np.float32)).shape == (0, 3)


def test_softmax_hand_values():
    p = softmax(np.array([[0.0, math.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]])  # large logits do not overflow
    rows = softmax(np.random.default_rng(1).normal(size=(4, 6)) * 20)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-12)


def test_top_k_order_and_clipping():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert top_k(probs, ["a", "b", "c"], 2) == [[("b", 0.7), ("c", 0.2)], [("a", 0.5), ("c", 0.3)]]
    assert [lb for lb, _ in top_k(probs, ["a", "b", "c"], 10)[0]] == ["b", "c", "a"]


def test_fit_temperature_on_over_confident_logits():
    # logit 10 for the predicted class, right 70 % of the time: the NLL-optimal probability is 0.7,
    # sigmoid(10 / T) = 0.7 -> T = 10 / ln(7 / 3) = 11.80
    targets = torch.tensor([0, 1] * 50)
    pred = targets.clone()
    pred[:30] = 1 - pred[:30]
    logits = torch.nn.functional.one_hot(pred, 2).float() * 10
    t = fit_temperature(logits, targets)
    assert t == pytest.approx(10 / math.log(7 / 3), rel=0.01)
    before = torch.nn.functional.cross_entropy(logits, targets).item()
    after = torch.nn.functional.cross_entropy(logits / t, targets).item()
    assert before == pytest.approx(3.0, abs=1e-3)  # 0.3 * 10 + 0.7 * ~0
    assert after == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.3)), abs=1e-3)
    assert fit_temperature(torch.zeros((0, 2)), torch.zeros(0, dtype=torch.long)) == 1.0


def test_missing_weights_file_falls_back_visibly():
    model, status = create_classifier(ARCH, 4, 3, "/nonexistent.safetensors")
    assert status.fell_back and status.loaded == "random_init"
    assert status.requested == "/nonexistent.safetensors"
    assert "FileNotFoundError" in status.reason and "/nonexistent.safetensors" in status.reason
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)


def test_no_pretrained_weights_is_not_a_fallback():
    model, status = create_classifier(ARCH, 2, 1, "none")
    assert (status.fell_back, status.loaded, status.reason) == (False, "random_init", "")
    assert model.eval()(torch.zeros(1, 1, 64, 32)).shape == (1, 2)  # one-channel spectrogram input


def test_unknown_architecture():
    with pytest.raises(ValueError, match="no_such_net"):
        create_classifier("no_such_net", 2)


def _copy_bundle(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_bundle_with_extra_label_is_refused_with_both_counts(bundle_dir, tmp_path):
    d = _copy_bundle(bundle_dir[0], tmp_path / "b")
    raw = json.loads((d / META).read_text())
    raw["labels"].append("extra")
    (d / META).write_text(json.dumps(raw))
    with pytest.raises(BiodivError, match=r"lists 4 labels but the model outputs 3 classes"):
        Classifier.load(d)


def test_bundle_with_modified_weights_is_refused_with_both_digests(bundle_dir, tmp_path):
    d = _copy_bundle(bundle_dir[0], tmp_path / "b")
    data = bytearray((d / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (d / WEIGHTS).write_bytes(bytes(data))
    recorded = read_meta(d).weights_sha256
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(BiodivError) as err:
        Classifier.load(d)
    assert recorded in str(err.value) and actual in str(err.value)
