"""The ONNX inference path of images and recordings gives the PyTorch bundle's results without loading PyTorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.inference.detect import classify_windows
from models.learning.bundle import BundleMeta, Classifier, save_bundle
from models.learning.classifier import create_classifier
from models.learning.onnx_bundle import OnnxClassifier, export_onnx, load_classifier
from models.media.audio import AudioPreprocessing, mel_filterbank
from models.media.errors import BiodivError
from models.taxonomy.catalogue import Catalogue

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["Lithobates catesbeianus", "Sus scrofa", "blank"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A seeded random audio bundle (default preprocessing, temperature 1.7) and its ONNX export."""
    root = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(3)
    model, _ = create_classifier("mobilenetv3_small_050", len(LABELS), 1, "none")
    save_bundle(root / "bundle", model, BundleMeta(modality="audio", arch="mobilenetv3_small_050", in_chans=1,
                                                   labels=LABELS, preprocessing=dict(AudioPreprocessing().__dict__),
                                                   temperature=1.7))
    export_onnx(root / "bundle", root / "onnx")
    return root / "bundle", root / "onnx"


def _torch_reference(pre: AudioPreprocessing, windows: np.ndarray) -> np.ndarray:
    """The log-mel of ``torch.stft`` (the training-time implementation before the SciPy one)."""
    x = torch.from_numpy(windows)
    spec = torch.stft(x, pre.n_fft, pre.hop_length, window=torch.hann_window(pre.n_fft), center=True,
                      return_complex=True).abs().pow(2)
    fb = torch.from_numpy(mel_filterbank(pre.sample_rate_hz, pre.n_fft, pre.n_mels, pre.fmin_hz, pre.fmax_hz))
    db = 10.0 * torch.log10(torch.matmul(fb, spec) + 1e-10)
    return ((db - db.mean(dim=(1, 2), keepdim=True)) / (db.std(dim=(1, 2), keepdim=True) + 1e-3)).numpy()


def test_scipy_spectrogram_equals_torch_stft():
    pre = AudioPreprocessing()
    rng = np.random.default_rng(0)
    t = np.arange(66150) / 22050
    windows = np.stack([0.1 * rng.standard_normal(66150), 0.5 * np.sin(2 * np.pi * 3000 * t),
                        np.zeros(66150)]).astype(np.float32)
    ours, ref = pre.spectrograms(windows), _torch_reference(pre, windows)
    assert ours.shape == ref.shape == (3, 64, 130)
    # float32 rounding of near-zero power (bands far from the pure tone) moves a few cells by < 0.01
    np.testing.assert_allclose(ours, ref, atol=1e-2)
    assert np.abs(ours - ref).mean() < 1e-3
    assert np.isfinite(ours).all() and (ours[2] == 0).all()  # silence: zeros, never NaN
    assert pre.spectrograms(np.zeros((0, 66150), np.float32)).shape == (0, 64, 130)


def test_onnx_export_gives_the_bundles_probabilities(exported):
    bundle, onnx_dir = exported
    torch_clf, onnx_clf = Classifier.load(bundle), OnnxClassifier.load(onnx_dir)
    assert onnx_clf.labels == LABELS and onnx_clf.meta.model_version == torch_clf.meta.model_version
    rng = np.random.default_rng(1)
    for frames in (130, 44):  # dynamic time axis (shorter windows)
        x = rng.standard_normal((5, 1, 64, frames)).astype(np.float32)
        np.testing.assert_allclose(onnx_clf.predict(x, batch_size=2), torch_clf.predict(x), atol=1e-5)
    assert onnx_clf.predict(np.zeros((0, 1, 64, 130), np.float32)).shape == (0, 3)


