"""The field failure cases of ``../shared/cases`` (see its ``cases.json``) as tests of the product.

Each test names its case. Upload-API cases (BR-22's HTTP side, BR-24) are covered by the serve tests;
here BR-22 is checked at ingest level. BR-12 (video) is tested in full in ``tests/test_cases_images.py``;
BR-13 and BR-20 are only partly handled here: these tests check no crash, a reason per file, no time
read as UTC.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.ingest import ingest_stations, probe_media
from models.learning.bundle import BundleMeta, Classifier, save_bundle
from models.learning.classifier import create_classifier
from models.learning.split import sequence_groups
from models.media.audio import AudioPreprocessing, load_audio, probe_audio
from models.media.errors import MediaError
from models.media.imaging import DEFAULT_MAX_PIXELS, ImagePreprocessing, decode_image, load_image, read_image_info
from models.media.timestamps import parse_audiomoth_comment
from models.store.db import to_utc
from models.taxonomy.catalogue import Catalogue, read_name_list
from pipeline.params import PredictParams

ROOT = Path(__file__).resolve().parents[1]
ARCH = "mobilenetv3_small_050"


def _drop(tmp_path: Path, folders: dict[str, Path | list[Path]], timezone: str = "") -> Path:
    """A station drop whose deployments (one per folder name) hold copies of the given case files/folders."""
    root = tmp_path / "drop"
    root.mkdir()
    with open(root / "deployments.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["deploymentID", "stationID", "timezone"])
        for name in folders:
            w.writerow([name, "", timezone])
    for name, src in folders.items():
        if isinstance(src, Path) and src.is_dir():
            shutil.copytree(src, root / name)
        else:
            (root / name).mkdir()
            for f in src if isinstance(src, list) else [src]:
                shutil.copy(f, root / name / f.name)
    return root


# --- BR-01 truncated JPEG in a batch -------------------------------------------------------------------------


def test_br01_truncated_jpeg_is_a_per_file_failure(cases):
    for good in ("good_1.jpg", "good_2.jpg"):
        assert load_image(cases / "BR-01" / good).shape == (480, 640, 3)
    with pytest.raises(MediaError) as exc:
        load_image(cases / "BR-01" / "trunc_70pct.jpg")
    assert exc.value.reason == "truncated" and exc.value.path.endswith("trunc_70pct.jpg")


def test_br01_batch_indexes_the_good_files_and_lists_the_truncated_one(cases, tmp_path):
    records, rejected = ingest_stations(_drop(tmp_path, {"cam": cases / "BR-01"}))
    assert sorted(r.filePath for r in records) == ["cam/good_1.jpg", "cam/good_2.jpg"]
    assert [(r.filePath, r.reason) for r in rejected] == [("cam/trunc_70pct.jpg", "truncated")]


# --- BR-02 EXIF orientation ------------------------------------------------------------------------------------


def test_br02_displayed_geometry_and_marker(cases):
    data = (cases / "BR-02.jpg").read_bytes()
    info = read_image_info(data)
    assert (info.orientation, info.width_px, info.height_px) == (6, 120, 320)
    img = decode_image(data)
    assert img.shape == (320, 120, 3)
    marker = img[0:40, 80:120]
    assert marker.min() > 200  # white 40x40 marker at x in [80, 120), y in [0, 40)
    assert img[0:40, 0:40].mean() < 150 and img[280:320, 80:120].mean() < 150  # not at the other corners
    # the model input is made from the upright frame too
    pre = ImagePreprocessing(size_px=32)
    px = pre.pixels(data)
    assert px.shape == (32, 32, 3) and px[0:3, 24:32].min() > 200


def test_br02_upright_copy_is_not_rotated_twice(cases, tmp_path):
    img = decode_image((cases / "BR-02.jpg").read_bytes())
    out = tmp_path / "upright.jpg"
    Image.fromarray(img).save(out)  # a derived copy carries no Orientation tag
    again = load_image(out)
    assert again.shape == (320, 120, 3) and again[0:40, 80:120].min() > 190


# --- BR-03 no EXIF time ----------------------------------------------------------------------------------------


def test_br03_missing_exif_time_is_flagged_never_now(cases, tmp_path):
    records, rejected = ingest_stations(_drop(tmp_path, {"cam": cases / "BR-03.jpg"}, "Asia/Shanghai"))
    assert rejected == []
    (rec,) = records
    assert (rec.timestamp, rec.timestampIssues) == ("", "missing")
    assert decode_image((cases / "BR-03.jpg").read_bytes()).shape == (300, 400, 3)  # it is still classified


# --- BR-05 greyscale infrared ----------------------------------------------------------------------------------


def test_br05_greyscale_gives_three_equal_channels(cases):
    img = decode_image((cases / "BR-05.jpg").read_bytes())
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    assert ImagePreprocessing(size_px=32).pixels((cases / "BR-05.jpg").read_bytes()).shape == (32, 32, 3)


# --- BR-06 alpha channel ---------------------------------------------------------------------------------------


def test_br06_alpha_is_dropped_with_a_warning(cases, caplog):
    rgba = np.asarray(Image.open(cases / "BR-06.png").convert("RGBA"))
    with caplog.at_level(logging.WARNING, logger="models.media.imaging"):
        img = decode_image((cases / "BR-06.png").read_bytes(), "BR-06.png")
    assert img.shape == (192, 256, 3) and img.dtype == np.uint8
    opaque = rgba[..., 3] == 255
    assert opaque.any()
    np.testing.assert_array_equal(img[opaque], rgba[..., :3][opaque])
    assert any("alpha" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


# --- BR-08 192-megapixel image ---------------------------------------------------------------------------------


def test_br08_huge_image_rejected_before_decoding(cases):
    code = textwrap.dedent("""
        import resource, sys
        from pathlib import Path
        from models.media.errors import MediaError
        from models.media.imaging import decode_image
        data = Path(sys.argv[1]).read_bytes()
        reasons = []
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for limit in (89_478_485, 10**9):  # our limit, and one above Pillow's bomb limit
            try:
                decode_image(data, "huge.png", max_pixels=limit)
                reasons.append("decoded")
            except MediaError as exc:
                reasons.append(exc.reason)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(",".join(reasons), (after - before) * 1024)  # ru_maxrss is in KiB on Linux
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code, str(cases / "BR-08" / "huge_12000x16000.png")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reasons, growth = proc.stdout.split()
    assert reasons == "image_too_large,image_too_large"
    assert int(growth) < 500 * 1024 * 1024


