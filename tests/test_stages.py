"""Typed params and the pure cores of the ingest, preprocess and split stages on a generated dataset."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from models.media.tables import read_csv
from models.taxonomy.catalogue import Catalogue
from pipeline.params import AudioPreParams, ImagePreParams, IngestParams, SplitParams, load_params
from pipeline.stages import ingest as ingest_stage
from pipeline.stages import preprocess, split

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_HEADER = ["file", "scientific_name", "station_hint", "datetime"]


def test_repo_params_validate():
    p = load_params(ROOT / "params.yaml")
    assert p.preprocess.image.size_px >= 32
    assert p.preprocess.audio.hop_s <= p.preprocess.audio.window_s
    assert p.split.test_frac > 0
    assert p.train.image.arch and p.train.audio.arch


def _write_params(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    edit(raw)
    out = tmp_path / "params.yaml"
    out.write_text(yaml.safe_dump(raw))
    return out


@pytest.mark.parametrize(("edit", "where"), [
    (lambda r: r["ingest"].update(max_pixel=5), "max_pixel"),  # misspelt key
    (lambda r: r.update(extra_section={}), "extra_section"),
    (lambda r: r["train"]["image"].update(learning_rate=0.1), "learning_rate"),
    (lambda r: r["preprocess"]["image"].update(size_px=16), "size_px"),  # below 32
    (lambda r: r["preprocess"]["audio"].update(hop_s=5.0, window_s=3.0), "hop_s"),
    (lambda r: r["preprocess"]["audio"].update(fmin_hz=9000.0, fmax_hz=8000.0), "fmin_hz"),
    (lambda r: r.pop("split"), "split"),
])
def test_invalid_params_are_rejected(tmp_path, edit, where):
    with pytest.raises(ValidationError, match=where):
        load_params(_write_params(tmp_path, edit))


def test_params_are_frozen():
    p = IngestParams()
    with pytest.raises(ValidationError):
        p.max_pixels = 5


@pytest.fixture()
def raw(tmp_path, media, write_csv) -> Path:
    """``data/raw``-like tree: labelled images and recordings plus a station drop."""
    raw = tmp_path / "raw"
    ct = raw / "camera_traps"
    (ct / "img").mkdir(parents=True)
    images = [  # file, label, station_hint, EXIF time
        ("img/b1.jpg", "Sus scrofa", "S1", "2024:05:01 08:00:00"),
        ("img/b2.jpg", "Sus scrofa", "S1", "2024:05:01 08:00:10"),  # same burst as b1
        ("img/b3.jpg", "Sus scrofa", "S1", "2024:05:01 09:00:00"),
        ("img/f1.jpg", "Lithobates catesbeianus", "", None),
        ("img/f2.jpg", "Lithobates catesbeianus", "", None),
        ("img/e1.jpg", "", "S2", None),
    ]
    for i, (name, _, _, taken) in enumerate(images):
        (ct / name).write_bytes(media.exif_jpeg(48, 40, rgb=(20 * i, 100, 200 - 20 * i), taken=taken))
    noisy = media.jpeg(256, 256, noise_seed=9)
    (ct / "img/cut.jpg").write_bytes(noisy[: len(noisy) // 2])
    write_csv(ct / "manifest.csv", MANIFEST_HEADER,
              [[f, lb, st, ""] for f, lb, st, _ in images] + [["img/cut.jpg", "Sus scrofa", "S1", ""]])

    ac = raw / "acoustic"
    for i in range(3):
        media.wav(ac / f"frog{i}.wav", 2.0, freq_hz=300 + 100 * i)
    media.wav(ac / "peeper.wav", 2.0, freq_hz=2500)
    media.wav(ac / "silence.wav", 0.0)
    write_csv(ac / "manifest.csv", MANIFEST_HEADER,
              [[f"frog{i}.wav", "Lithobates catesbeianus", "", ""] for i in range(3)]
              + [["peeper.wav", "Pseudacris crucifer", "", ""], ["silence.wav", "Lithobates catesbeianus", "", ""]])

    st = raw / "stations"
    write_csv(st / "deployments.csv", ["deploymentID", "stationID", "timezone"], [["s1-cam", "s1", "Asia/Shanghai"]])
    (st / "s1" / "cam").mkdir(parents=True)
    (st / "s1" / "cam" / "a.jpg").write_bytes(media.exif_jpeg(32, 32, taken="2024:06:01 12:00:00"))
    media.wav(st / "s1" / "cam" / "r_20240601_120000.wav", 1.0)
    (st / "lost.jpg").write_bytes(media.jpeg(8, 8))
    return raw


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_ingest_preprocess_split_stage_cores(tmp_path, raw):
    interim = tmp_path / "interim"
    summary = ingest_stage.run(IngestParams(), raw, interim, Catalogue.load())
    assert summary == {
        "camera_traps": {"media": 6, "rejected": 1, "rejected_by_reason": {"truncated": 1}},
        "acoustic": {"media": 4, "rejected": 1, "rejected_by_reason": {"empty_audio": 1}},
        "stations": {"media": 2, "rejected": 1, "rejected_by_reason": {"unknown_deployment": 1}},
    }
    for name, n in (("camera_traps", 6), ("acoustic", 4), ("stations", 2)):
        assert len(_rows(interim / name / "media.csv")) == n
        assert (interim / name / "rejected.csv").is_file()
    assert _rows(interim / "camera_traps" / "rejected.csv")[0]["filePath"] == "img/cut.jpg"
    station_ts = {r["fileName"]: r["timestamp"] for r in _rows(interim / "stations" / "media.csv")}
    assert station_ts == {"a.jpg": "2024-06-01T12:00:00+08:00", "r_20240601_120000.wav": "2024-06-01T12:00:00+08:00"}

    # images: 6 frames, 32 px after cropping 10 % top and bottom
    processed = tmp_path / "processed"
    img_p = ImagePreParams(size_px=32, crop_top_frac=0.1, crop_bottom_frac=0.1)
    s_img = preprocess.run_images(img_p, 89_478_485, interim / "camera_traps" / "media.csv", raw / "camera_traps",
                                  processed / "images")
    assert s_img == {"items": 6, "rejected": 0,
                     "per_label": {"Sus scrofa": 3, "Lithobates catesbeianus": 2, "blank": 1}}
    pixels = np.load(processed / "images" / "pixels.npy")
    assert pixels.shape == (6, 32, 32, 3) and pixels.dtype == np.uint8
    index = _rows(processed / "images" / "index.csv")
    assert list(index[0]) == preprocess.IMAGE_INDEX and len(index) == 6
    config = json.loads((processed / "images" / "config.json").read_text())
    assert (config["size_px"], config["crop_top_frac"], config["crop_bottom_frac"]) == (32, 0.1, 0.1)

    # audio: Pseudacris has 1 recording (< 3): excluded; 3 frog recordings of 2 s in 1 s windows -> 6 windows
    aud_p = AudioPreParams(sample_rate_hz=8000, window_s=1.0, hop_s=1.0, min_tail_s=0.5, n_fft=256, hop_length=64,
                           n_mels=16, fmin_hz=50.0, fmax_hz=4000.0, min_recordings_per_label=3)
    s_aud = preprocess.run_audio(aud_p, interim / "acoustic" / "media.csv", raw / "acoustic", processed / "audio")
    assert s_aud == {"windows": 6, "silent_windows_dropped": 0, "recordings": 3, "rejected": 0,
                     "excluded_labels": ["Pseudacris crucifer"]}
    specs = np.load(processed / "audio" / "spectrograms.npy")
    assert specs.shape == (6, 16, 1 + 8000 // 64) and specs.dtype == np.float16
    assert np.isfinite(specs).all()
    a_index = _rows(processed / "audio" / "index.csv")
    assert [(r["start_s"], r["end_s"]) for r in a_index[:2]] == [("0.0", "1.0"), ("1.0", "2.0")]
    assert json.loads((processed / "audio" / "config.json").read_text())["n_mels"] == 16

    # split: b1+b2 form one sequence (10 s apart), b3 another (1 h later); frames without a station hint and
    # the blank frame are single groups. Every label has < 3 groups, so everything stays in train.
    sp = SplitParams(seed=1, val_frac=0.15, test_frac=0.2, sequence_gap_s=60, sequence_gap_frames=5)
    images = split.split_images(sp, read_csv(processed / "images" / "index.csv"))
    by_file = {r["fileName"]: r for r in read_csv(processed / "images" / "index.csv")}
    groups = {r["mediaID"]: r["group"] for r in images}
    assert groups[by_file["b1.jpg"]["mediaID"]] == groups[by_file["b2.jpg"]["mediaID"]] == "S1#0"
    assert groups[by_file["b3.jpg"]["mediaID"]] == "S1#1"
    assert len(set(groups.values())) == 5
    assert Counter(r["split"] for r in images) == {"train": 6}
    # whole deployments instead of sequences: b1, b2, b3 share deployment S1; the others stay single
    by_dep = split.split_images(sp.model_copy(update={"image_groups": "deployment"}),
                                read_csv(processed / "images" / "index.csv"))
    dep_groups = {r["mediaID"]: r["group"] for r in by_dep}
    assert {dep_groups[by_file[f]["mediaID"]] for f in ("b1.jpg", "b2.jpg", "b3.jpg")} == {"S1"}
    assert len(set(dep_groups.values())) == 4

    # audio: each recording is a group (its windows never straddle splits); 3 groups -> one per split
    audio = split.split_audio(sp, a_index)
    assert len(audio) == 3 and len({r["group"] for r in audio}) == 3
    assert sorted(r["split"] for r in audio) == ["test", "train", "val"]
    assert list(audio[0]) == split.FIELDS


def test_preprocess_images_lists_files_that_vanished(tmp_path, media, write_csv):
    root = tmp_path / "ct"
    root.mkdir()
    (root / "ok.jpg").write_bytes(media.jpeg(40, 40))
    write_csv(tmp_path / "media.csv", ["mediaID", "label", "deploymentID", "timestamp", "fileName", "filePath"], [
        ["m1", "Sus scrofa", "", "", "ok.jpg", "ok.jpg"], ["m2", "Sus scrofa", "", "", "gone.jpg", "gone.jpg"]])
    s = preprocess.run_images(ImagePreParams(size_px=32), 89_478_485, tmp_path / "media.csv", root, tmp_path / "out")
    assert (s["items"], s["rejected"]) == (1, 1)
    assert _rows(tmp_path / "out" / "rejected.csv")[0]["reason"] == "unreadable"


def _image_bundle(directory: Path, labels: list[str]) -> None:
    import torch

    from models.learning.bundle import BundleMeta, save_bundle
    from models.learning.classifier import create_classifier

    torch.manual_seed(0)
    model, _ = create_classifier("mobilenetv3_small_050", len(labels), 3, "none")
    save_bundle(directory, model, BundleMeta(modality="image", arch="mobilenetv3_small_050", in_chans=3,
                                             labels=labels, preprocessing={"size_px": 32, "mean": [0.5] * 3,
                                                                           "std": [0.25] * 3}))


@pytest.mark.parametrize(("splits", "n_test"), [
    (["train", "train", "train", "train"], 0),  # small runs: every label has < 3 groups, the test split is empty
    (["train", "test", "test", "test"], 2),  # the unknown label's test item is not scored
])
def test_evaluate_stage(tmp_path, write_csv, splits, n_test):
    from pipeline.stages import evaluate

    labels = ["Lithobates catesbeianus", "Sus scrofa"]
    _image_bundle(tmp_path / "bundle", labels)
    processed = tmp_path / "processed"
    (processed / "images").mkdir(parents=True)
    np.save(processed / "images" / "pixels.npy", np.full((4, 32, 32, 3), 128, np.uint8))
    item_labels = ["Sus scrofa", "Lithobates catesbeianus", "Sus scrofa", "Vulpes vulpes"]
    write_csv(processed / "images" / "index.csv", ["mediaID", "label"],
              [[f"m{i}", lb] for i, lb in enumerate(item_labels)])
    write_csv(processed / "splits" / "images.csv", ["mediaID", "label", "group", "split"],
              [[f"m{i}", lb, f"g{i}", s] for i, (lb, s) in enumerate(zip(item_labels, splits, strict=True))])
    metrics, pairs = evaluate.run("image", tmp_path / "bundle", processed, Catalogue.load())
    assert metrics["test"]["n"] == len(pairs) == n_test
    assert metrics["invasive_labels"] == ["Lithobates catesbeianus"]
    if n_test == 0:
        assert (metrics["test"]["macro_f1"], metrics["test"]["accuracy"], metrics["invasive_recall"]) == (0.0, 0.0,
                                                                                                        None)
    else:
        assert [a for a, _ in pairs] == ["Lithobates catesbeianus", "Sus scrofa"]
        assert set(metrics["test"]["per_class"]) == set(labels)
        # all test images are identical, so both get the same prediction: accuracy is exactly 1/2
        assert metrics["test"]["accuracy"] == 0.5
        assert metrics["invasive_recall"] in (0.0, 1.0)


def test_preprocess_audio_drops_silent_windows(tmp_path, write_csv):
    import soundfile as sf

    root = tmp_path / "ac"
    root.mkdir()
    t = np.arange(8000) / 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    for i in range(3):  # 1 s tone, 1 s digital silence, 1 s tone -> windows 0-1 and 2-3 kept, 1-2 dropped
        sf.write(str(root / f"r{i}.wav"), np.concatenate([tone, np.zeros(8000), tone]).astype(np.float32), 8000)
    write_csv(tmp_path / "media.csv", ["mediaID", "label", "deploymentID", "filePath"],
              [[f"m{i}", "Lithobates catesbeianus", "", f"r{i}.wav"] for i in range(3)])
    p = AudioPreParams(sample_rate_hz=8000, window_s=1.0, hop_s=1.0, min_tail_s=0.5, n_fft=256, hop_length=64,
                       n_mels=16, fmin_hz=50.0, fmax_hz=4000.0, min_recordings_per_label=3, silence_dbfs=-70.0)
    summary = preprocess.run_audio(p, tmp_path / "media.csv", root, tmp_path / "out")
    assert (summary["windows"], summary["silent_windows_dropped"]) == (6, 3)
    index = read_csv(tmp_path / "out" / "index.csv")
    assert [(r["mediaID"], r["start_s"]) for r in index[:2]] == [("m0", "0.0"), ("m0", "2.0")]
    assert np.load(tmp_path / "out" / "spectrograms.npy").shape[0] == 6