def test_recording_through_onnx_equals_pytorch(exported, cases):
    bundle, onnx_dir = exported
    media = {"mediaID": "m", "modality": "audio", "timestamp": "2024-06-01T12:00:00+08:00"}
    path = cases / "BR-14.wav"
    a, ch_a = classify_windows(Classifier.load(bundle), media, path, Catalogue.load(), 3, channels="each")
    b, ch_b = classify_windows(OnnxClassifier.load(onnx_dir), media, path, Catalogue.load(), 3, channels="each")
    assert ch_a == ch_b == [0, 0, 1, 1]
    assert [(p.start_s, p.end_s, p.scientificName, p.observationType) for p in a] == [
        (p.start_s, p.end_s, p.scientificName, p.observationType) for p in b]
    np.testing.assert_allclose([p.classificationProbability for p in a], [p.classificationProbability for p in b],
                               atol=1e-5)


def test_not_an_export_is_a_clear_error(exported, tmp_path):
    bundle, _ = exported
    with pytest.raises(BiodivError, match="not an ONNX export"):
        OnnxClassifier.load(bundle)


def test_the_recording_path_loads_no_pytorch(exported, cases):
    _, onnx_dir = exported
    code = f"""
import sys
from pathlib import Path
from models.learning.onnx_bundle import OnnxClassifier
from models.taxonomy.catalogue import Catalogue
from pipeline.params import PredictAudioParams
from pipeline.stages import predict_audio
media = [{{"mediaID": "m", "deploymentID": "d", "stationID": "s", "filePath": "BR-16/normal_6s.wav",
          "modality": "audio", "timestamp": ""}}]
r = predict_audio.run(PredictAudioParams(), media, Path({str(cases)!r}), OnnxClassifier.load({str(onnx_dir)!r}),
                      Catalogue.load())
assert len(r["windows"]) == 2 and len(r["indices"]) == 1, r
loaded = sorted(m for m in ("torch", "timm", "librosa") if m in sys.modules)
print("LOADED", loaded)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LOADED []" in out.stdout


def test_tampered_export_is_refused_with_both_figures(exported, tmp_path):
    import json
    import shutil

    _, onnx_dir = exported
    labels = tmp_path / "labels"
    shutil.copytree(onnx_dir, labels)
    raw = json.loads((labels / "bundle.json").read_text())
    n = len(raw["labels"])
    raw["labels"].append("extra")
    (labels / "bundle.json").write_text(json.dumps(raw))
    with pytest.raises(BiodivError, match=rf"lists {n + 1} labels but the model outputs {n} classes"):
        OnnxClassifier.load(labels)
    weights = tmp_path / "weights"
    shutil.copytree(onnx_dir, weights)
    with open(weights / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BiodivError, match=r"SHA-256 is [0-9a-f]{64} but bundle.json records [0-9a-f]{64}"):
        OnnxClassifier.load(weights)


IMAGE_PRE = {"size_px": 48, "crop_top_frac": 0.0, "crop_bottom_frac": 0.0, "mean": [0.502] * 3, "std": [0.502] * 3}


@pytest.fixture(scope="module")
def exported_image(tmp_path_factory) -> tuple[Path, Path]:
    """A seeded random image bundle (48 px, the weights card's normalisation, temperature 1.3) and its export."""
    root = tmp_path_factory.mktemp("onnx_image")
    torch.manual_seed(5)
    model, _ = create_classifier("mobilenetv3_small_050", len(LABELS), 3, "none")
    save_bundle(root / "bundle", model, BundleMeta(modality="image", arch="mobilenetv3_small_050", in_chans=3,
                                                   labels=LABELS, preprocessing=dict(IMAGE_PRE), temperature=1.3,
                                                   decision={"blank_threshold": 0.7}))
    export_onnx(root / "bundle", root / "onnx")
    return root / "bundle", root / "onnx"


def test_image_export_gives_the_bundles_probabilities_and_decisions(exported_image):
    bundle, onnx_dir = exported_image
    torch_clf, onnx_clf = load_classifier(bundle), load_classifier(onnx_dir)
    assert isinstance(torch_clf, Classifier) and isinstance(onnx_clf, OnnxClassifier)
    assert onnx_clf.filterbank is None and not (onnx_dir / "mel.npy").exists()
    assert onnx_clf.meta.decision == {"blank_threshold": 0.7} and onnx_clf.meta.temperature == 1.3
    rng = np.random.default_rng(1)
    pre = onnx_clf.meta.image_preprocessing()
    batch = pre.normalise(rng.integers(0, 256, (40, 48, 48, 3), dtype=np.uint8))
    a, b = torch_clf.predict(batch), onnx_clf.predict(batch, batch_size=16)
    assert a.shape == b.shape == (40, 3)
    assert np.abs(a - b).max() < 1e-4
    assert (a.argmax(1) == b.argmax(1)).mean() == 1.0  # top-1 agreement


def test_session_threads_sleep_instead_of_spinning(exported_image):
    """Intra-op threads share the cores with the decode workers: idle ones must not spin."""
    opts = OnnxClassifier.load(exported_image[1], threads=2).session.get_session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_same_padding_is_exported_as_conv_pads(tmp_path):
    """TF-converted weights (``pad_type='same'``): the export has no run-time padding (no ``Pad``, no shape
    arithmetic) and still gives the PyTorch bundle's logits, including the asymmetric pads of strided convs."""
    import onnx

    from models.learning.onnx_bundle import static_same_padding

    torch.manual_seed(7)
    model, _ = create_classifier("mobilenetv3_small_050", len(LABELS), 3, "none", model_kwargs={"pad_type": "same"})
    save_bundle(tmp_path / "bundle", model, BundleMeta(modality="image", arch="mobilenetv3_small_050", in_chans=3,
                                                       labels=LABELS, preprocessing=dict(IMAGE_PRE),
                                                       model_kwargs={"pad_type": "same"}))
    export_onnx(tmp_path / "bundle", tmp_path / "onnx")
    ops = [n.op_type for n in onnx.load(tmp_path / "onnx" / "model.onnx").graph.node]
    assert "Pad" not in ops and "Shape" not in ops and "Ceil" not in ops
    pads = [list(a.ints) for n in onnx.load(tmp_path / "onnx" / "model.onnx").graph.node if n.op_type == "Conv"
            for a in n.attribute if a.name == "pads"]
    assert [0, 0, 1, 1] in pads  # stride 2, 3x3, even input: SAME pads only after, as TensorFlow does
    torch_clf, onnx_clf = Classifier.load(tmp_path / "bundle"), OnnxClassifier.load(tmp_path / "onnx")
    x = np.random.default_rng(3).standard_normal((6, 3, 48, 48)).astype(np.float32)
    with torch.no_grad():
        ref = torch_clf.model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(onnx_clf.logits(x), ref, atol=1e-4)
    assert static_same_padding(torch_clf.model, torch.from_numpy(x)) > 0  # in place, for the example's size
    with torch.no_grad():
        np.testing.assert_allclose(torch_clf.model(torch.from_numpy(x)).numpy(), ref, atol=1e-5)


def test_the_image_path_loads_no_pytorch(exported_image, tmp_path):
    import cv2

    _, onnx_dir = exported_image
    rng = np.random.default_rng(2)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    code = f"""
import sys
from pathlib import Path
from models.learning.onnx_bundle import load_classifier
from models.taxonomy.catalogue import Catalogue
from pipeline.params import PredictParams
from pipeline.stages import predict
media = [{{"mediaID": f"m{{i}}", "deploymentID": "d", "stationID": "s", "filePath": f"{{i}}.jpg", "modality": "image",
          "timestamp": ""}} for i in range(3)]
media.append({{"mediaID": "bad", "deploymentID": "d", "stationID": "s", "filePath": "bad.jpg", "modality": "image",
              "timestamp": ""}})
cam = predict.run_camera(PredictParams(decode_workers=0), media, Path({str(tmp_path)!r}),
                         load_classifier({str(onnx_dir)!r}), Catalogue.load())
assert len(cam.predictions) == 3 and [r.filePath for r in cam.rejected] == ["bad.jpg"], cam
loaded = sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules)
print("LOADED", loaded)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LOADED []" in out.stdout