def test_br08_batch_keeps_the_normal_image(cases, tmp_path):
    records, rejected = ingest_stations(_drop(tmp_path, {"cam": cases / "BR-08"}))
    assert [r.filePath for r in records] == ["cam/normal.jpg"]
    assert [(r.filePath, r.reason) for r in rejected] == [("cam/huge_12000x16000.png", "image_too_large")]
    assert rejected[0].detail.startswith(f"image exceeds the limit of {DEFAULT_MAX_PIXELS} px")
    assert decode_image((cases / "BR-08" / "normal.jpg").read_bytes(), max_pixels=DEFAULT_MAX_PIXELS).shape == (
        480, 640, 3)


# --- BR-10 same file name on two cards -------------------------------------------------------------------------


def test_br10_same_name_on_two_cards_gives_two_records(cases, tmp_path):
    root = tmp_path / "drop"
    shutil.copytree(cases / "BR-10", root)
    (root / "deployments.csv").write_text("deploymentID,stationID,timezone\nCardA,,\nCardB,,\n", encoding="utf-8")
    records, rejected = ingest_stations(root)
    assert rejected == []
    by = {r.filePath: r for r in records}
    a, b = by["CardA/DCIM/100MEDIA/IMG_0001.JPG"], by["CardB/DCIM/100MEDIA/IMG_0001.JPG"]
    assert len(records) == 2
    assert a.fileName == b.fileName == "IMG_0001.JPG"
    assert a.sha256 != b.sha256 and a.mediaID != b.mediaID
    assert (a.deploymentID, b.deploymentID) == ("CardA", "CardB")
    assert a.timestamp == "2024-05-01T08:00:00" and b.timestamp == "2024-05-03T19:30:00"
    assert a.timestampIssues == b.timestampIssues == "no_timezone"


