"""Camera-trap image and video field cases (BR-12 video, and the whole kind of each image case).

BR-01/02/03/05/06/08/10/21 have their file-level tests in ``tests/test_cases.py``; here are video
(BR-12), the rest of each kind on generated media (16-bit, CMYK, content-not-extension, non-ASCII
paths, implausible and corrected times, truncated PNG), events, blanks and info strips.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.inference.events import aggregate, build_events, group_events
from models.ingest import ingest_stations
from models.learning.metrics import binary_scores
from models.media.errors import MediaError
from models.media.imaging import ImagePreprocessing, decode_image, mask_strips
from models.media.timestamps import localise
from models.media.video import probe_video, sample_frames
from models.taxonomy.catalogue import Catalogue
from pipeline.params import DeploymentSettings, PredictParams, deployment_settings

NOW = datetime(2025, 1, 1)
ARCH = "mobilenetv3_small_050"
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


@pytest.fixture(scope="module")
def tiny_classifiers(tmp_path_factory):
    """A randomly initialised (seeded) image bundle, loaded as the predict stage loads it (in a 1-tuple)."""
    import torch

    from models.learning.bundle import BundleMeta, Classifier, save_bundle
    from models.learning.classifier import create_classifier

    root = tmp_path_factory.mktemp("image_bundle")
    torch.manual_seed(0)
    labels = ["Lithobates catesbeianus", "Sus scrofa", "blank"]
    model, _ = create_classifier(ARCH, len(labels), 3, "none")
    save_bundle(root, model, BundleMeta(modality="image", arch=ARCH, in_chans=3, labels=labels,
                                        preprocessing={"size_px": 32, "mean": [0.485, 0.456, 0.406],
                                                       "std": [0.229, 0.224, 0.225]}))
    return (Classifier.load(root),)


def _drop(tmp_path: Path, files: dict[str, bytes | Path], deployments: list[dict]) -> Path:
    root = tmp_path / "drop"
    root.mkdir()
    with open(root / "deployments.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["deploymentID", "stationID", "timezone", "deploymentStart", "deploymentEnd"])
        w.writeheader()
        w.writerows(deployments)
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, root / rel)
        else:
            (root / rel).write_bytes(content)
    return root


def _jpeg(colour=(90, 120, 60), size=(64, 48), when: str | None = None, offset: str | None = None,
          mode: str = "RGB") -> bytes:
    im = Image.new("RGB", size, colour)
    if mode != "RGB":
        im = im.convert(mode)
    exif = Image.Exif()
    if when:
        exif.get_ifd(0x8769)[36867] = when
    if offset:
        exif.get_ifd(0x8769)[36881] = offset
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, exif=exif.tobytes() if (when or offset) else b"")
    return buf.getvalue()


# --- BR-12 video ------------------------------------------------------------------------------------------------


def test_br12_mjpeg_avi_frames_have_their_true_colours(cases):
    frames = sample_frames(cases / "BR-12" / "IMAG0001.AVI", rate_hz=100)
    assert [f.time_s for f in frames] == [0.0, 0.2, 0.4, 0.6, 0.8]
    for f, name in zip(frames, ["red", "green", "blue", "green", "blue"], strict=True):
        assert f.pixels.shape == (120, 160, 3)
        assert np.all(np.abs(f.pixels.reshape(-1, 3).mean(0) - COLOURS[name]) <= 25), name


def test_br12_sampling_rate_and_prepare(cases):
    pre = ImagePreprocessing(size_px=32)
    frames = sample_frames(cases / "BR-12" / "IMAG0001.AVI", rate_hz=2.0, prepare=pre.frame_pixels)
    assert [f.time_s for f in frames] == [0.0, 0.6]  # 5 fps: first frame at or after 0.5 s is at 0.6 s
    assert frames[0].pixels.shape == (32, 32, 3)
    assert len(sample_frames(cases / "BR-12" / "IMAG0001.AVI", rate_hz=100, max_frames=2)) == 2
    with pytest.raises(ValueError):
        sample_frames(cases / "BR-12" / "IMAG0001.AVI", rate_hz=0)


def test_br12_empty_avi_is_no_frames_not_an_exception_of_the_batch(cases):
    with pytest.raises(MediaError) as err:
        probe_video(cases / "BR-12" / "IMAG0002.AVI")
    assert err.value.reason == "no_frames"
    info = probe_video(cases / "BR-12" / "IMAG0003.AVI")
    assert (info.width_px, info.height_px, info.frame_count, info.duration_s) == (160, 120, 3, 0.6)


def _abort(_frame):  # a native crash inside the decoder process
    os.abort()


def test_br12_a_crashing_decoder_is_one_rejection(cases):
    with pytest.raises(MediaError) as err:
        sample_frames(cases / "BR-12" / "IMAG0003.AVI", prepare=_abort)
    assert err.value.reason == "decoder_crashed"
    assert len(sample_frames(cases / "BR-12" / "IMAG0003.AVI", rate_hz=100)) == 3  # the next call works


def test_br12_ingest_recognises_videos_by_content(cases, tmp_path):
    files = {f"cam/{n}": cases / "BR-12" / n for n in ("IMAG0001.AVI", "IMAG0002.AVI", "IMAG0003.AVI")}
    files["cam/clip_named_like_a_photo.jpg"] = cases / "BR-12" / "IMAG0003.AVI"
    files["cam/IMAG0003_copy.bin"] = (cases / "BR-12" / "IMAG0001.AVI").read_bytes() + b"\x00" * 4
    root = _drop(tmp_path, files, [{"deploymentID": "cam", "timezone": "Asia/Shanghai"}])
    records, rejected = ingest_stations(root)
    by_path = {r.filePath: r for r in records}
    assert by_path["cam/IMAG0001.AVI"].modality == "video"
    assert by_path["cam/IMAG0001.AVI"].fileMediatype == "video/x-msvideo"
    assert (by_path["cam/IMAG0001.AVI"].width_px, by_path["cam/IMAG0001.AVI"].duration_s) == (160, 1.0)
    assert by_path["cam/IMAG0001.AVI"].timestampIssues == "missing"
    assert {(r.filePath, r.reason) for r in rejected} == {
        ("cam/IMAG0002.AVI", "no_frames"), ("cam/clip_named_like_a_photo.jpg", "duplicate")}
    assert by_path["cam/IMAG0003_copy.bin"].modality == "video"  # an AVI by content, whatever its name


def test_br12_predict_stage_classifies_frames_with_their_offsets(cases, tiny_classifiers, tmp_path):
    from pipeline.stages import predict

    media = [{"mediaID": f"v{i}", "deploymentID": "cam", "stationID": "s", "filePath": f"BR-12/IMAG000{i}.AVI",
              "modality": "video", "timestamp": "2024-06-01T23:59:59+08:00", "timestampIssues": "",
              "duration_s": "1.0"} for i in (1, 2, 3)]
    media.append({"mediaID": "i1", "deploymentID": "cam", "stationID": "s", "filePath": "BR-01/good_1.jpg",
                  "modality": "image", "timestamp": "2024-06-02T00:00:30+08:00", "timestampIssues": ""})
    p = PredictParams(video_frame_rate_hz=5.0, decode_workers=0)
    res = predict.run_camera(p, media, cases, tiny_classifiers[0], Catalogue.load())
    assert [(r.filePath, r.reason) for r in res.rejected] == [("BR-12/IMAG0002.AVI", "no_frames")]
    spans = {}
    for pr in res.predictions:
        spans.setdefault(pr.filePath, []).append(pr.start_s)
        assert pr.start_s == pr.end_s
    assert spans == {"BR-01/good_1.jpg": [0.0], "BR-12/IMAG0001.AVI": [0.0, 0.2, 0.4, 0.6, 0.8],
                     "BR-12/IMAG0003.AVI": [0.0, 0.2, 0.4]}
    v1 = [pr for pr in res.predictions if pr.mediaID == "v1"]
    assert v1[1].eventStart == "2024-06-01T23:59:59.200000+08:00"
    # both videos (same start) and the photo 29 s after the first video's end form one event across midnight
    assert len(res.events) == 1 and res.events[0].mediaCount == 3 and res.events[0].frameCount == 9
    assert {pr.eventID for pr in res.predictions} == {res.events[0].eventID}
    assert res.events[0].eventStart == "2024-06-01T23:59:59+08:00"
    assert res.events[0].eventEnd == "2024-06-02T00:00:30+08:00"


# --- image kinds: 16-bit, CMYK, content not extension, non-ASCII paths, truncated PNG -----------------------------


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    arr = np.zeros((20, 30, 3), np.uint16)
    arr[..., 0], arr[..., 1], arr[..., 2] = 65535, 32896, 0  # 32896 = 128 * 257
    import cv2

    ok, buf = cv2.imencode(".png", arr[..., ::-1])
    assert ok
    img = decode_image(buf.tobytes(), "sixteen.png")
    assert img.dtype == np.uint8 and img.shape == (20, 30, 3)
    assert tuple(img[0, 0]) == (255, 128, 0)
    grey16 = np.full((10, 10), 65535, np.uint16)
    assert tuple(decode_image(cv2.imencode(".png", grey16)[1].tobytes())[0, 0]) == (255, 255, 255)


def test_cmyk_jpeg_decodes_to_rgb():
    data = _jpeg((200, 40, 40), mode="CMYK")
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    img = decode_image(data, "cmyk.jpg")
    assert img.shape == (48, 64, 3)
    assert np.all(np.abs(img.reshape(-1, 3).mean(0) - (200, 40, 40)) <= 12)
    assert ImagePreprocessing(size_px=16).pixels(data).shape == (16, 16, 3)


def test_format_is_taken_from_content_not_extension(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(buf, "PNG")
    files = {"cam/photo.jpg": buf.getvalue(), "cam/photo.png": _jpeg(), "cam/notes.jpg": b"just text, no image\n"}
    records, rejected = ingest_stations(_drop(tmp_path, files, [{"deploymentID": "cam"}]))
    assert {r.filePath: r.fileMediatype for r in records} == {"cam/photo.jpg": "image/png",
                                                               "cam/photo.png": "image/jpeg"}
    assert rejected[0].filePath == "cam/notes.jpg" and rejected[0].reason in {"unsupported_format", "corrupt"}


def test_non_ascii_paths(tmp_path):
    files = {"相机-1/白天 ü/IMG_0001.JPG": _jpeg(when="2024:05:01 08:00:00")}
    root = _drop(tmp_path, files, [{"deploymentID": "相机-1", "timezone": "Asia/Shanghai"}])
    records, rejected = ingest_stations(root)
    assert not rejected
    assert records[0].filePath == "相机-1/白天 ü/IMG_0001.JPG"
    assert records[0].timestamp == "2024-05-01T08:00:00+08:00"
    pre = ImagePreprocessing(size_px=16)
    assert pre.pixels_from_file(root / records[0].filePath).shape == (16, 16, 3)


def test_truncated_png_is_rejected():
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "PNG")
    with pytest.raises(MediaError) as err:
        decode_image(buf.getvalue()[: len(buf.getvalue()) * 2 // 3], "cut.png")
    assert err.value.reason in {"truncated", "corrupt"}


# --- timestamps: EXIF offset, deployment zone, clock correction, implausible times ----------------------------------


def test_exif_offset_wins_and_deployment_zone_fills_in(tmp_path):
    files = {"cam/a.jpg": _jpeg(when="2024:05:01 08:00:00", offset="+02:00"),
             "cam/b.jpg": _jpeg((1, 2, 3), when="2024:05:01 08:00:00")}
    records, _ = ingest_stations(_drop(tmp_path, files, [{"deploymentID": "cam", "timezone": "Asia/Shanghai"}]))
    assert {r.fileName: (r.timestamp, r.timestampSource) for r in records} == {
        "a.jpg": ("2024-05-01T08:00:00+02:00", "exif"), "b.jpg": ("2024-05-01T08:00:00+08:00", "exif")}


def test_clock_reset_and_future_times_are_flagged_never_used(tmp_path):
    files = {"cam/reset.jpg": _jpeg(when="2000:01:01 00:00:07"),
             "cam/future.jpg": _jpeg((3, 3, 3), when="2099:01:01 00:00:00"),
             "cam/ok.jpg": _jpeg((5, 5, 5), when="2024:05:01 08:00:00"),
             "cam/before.jpg": _jpeg((7, 7, 7), when="2024:03:01 08:00:00")}
    deps = [{"deploymentID": "cam", "timezone": "Asia/Shanghai", "deploymentStart": "2024-04-01T00:00:00+08:00",
             "deploymentEnd": "2024-06-01T00:00:00+08:00"}]
    records, _ = ingest_stations(_drop(tmp_path, files, deps))
    issues = {r.fileName: r.timestampIssues for r in records}
    # a time outside the deployment is flagged so even when it is also implausible (issue 14)
    assert issues == {"reset.jpg": "implausible;outside_deployment", "future.jpg": "implausible;outside_deployment",
                      "ok.jpg": "", "before.jpg": "outside_deployment"}
    # the flagged times never become detection or event times
    media = [{"mediaID": r.mediaID, "deploymentID": "cam", "timestamp": r.timestamp,
              "timestampIssues": r.timestampIssues, "modality": "image"} for r in records]
    keys = group_events(media, 60)
    assert len(set(keys)) == 4


def test_clock_correction_per_deployment(tmp_path):
    files = {"slow/a.jpg": _jpeg(when="2024:05:01 23:30:00"),
             "right/a.jpg": _jpeg((9, 9, 9), when="2024:05:01 23:30:00")}
    deps = [{"deploymentID": d, "timezone": "Asia/Shanghai"} for d in ("slow", "right")]
    records, _ = ingest_stations(_drop(tmp_path, files, deps), clock_offsets_s={"slow": 3600})
    assert {r.deploymentID: r.timestamp for r in records} == {"slow": "2024-05-02T00:30:00+08:00",
                                                              "right": "2024-05-01T23:30:00+08:00"}
    assert localise(datetime(2000, 1, 1, 0, 0, 5), None, "Asia/Shanghai", NOW,
                    clock_offset_s=(datetime(2024, 5, 1) - datetime(2000, 1, 1)).total_seconds()) == (
        "2024-05-01T00:00:05+08:00", "")  # a known reset corrected: plausible again


def test_deployment_settings_fall_through_to_default():
    deps = {"default": DeploymentSettings(clock_offset_s=0, strip_mode="mask"),
            "cam-1": DeploymentSettings(clock_offset_s=-30)}
    s = deployment_settings(deps, "cam-1")
    assert (s.clock_offset_s, s.strip_mode, s.strip_top_frac) == (-30, "mask", None)
    assert deployment_settings(deps, "other").clock_offset_s == 0
    assert deployment_settings({}, "x") == DeploymentSettings()


# --- info strips --------------------------------------------------------------------------------------------------


def test_info_strip_crop_or_mask_per_deployment():
    img = np.full((100, 40, 3), 50, np.uint8)
    img[:10] = 255  # a white data strip at the top
    masked = mask_strips(img, 0.1, 0.0)
    assert masked.shape == img.shape and tuple(masked[0, 0]) == (124, 116, 104) and tuple(masked[50, 0]) == (50,) * 3
    assert img[0, 0, 0] == 255  # the input is untouched
    crop = ImagePreprocessing(size_px=20, crop_top_frac=0.1)
    assert crop.frame_pixels(img).max() == 50  # strip gone
    assert ImagePreprocessing(size_px=20, crop_top_frac=0.1, strip_mode="none").frame_pixels(img).max() == 255
    with pytest.raises(ValueError):
        ImagePreprocessing(size_px=20, strip_mode="blur")


def test_strip_preprocessing_from_params():
    from pipeline.stages.predict import strip_preprocessing

    base = ImagePreprocessing(size_px=64, crop_top_frac=0.04, crop_bottom_frac=0.04)
    deps = {"cam-b": DeploymentSettings(strip_mode="mask", strip_bottom_frac=0.1)}
    out = strip_preprocessing(base, deps, {"cam-a", "cam-b"})
    assert out["cam-a"] == base
    assert (out["cam-b"].strip_mode, out["cam-b"].crop_top_frac, out["cam-b"].crop_bottom_frac) == ("mask", 0.04, 0.1)


def test_reduced_decode_scale_follows_the_model_input():
    assert ImagePreprocessing(size_px=128, crop_top_frac=0.04, crop_bottom_frac=0.04).decode_target_px == 557
    assert ImagePreprocessing(size_px=128, crop_top_frac=0.04, crop_bottom_frac=0.04,
                              decode_oversample=2.0).decode_target_px == 279
    assert ImagePreprocessing(size_px=128, decode_oversample=1.0).decode_target_px == 128
    data = _jpeg(size=(1600, 1200))
    assert decode_image(data, target_px=279).shape == (300, 400, 3)  # 1/4 keeps >= 279 px
    assert decode_image(data, target_px=128).shape == (150, 200, 3)  # 1/8


# --- events and blanks --------------------------------------------------------------------------------------------


def test_events_group_by_gap_per_deployment_across_midnight():
    media = [{"mediaID": m, "deploymentID": d, "timestamp": t, "timestampIssues": ""} for m, d, t in [
        ("A-1", "A", "2024-06-01T23:59:58+02:00"), ("A-2", "A", "2024-06-01T23:59:59+02:00"),
        ("B-1", "B", "2024-06-02T00:00:00+02:00"), ("A-3", "A", "2024-06-02T00:00:01+02:00"),
        ("A-4", "A", "2024-06-02T00:10:00+02:00"), ("A-5", "A", "2024-06-01T22:00:00Z")]]  # = 2024-06-02T00:00:00+02:00
    media.append({"mediaID": "X", "deploymentID": "", "timestamp": "2024-06-02T00:00:00+02:00", "timestampIssues": ""})
    media.append({"mediaID": "N", "deploymentID": "A", "timestamp": "", "timestampIssues": "missing"})
    keys = group_events(media, 60)
    groups: dict[str, set[str]] = {}
    for m, k in zip(media, keys, strict=True):
        groups.setdefault(k, set()).add(m["mediaID"])
    assert sorted(map(sorted, groups.values())) == [["A-1", "A-2", "A-3", "A-5"], ["A-4"], ["B-1"], ["N"], ["X"]]
    assert group_events(media, 60) == keys  # deterministic IDs
    assert len(set(group_events(media, 700))) == 4  # a larger gap joins A-4


def test_event_aggregation_by_hand():
    labels = ["Sus scrofa", "Lynx rufus", "blank"]
    probs = np.array([[0.6, 0.1, 0.3], [0.1, 0.2, 0.7], [0.3, 0.5, 0.2]])
    # frames 0 and 2 are not blank: mean of [0.6, 0.1] and [0.3, 0.5] = [0.45, 0.30], renormalised = [0.6, 0.4]
    alts = aggregate(probs, labels, k=3)
    assert [a for a, _ in alts] == ["Sus scrofa", "Lynx rufus"]
    assert [round(p, 6) for _, p in alts] == [0.6, 0.4]
    # every frame blank: blank with the smallest blank probability
    assert aggregate(np.array([[0.1, 0.1, 0.8], [0.3, 0.1, 0.6]]), labels) == [("blank", 0.6)]
    with pytest.raises(ValueError):
        aggregate(np.zeros((0, 3)), labels)


def test_build_events_sets_blank_and_species_per_event():
    labels = ["Sus scrofa", "Lynx rufus", "blank"]
    stamps = [("m1", "2024-06-01T10:00:00+08:00"), ("m2", "2024-06-01T10:00:05+08:00"),
              ("m3", "2024-06-01T11:00:00+08:00")]
    media = [{"mediaID": m, "deploymentID": "A", "stationID": "s", "timestamp": t, "timestampIssues": "",
              "modality": "image"} for m, t in stamps]
    probs = np.array([[0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.05, 0.05, 0.9]])
    events, event_of = build_events(media, ["m1", "m2", "m3"], probs, labels, Catalogue.load(), "v1", 60)
    assert [(e.mediaCount, e.observationType, e.scientificName, e.classificationProbability) for e in events] == [
        (2, "animal", "Lynx rufus", round(0.7 / 0.9, 6)), (1, "blank", "", 0.9)]
    assert events[0].eventStart == "2024-06-01T10:00:00+08:00" and events[0].eventEnd == "2024-06-01T10:00:05+08:00"
    assert json.loads(events[0].mediaIDs) == ["m1", "m2"]
    assert event_of["m1"] == event_of["m2"] != event_of["m3"]


def test_blank_precision_recall_by_hand():
    from pipeline.stages.evaluate import blank_metrics

    assert binary_scores([True, True, False, False], [True, False, True, False]) == {
        "precision": 0.5, "recall": 0.5, "support": 2, "predicted": 2}
    assert binary_scores([False], [False]) == {"precision": None, "recall": None, "support": 0, "predicted": 0}
    t = ["blank", "blank", "Sus scrofa", "blank", "blank"]
    p = ["blank", "Sus scrofa", "Sus scrofa", "blank", "blank"]
    out = blank_metrics(t, p, ["g1", "g1", "g2", "g3", "g3"])
    assert out["per_image"] == {"precision": 1.0, "recall": 0.75, "support": 4, "predicted": 3}
    # events: g1 truly blank but predicted not blank, g2 animal, g3 blank and predicted blank
    assert out["per_event"] == {"precision": 1.0, "recall": 0.5, "support": 2, "predicted": 1, "events": 3}


def test_publish_writes_events_and_links_detections(tmp_path, tiny_classifiers, cases):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from models.store.db import Detection, Event, make_engine
    from pipeline.stages import predict, publish

    media = [{"mediaID": f"m{i}", "deploymentID": "cam", "stationID": "s", "filePath": f"BR-01/good_{i}.jpg",
              "modality": "image", "timestamp": f"2024-06-01T10:00:0{i}+08:00", "timestampIssues": "",
              "fileName": f"good_{i}.jpg", "sha256": f"{i}" * 64, "bytes": "1", "width_px": "640", "height_px": "480",
              "duration_s": "", "sample_rate_hz": "", "channels": ""} for i in (1, 2)]
    res = predict.run_camera(PredictParams(decode_workers=0), media, cases, tiny_classifiers[0], Catalogue.load())
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    preds = [p.__dict__ for p in res.predictions]
    events = [{k: str(v) for k, v in e.__dict__.items()} for e in res.events]
    out = publish.run(url, [{"stationID": "s"}], [{"deploymentID": "cam", "stationID": "s"}], media, preds, events)
    assert out["written"]["events"] == 1 and out["in_database"]["events"] == 1
    engine = make_engine(url)
    with Session(engine) as s:
        ev = s.scalars(select(Event)).one()
        assert ev.mediaCount == 2 and ev.modality == "image" and ev.mediaID is None
        assert ev.eventStart == "2024-06-01T10:00:01+08:00" and ev.eventStartUTC == datetime(2024, 6, 1, 2, 0, 1)
        assert {d.eventID for d in s.scalars(select(Detection))} == {ev.eventID}
    engine.dispose()


def test_exif_orientation_holds_at_reduced_decode_scale():
    im = Image.new("RGB", (1600, 1200), (10, 10, 10))
    im.paste((255, 255, 255), (0, 0, 200, 200))  # marker at the stored top-left
    exif = Image.Exif()
    exif[274] = 6  # rotate 90 degrees clockwise for display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    img = decode_image(buf.getvalue(), target_px=128)
    assert img.shape == (200, 150, 3)  # displayed: 1200 wide x 1600 tall, at 1/8
    assert img[:20, -20:].mean() > 200 and img[-20:, :20].mean() < 40  # marker now at the top-right


def test_decode_workers_give_the_same_results_and_record_bad_files(tmp_path, tiny_classifiers):
    from models.inference.camtrap import MIN_IMAGES_FOR_WORKERS, classify_camera_media

    rng = np.random.default_rng(1)
    media = []
    for i in range(MIN_IMAGES_FOR_WORKERS + 2):
        data = _jpeg(tuple(int(v) for v in rng.integers(0, 255, 3)), size=(120, 90))
        if i == 5:
            data = data[:-20]  # truncated: no end-of-image marker
        (tmp_path / f"img_{i:03d}.jpg").write_bytes(data)
        media.append({"mediaID": f"m{i}", "deploymentID": "cam", "filePath": f"img_{i:03d}.jpg", "modality": "image",
                      "timestamp": ""})
    runs = [classify_camera_media(tiny_classifiers[0], media, tmp_path, Catalogue.load(), 3, 8, workers)
            for workers in (0, 2)]
    for res in runs:
        assert [(r.filePath, r.reason) for r in res.rejected] == [("img_005.jpg", "truncated")]
        assert len(res.predictions) == len(media) - 1 and res.probs.shape == (len(media) - 1, 3)
    assert [p.mediaID for p in runs[0].predictions] == [p.mediaID for p in runs[1].predictions]
    np.testing.assert_allclose(runs[0].probs, runs[1].probs, atol=1e-6)