# --- BR-12 video files (never fatal; frames, offsets and rejections: tests/test_cases_images.py) -----------------


def test_br12_video_files_never_abort_a_batch(cases, tmp_path):
    root = _drop(tmp_path, {"cam": [*sorted((cases / "BR-12").iterdir()), cases / "BR-01" / "good_1.jpg"]})
    records, rejected = ingest_stations(root)
    assert "cam/good_1.jpg" in {r.filePath for r in records}
    seen = {r.filePath for r in records} | {r.filePath for r in rejected}
    assert {f"cam/IMAG000{i}.AVI" for i in (1, 2, 3)} <= seen
    assert all(r.reason for r in rejected)


# --- BR-13 AudioMoth time (partly handled) -----------------------------------------------------------------------


def test_br13_audiomoth_comment_gives_time_with_its_utc_offset(cases, tmp_path):
    records, rejected = ingest_stations(_drop(tmp_path, {"moth": cases / "BR-13"}))
    (rec,) = records
    assert (rec.timestamp, rec.timestampIssues, rec.timestampSource) == ("2020-12-14T19:22:55-05:00", "", "audiomoth")
    assert to_utc(rec.timestamp) == datetime(2020, 12, 15, 0, 22, 55)  # the UTC date is the next day
    moth = parse_audiomoth_comment(probe_audio(cases / "BR-13" / "20201214_192255.WAV").comment)
    assert (moth.device_id, moth.gain, moth.battery_v, moth.temperature_c, moth.utc_offset) == (
        "24E144055DDD3203", "medium", 4.0, 24.5, "-05:00")


def test_audiomoth_comment_variants():
    head = "Recorded at 01:00:00 01/06/2023 "
    assert parse_audiomoth_comment(head + "(UTC+5:30) by AudioMoth 24E144055DDD3203").utc_offset == "+05:30"
    old = parse_audiomoth_comment(head + "(UTC) by AudioMoth 24e144055ddd3203")
    assert (old.utc_offset, old.device_id, old.gain, old.battery_v) == ("+00:00", "24E144055DDD3203", None, None)
    low = parse_audiomoth_comment(head + "(UTC+8) by AudioMoth 24E144055DDD3203 at high gain setting while battery "
                                  "state was less than 3.6V and temperature was -2.0C.")
    assert (low.utc_offset, low.gain, low.battery_v, low.temperature_c) == ("+08:00", "high", 3.6, -2.0)
    assert parse_audiomoth_comment("a field note") is None and parse_audiomoth_comment(None) is None


# --- BR-14 stereo recording ------------------------------------------------------------------------------------


def test_br14_stereo_is_probed_as_two_channels_and_mixed_down(cases):
    info = probe_audio(cases / "BR-14.wav")
    assert (info.channels, info.sample_rate_hz, info.frames) == (2, 48000, 240000)
    mono = load_audio(cases / "BR-14.wav")
    assert mono.samples.shape == (240000,) and mono.sample_rate_hz == 48000
    stereo = load_audio(cases / "BR-14.wav", mono=False)
    np.testing.assert_allclose(mono.samples, stereo.samples.mean(axis=0), atol=1e-7)
    assert probe_media(cases / "BR-14.wav")["channels"] == 2
    bounds, windows = AudioPreprocessing().windows(mono)
    assert bounds == [(0.0, 3.0), (3.0, 5.0)] and windows.shape == (2, 66150)


# --- BR-16 degenerate recordings --------------------------------------------------------------------------------


def test_br16_each_recording(cases):
    pre = AudioPreprocessing()
    with pytest.raises(MediaError) as exc:
        load_audio(cases / "BR-16" / "empty_0s.wav")
    assert exc.value.reason == "empty_audio"
    with pytest.raises(MediaError) as exc:
        probe_audio(cases / "BR-16" / "empty_0s.wav")
    assert exc.value.reason == "empty_audio"

    bounds, windows = pre.windows(load_audio(cases / "BR-16" / "short_1p2s.wav"))
    assert bounds == [(0.0, 1.2)] and windows.shape == (1, 66150)  # padded to 3 s, ends at 1.2 s
    assert (windows[0, 26460:] == 0).all()

    bounds, windows = pre.windows(load_audio(cases / "BR-16" / "silent_10s.wav"))
    spec = pre.spectrograms(windows)
    assert len(bounds) == 4 and np.isfinite(spec).all()
    assert pre.silent(windows).tolist() == [True] * 4  # digital silence: nothing to classify

    bounds, _ = pre.windows(load_audio(cases / "BR-16" / "normal_6s.wav"))
    assert bounds == [(0.0, 3.0), (3.0, 6.0)]


@pytest.fixture(scope="module")
def tiny_classifiers(tmp_path_factory) -> tuple[Classifier, Classifier]:
    """Randomly initialised (seeded) image and audio bundles, loaded as the predict stage loads them."""
    root = tmp_path_factory.mktemp("case_bundles")
    labels = ["Lithobates catesbeianus", "Sus scrofa", "blank"]
    torch.manual_seed(0)
    for modality, in_chans, pre in (("image", 3, {"size_px": 32, "mean": [0.485, 0.456, 0.406],
                                                  "std": [0.229, 0.224, 0.225]}),
                                    ("audio", 1, dict(AudioPreprocessing().__dict__))):
        model, _ = create_classifier(ARCH, len(labels), in_chans, "none")
        save_bundle(root / modality, model, BundleMeta(modality=modality, arch=ARCH, in_chans=in_chans,
                                                       labels=labels, preprocessing=pre))
    return Classifier.load(root / "image"), Classifier.load(root / "audio")


def test_br01_br08_predict_stage_batch(cases, tiny_classifiers):
    """One predict-stage batch over the bad and good images of BR-01, BR-05, BR-06 and BR-08 (the
    recordings of BR-16 go through the predict_audio stage: tests/test_cases_audio.py)."""
    from pipeline.stages import predict

    image_files = ["BR-01/good_1.jpg", "BR-01/trunc_70pct.jpg", "BR-01/good_2.jpg", "BR-05.jpg", "BR-06.png",
                   "BR-08/huge_12000x16000.png", "BR-08/normal.jpg"]
    media = [{"mediaID": f"m{i}", "deploymentID": "d", "stationID": "s", "filePath": f, "modality": "image",
              "timestamp": ""} for i, f in enumerate(image_files)]
    t0 = time.perf_counter()
    preds, rejected = predict.run(PredictParams(top_k=3, batch_size=4), media, cases, tiny_classifiers[0],
                                  Catalogue.load())
    assert time.perf_counter() - t0 < 60
    assert {(r["filePath"], r["reason"]) for r in rejected} == {
        ("BR-01/trunc_70pct.jpg", "truncated"), ("BR-08/huge_12000x16000.png", "image_too_large")}
    assert sorted(p.filePath for p in preds) == sorted(
        ["BR-01/good_1.jpg", "BR-01/good_2.jpg", "BR-05.jpg", "BR-06.png", "BR-08/normal.jpg"])
    for p in preds:
        assert math.isfinite(p.classificationProbability) and 0.0 <= p.classificationProbability <= 1.0
        assert all(math.isfinite(prob) for _, prob in json.loads(p.topK))


# --- BR-19 invasive list with stray whitespace -----------------------------------------------------------------


def test_br19_invasive_list_is_normalised(cases, caplog):
    with caplog.at_level(logging.WARNING, logger="models.taxonomy.catalogue"):
        names = read_name_list(cases / "BR-19" / "invasive_species.txt")
    assert len(names.names) == 6 and "" not in names.names
    assert names.skipped_lines == (5,)
    # lines differing from their cleaned form: 1 (trailing space), 2 (leading space), 4 (tab), 7 (CR)
    assert names.normalised == 4
    assert "blank line(s) 5" in caplog.text
    catalogue = Catalogue.load(extra_invasive=names.names)
    with open(cases / "BR-19" / "predictions.csv", newline="", encoding="utf-8") as fh:
        flags = {r["file"]: catalogue.is_invasive(r["scientific_name"]) for r in csv.DictReader(fh)}
    assert flags == {f"img_00{i}.jpg": i <= 6 for i in range(1, 9)}
    assert not catalogue.is_invasive("")


# --- BR-21 burst across midnight with a second camera ----------------------------------------------------------


def test_br21_sequences(cases):
    with open(cases / "BR-21" / "media.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    items = [{"deploymentID": r["deployment_id"], "timestamp": r["timestamp"], "fileName": Path(r["file"]).name}
             for r in rows]
    keys = sequence_groups(items, 60, 5)
    groups: dict[str, set[str]] = {}
    for r, k in zip(rows, keys, strict=True):
        groups.setdefault(k, set()).add(r["media_id"])
    assert sorted(map(sorted, groups.values())) == [["A-1", "A-2", "A-3"], ["A-4"], ["B-1"]]
    for k, ids in groups.items():
        assert len({r["deployment_id"] for r in rows if r["media_id"] in ids}) == 1, k
    # rows without a deployment are never merged, even at the same instant
    extra = items + [{"deploymentID": "", "timestamp": rows[0]["timestamp"], "fileName": "x.jpg"}] * 2
    keys = sequence_groups(extra, 60, 5)
    assert len({keys[-1], keys[-2], *keys[:-2]}) == len(set(keys[:-2])) + 2


# --- BR-22 same photo twice, different photo with the same name (ingest level) ---------------------------------


def test_br22_duplicates_at_ingest(cases, tmp_path):
    root = tmp_path / "drop"
    shutil.copytree(cases / "BR-22", root)
    (root / "deployments.csv").write_text("deploymentID,stationID,timezone\nupload_1,,\nupload_2,,\nupload_3,,\n",
                                          encoding="utf-8")
    records, rejected = ingest_stations(root)
    assert sorted(r.filePath for r in records) == ["upload_1/IMG_0001.JPG", "upload_3/IMG_0001.JPG"]
    assert [(r.filePath, r.reason) for r in rejected] == [("upload_2/IMG_0001.JPG", "duplicate")]
    assert "upload_1/IMG_0001.JPG" in rejected[0].detail
    assert len({r.mediaID for r in records}) == 2


# --- BR-25 long params in MLflow --------------------------------------------------------------------------------


def test_br25_long_class_list_is_logged_within_mlflow_limits(cases, tmp_path, monkeypatch, mlflow_store,
                                                            mlflow_uri_restored):
    import mlflow

    from pipeline.params import TrackingParams
    from pipeline.tracking import MAX_PARAM_CHARS, training_run

    monkeypatch.chdir(tmp_path)  # anything MLflow writes relative to the working directory lands here
    uri, artifacts = mlflow_store
    client = mlflow.MlflowClient(uri)
    client.create_experiment("br25", artifact_location=(artifacts / "br25").as_uri())
    params = json.loads((cases / "BR-25" / "params.json").read_text())
    with training_run(TrackingParams(uri=uri, experiment="br25", register_model=False), "br25", params,
                      {"case": "BR-25"}) as run:
        mlflow.log_metric("val_macro_f1", 0.5, step=1)
    logged = client.get_run(run.info.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.metrics == {"val_macro_f1": 0.5}
    assert logged.data.tags["case"] == "BR-25"
    values = logged.data.params
    assert all(len(v) <= MAX_PARAM_CHARS for v in values.values())
    assert len(json.dumps(params["class_names"])) > MAX_PARAM_CHARS
    assert "truncated" in values["class_names"] and "class_names.json" in values["class_names"]
    assert values["class_names"].startswith('["Vulpes vulpes", "Meles meles"')
    assert (values["learning_rate"], values["image_size"], values["augmentations"]) == (
        "0.0003", "384", params["augmentations"])
    full = mlflow.artifacts.load_dict(f"{logged.info.artifact_uri}/class_names.json")
    assert full == params["class_names"]
