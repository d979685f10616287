"""Acoustic field cases (BR-13, BR-14, BR-16, BR-20 of ``../shared/cases``) and the whole kind of each:
any sample rate and sample format, stereo, degenerate and long recordings, recorder metadata,
windows/events/thresholds, per-recording summaries, acoustic indices, publishing and the API."""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from models.inference.acoustic_indices import INDEX_NAMES, SegmentIndexer, compute_indices
from models.inference.audio_events import (
    apply_thresholds,
    merge_events,
    parse_recording_name,
    recording_id,
    summarise_birdnet_tables,
)
from models.inference.decision import policy_for
from models.inference.detect import classify_windows, make_predictions
from models.ingest import ingest_stations, probe_media
from models.learning.bundle import BundleMeta, Classifier, save_bundle
from models.learning.classifier import create_classifier
from models.media.audio import AudioPreprocessing, load_audio, window_bounds
from models.media.audio_stream import WindowCutter, stream_resampled
from models.media.errors import MediaError
from models.store.db import to_utc
from models.taxonomy.catalogue import Catalogue
from pipeline.params import AudioIndicesParams, PredictAudioParams

ARCH = "mobilenetv3_small_050"
LABELS = ["Lithobates catesbeianus", "Sus scrofa", "blank"]
P_TOP = math.exp(2) / (math.exp(2) + 2)  # softmax of logits (2, 0, 0): the fixed bundle's top-1 probability


@pytest.fixture(scope="module")
def frog_bundle(tmp_path_factory) -> Classifier:
    """A real audio bundle (default preprocessing: 22050 Hz, 3 s windows) whose head is fixed so every
    window it hears is ``Lithobates catesbeianus`` with probability ``P_TOP`` (weights 0, bias (2, 0, 0))."""
    root = tmp_path_factory.mktemp("frog_bundle")
    torch.manual_seed(0)
    model, _ = create_classifier(ARCH, len(LABELS), 1, "none")
    head = model.get_classifier()
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([2.0, 0.0, 0.0]))
    save_bundle(root, model, BundleMeta(modality="audio", arch=ARCH, in_chans=1, labels=LABELS,
                                        preprocessing=dict(AudioPreprocessing().__dict__)))
    return Classifier.load(root)


def _media(path: str, mid: str = "m1", timestamp: str = "", **kw) -> dict:
    return {"mediaID": mid, "deploymentID": "d1", "stationID": "s1", "filePath": path, "fileName": Path(path).name,
            "modality": "audio", "timestamp": timestamp, **kw}


def _tone(seconds: float, sr: int, freq: float = 1000.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- BR-13 AudioMoth comment with a UTC-5 offset --------------------------------------------------------------


def test_br13_windows_carry_absolute_times_with_the_recorders_offset(cases, tmp_path, frog_bundle):
    drop = tmp_path / "drop"
    (drop / "moth").mkdir(parents=True)
    shutil.copy(cases / "BR-13" / "20201214_192255.WAV", drop / "moth")
    # a deployment time zone that disagrees: the offset written by the recorder wins, no lookup error
    (drop / "deployments.csv").write_text("deploymentID,stationID,timezone\nmoth,st,Asia/Shanghai\n")
    (rec,), rejected = ingest_stations(drop)
    assert rejected == [] and (rec.timestamp, rec.timestampSource) == ("2020-12-14T19:22:55-05:00", "audiomoth")
    preds, _ = classify_windows(frog_bundle, _media(rec.filePath, timestamp=rec.timestamp), drop / rec.filePath,
                                Catalogue.load(), 3, window_s=0.5, hop_s=0.5)  # the recording lasts 1 s
    assert [p.eventStart for p in preds] == ["2020-12-14T19:22:55-05:00", "2020-12-14T19:22:55.500000-05:00"]
    assert [to_utc(p.eventStart) for p in preds] == [  # the UTC date is the next day
        datetime(2020, 12, 15, 0, 22, 55), datetime(2020, 12, 15, 0, 22, 55, 500000)]


def test_br13_file_name_time_gets_the_comments_offset_not_utc(cases, tmp_path):
    # the same bytes under a name with another time: the comment's clock and offset are used
    copy = tmp_path / "renamed_20201214_000000.WAV"
    shutil.copy(cases / "BR-13" / "20201214_192255.WAV", copy)
    facts = probe_media(copy)
    assert (facts["naive_time"], facts["offset"], facts["time_source"]) == (
        datetime(2020, 12, 14, 19, 22, 55), "-05:00", "audiomoth")


# --- GUANO and recorder file names (the kind of BR-13) ---------------------------------------------------------


def _guano_wav(path: Path, stamp: datetime) -> Path:
    import guano

    sf.write(str(path), _tone(1.0, 8000), 8000, subtype="PCM_16")
    g = guano.GuanoFile(str(path))
    g["Timestamp"] = stamp
    g["Make"], g["Model"], g["Serial"] = "Wildlife Acoustics", "Song Meter Mini Bat", "SMU01234"
    g.write(make_backup=False)
    return path


def test_guano_timestamp_with_offset(tmp_path):
    import guano

    from models.media.timestamps import read_guano

    path = _guano_wav(tmp_path / "SMU01234_20240601_000000.wav",
                      datetime(2024, 6, 1, 5, 30, 0, tzinfo=guano.tzoffset("+08:00")))
    meta = read_guano(path)
    assert (meta.start, meta.utc_offset, meta.make, meta.serial) == (
        datetime(2024, 6, 1, 5, 30), "+08:00", "Wildlife Acoustics", "SMU01234")
    facts = probe_media(path)  # GUANO beats the file name's 00:00:00
    assert (facts["naive_time"], facts["offset"], facts["time_source"]) == (
        datetime(2024, 6, 1, 5, 30), "+08:00", "guano")


def test_guano_local_time_and_file_names_take_the_deployment_time_zone(tmp_path):
    drop = tmp_path / "drop"
    (drop / "aru").mkdir(parents=True)
    _guano_wav(drop / "aru" / "bat.wav", datetime(2024, 6, 1, 21, 0, 0))
    sf.write(str(drop / "aru" / "SITE01_20240601_060000.flac"), _tone(1.0, 8000), 8000, format="FLAC")
    sf.write(str(drop / "aru" / "no_time.wav"), _tone(1.0, 8000, 500.0), 8000)
    (drop / "deployments.csv").write_text("deploymentID,stationID,timezone\naru,st,Asia/Shanghai\n")
    records, rejected = ingest_stations(drop)
    got = {r.fileName: (r.timestamp, r.timestampSource, r.timestampIssues) for r in records}
    assert rejected == [] and got == {
        "bat.wav": ("2024-06-01T21:00:00+08:00", "guano", ""),
        "SITE01_20240601_060000.flac": ("2024-06-01T06:00:00+08:00", "filename", ""),
        "no_time.wav": ("", "missing", "missing")}
    assert probe_media(drop / "aru" / "no_time.wav")["time_source"] == "filename"  # a WAV without GUANO


@pytest.mark.parametrize(("name", "expected"), [
    ("SITE01_20240601_060000.wav", {"location": "SITE01", "date": "2024-06-01", "time": "06:00:00"}),
    ("S4A03895_20190522_170000.wav", {"location": "S4A03895", "date": "2019-05-22", "time": "17:00:00"}),
    ("20201214_192255.WAV", {"location": "", "date": "2020-12-14", "time": "19:22:55"}),
    ("My_Site_A_20240229_235959.flac", {"location": "My_Site_A", "date": "2024-02-29", "time": "23:59:59"}),
    ("SITE01_20230230_060000.wav", {"location": "SITE01", "date": "", "time": ""}),  # no 30 February
    ("field_notes.wav", {"location": "", "date": "", "time": ""}),
])
def test_recorder_file_names(name, expected):
    assert parse_recording_name(name) == expected


# --- BR-14 stereo ----------------------------------------------------------------------------------------------


def test_br14_stereo_mixed_down_or_per_channel(cases, frog_bundle):
    path = cases / "BR-14.wav"
    assert probe_media(path)["channels"] == 2
    blocks = list(stream_resampled(path, 48000, "mix", block_s=1.0))
    assert all(b.shape[0] == 1 for b in blocks) and sum(b.shape[1] for b in blocks) == 240000
    np.testing.assert_allclose(np.concatenate(blocks, axis=1)[0], load_audio(path).samples, atol=1e-7)

    mixed, channels = classify_windows(frog_bundle, _media("BR-14.wav"), path, Catalogue.load(), 3)
    assert channels == [None, None] and [(p.start_s, p.end_s) for p in mixed] == [(0.0, 3.0), (3.0, 5.0)]

    each, channels = classify_windows(frog_bundle, _media("BR-14.wav"), path, Catalogue.load(), 3, channels="each")
    assert channels == [0, 0, 1, 1]
    assert [(p.start_s, p.end_s) for p in each] == [(0.0, 3.0), (3.0, 5.0)] * 2
    # left holds the tone, right is digital silence: blank, certainly
    assert [p.scientificName for p in each[:2]] == ["Lithobates catesbeianus"] * 2
    assert [(p.observationType, p.classificationProbability) for p in each[2:]] == [("blank", 1.0)] * 2
    windows = apply_thresholds(each, channels, Catalogue.load(), 0.5)
    assert [w.row()["channel"] for w in windows] == [0, 0, 1, 1]
    assert [w.detected for w in windows] == [True, True, False, False]


# --- BR-16 degenerate recordings -------------------------------------------------------------------------------


def test_br16_predict_audio_batch(cases, frog_bundle):
    from pipeline.stages import predict_audio

    files = ["BR-16/empty_0s.wav", "BR-16/short_1p2s.wav", "BR-16/silent_10s.wav", "BR-16/normal_6s.wav"]
    media = [_media(f, f"m{i}", "2024-06-01T12:00:00+08:00" if f.endswith("normal_6s.wav") else "")
             for i, f in enumerate(files)]
    t0 = time.perf_counter()
    result = predict_audio.run(PredictAudioParams(threshold=0.5), media, cases, frog_bundle, Catalogue.load())
    assert time.perf_counter() - t0 < 60
    assert [(r["filePath"], r["reason"]) for r in result["rejected"]] == [("BR-16/empty_0s.wav", "empty_audio")]
    spans: dict[str, list] = {}
    for w in result["windows"]:
        spans.setdefault(w.prediction.filePath, []).append((w.prediction.start_s, w.prediction.end_s))
    assert spans == {"BR-16/short_1p2s.wav": [(0.0, 1.2)],
                     "BR-16/silent_10s.wav": [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 10.0)],
                     "BR-16/normal_6s.wav": [(0.0, 3.0), (3.0, 6.0)]}
    for w in result["windows"]:
        assert math.isfinite(w.prediction.classificationProbability)
        assert all(math.isfinite(p) for _, p in json.loads(w.prediction.topK))
    summary = {r["recordingID"]: (r["status"], r["windows"], r["detections"], r["events"])
               for r in result["recordings"]}
    assert summary == {"empty_0s": ("empty_audio", 0, 0, 0), "short_1p2s": ("ok", 1, 1, 1),
                       "silent_10s": ("ok", 4, 0, 0), "normal_6s": ("ok", 2, 2, 1)}
    (event,) = [e for e in result["events"] if e.mediaID == "m3"]
    assert (event.start_s, event.end_s, event.eventStart, event.eventEnd, event.windowCount) == (
        0.0, 6.0, "2024-06-01T12:00:00+08:00", "2024-06-01T12:00:06+08:00", 2)
    # indices: one segment per analysed recording; digital silence gives None, never NaN
    by_media = {r["mediaID"]: r for r in result["indices"]}
    assert set(by_media) == {"m1", "m2", "m3"}
    assert all(by_media["m2"][k] is None for k in INDEX_NAMES)
    for r in (by_media["m1"], by_media["m3"]):
        assert all(r[k] is not None and math.isfinite(r[k]) for k in INDEX_NAMES)
    assert (by_media["m3"]["start_s"], by_media["m3"]["end_s"], by_media["m3"]["segmentStart"]) == (
        0.0, 6.0, "2024-06-01T12:00:00+08:00")


# --- any sample rate and sample format (the kind of BR-14/BR-16) ----------------------------------------------------


@pytest.mark.parametrize(("sr", "subtype", "fmt", "ext"), [
    (8000, "PCM_16", "WAV", "wav"), (44100, "PCM_24", "WAV", "wav"), (96000, "FLOAT", "WAV", "wav"),
    (32000, "PCM_16", "FLAC", "flac"), (48000, "PCM_24", "FLAC", "flac"), (44100, "MPEG_LAYER_III", "MP3", "mp3"),
    (22050, "VORBIS", "OGG", "ogg"), (16000, "PCM_32", "WAV", "wav"),
])
def test_any_rate_and_format_is_resampled_to_the_model_rate(tmp_path, sr, subtype, fmt, ext):
    path = tmp_path / f"tone.{ext}"
    sf.write(str(path), _tone(4.0, sr, 1000.0), sr, subtype=subtype, format=fmt)
    x = np.concatenate(list(stream_resampled(path, 22050, block_s=0.7)), axis=1)[0]
    assert abs(x.shape[0] - 4.0 * 22050) <= (0.12 * 22050 if fmt == "MP3" else 2)  # MP3 adds codec delay
    spectrum = np.abs(np.fft.rfft(x[2205:2205 + 22050]))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # the 1 kHz tone is still at 1 kHz (1 Hz bins)
    assert 0.3 < np.abs(x[4410:-4410]).max() < 0.6


def test_block_reading_equals_reading_the_whole_file(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "noise.flac"
    sf.write(str(path), (0.2 * rng.standard_normal((44100 * 13 + 123, 2))).astype(np.float32), 44100,
             format="FLAC")
    pre = AudioPreprocessing(hop_s=1.5)
    bounds, windows = pre.windows(load_audio(path))
    cutter = WindowCutter(22050, 3.0, 1.5, 1.0)
    got_b, got_w, held = [], [], []
    for block in stream_resampled(path, 22050, block_s=0.9):
        b, w = cutter.push(block)
        got_b += b
        got_w.append(w[0])
        held.append(cutter.held_samples)
    b, w = cutter.finish()
    got_b += b
    got_w.append(w[0])
    assert got_b == bounds == window_bounds(bounds[-1][1], 3.0, 1.5, 1.0)
    assert len(bounds) == 8 and bounds[-1][0] == 10.5 and bounds[-1][1] == pytest.approx(13 + 123 / 44100, abs=1e-4)
    np.testing.assert_allclose(np.concatenate(got_w), windows, atol=2e-4)
    # memory: never more than one window plus one block is held, whatever the duration
    assert max(held) <= round(3.0 * 22050) + round(0.9 * 22050) + 64


def test_corrupt_recording_fails_with_its_reason_and_the_batch_goes_on(tmp_path, frog_bundle):
    from pipeline.stages import predict_audio

    good = tmp_path / "good.wav"
    sf.write(str(good), _tone(3.0, 8000), 8000)
    (tmp_path / "noise.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    (tmp_path / "notes.wav").write_text("not audio")
    media = [_media("noise.wav", "a"), _media("good.wav", "b"), _media("notes.wav", "c")]
    result = predict_audio.run(PredictAudioParams(), media, tmp_path, frog_bundle, Catalogue.load())
    assert {r["filePath"]: r["reason"] for r in result["rejected"]} == {
        "noise.wav": "unsupported_format", "notes.wav": "unsupported_format"}
    assert [r["status"] for r in result["recordings"]] == ["unsupported_format", "ok", "unsupported_format"]
    assert [w.prediction.filePath for w in result["windows"]] == ["good.wav"]


# --- windows, thresholds, events -------------------------------------------------------------------------------


def test_overlapping_windows_merge_into_one_event(cases, frog_bundle):
    preds, channels = classify_windows(frog_bundle, _media("n.wav", timestamp="2024-06-01T05:00:00+02:00"),
                                       cases / "BR-16" / "normal_6s.wav", Catalogue.load(), 3, hop_s=1.5)
    assert [(p.start_s, p.end_s) for p in preds] == [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0)]
    assert [p.eventStart for p in preds] == ["2024-06-01T05:00:00+02:00", "2024-06-01T05:00:01.500000+02:00",
                                             "2024-06-01T05:00:03+02:00"]
    windows, events = merge_events(apply_thresholds(preds, channels, Catalogue.load(), 0.5))
    (e,) = events
    assert (e.scientificName, e.start_s, e.end_s, e.windowCount, e.isInvasive) == (
        "Lithobates catesbeianus", 0.0, 6.0, 3, True)
    assert e.classificationProbability == pytest.approx(P_TOP, abs=1e-5)
    assert {w.eventID for w in windows} == {e.eventID}
    with pytest.raises(ValueError, match="gaps"):
        classify_windows(frog_bundle, _media("n.wav"), cases / "BR-16" / "normal_6s.wav", Catalogue.load(), 3,
                         window_s=1.0, hop_s=2.0)


def test_per_species_thresholds_and_event_boundaries(tmp_path):
    """Per-species thresholds, roll-up and unknown decide each window (``models.inference.decision``); a
    change of decided name (a roll-up to Aves, an unknown) splits the detection events."""
    cat_csv = tmp_path / "species.csv"
    with open(cat_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["scientificName", "taxonRank", "vernacularNameEN", "vernacularNameZH", "class", "order",
                    "family", "statusChina", "statusSource", "sensitive", "detectionThreshold"])
        w.writerow(["Turdus merula", "species", "Blackbird", "", "Aves", "", "", "native", "", "false", "0.9"])
        w.writerow(["Erithacus rubecula", "species", "Robin", "", "Aves", "", "", "native", "", "false", ""])
        w.writerow(["Rana temporaria", "species", "Common frog", "", "Amphibia", "", "", "native", "", "false", ""])
    cat = Catalogue.load(cat_csv)
    labels = ["Turdus merula", "Erithacus rubecula", "Rana temporaria"]
    clf = SimpleNamespace(labels=labels, meta=SimpleNamespace(model_version="v/1", decision={}))
    rows = {"m": [[0.95, 0.05, 0.0], [0.85, 0.15, 0.0], [0.92, 0.08, 0.0], [0.4, 0.6, 0.0], [0.25, 0.30, 0.45],
                  [0.9, 0.1, 0.0]],
            "other": [[0.2, 0.7, 0.1]]}
    preds = []
    for mid, probs in rows.items():
        media = {"mediaID": mid, "deploymentID": "d", "stationID": "s", "filePath": f"{mid}.wav", "modality": "audio"}
        silent = np.array([i == 5 for i in range(len(probs))])
        preds += make_predictions(media, np.array(probs), [(3.0 * i, 3.0 * i + 3) for i in range(len(probs))], clf,
                                  cat, 3, silent, policy_for(clf, cat, 0.5))
    assert [(p.scientificName, p.observationType, p.classificationSource) for p in preds] == [
        ("Turdus merula", "animal", "model"),
        ("Aves", "animal", "rollup"),            # 0.85 < 0.9; both birds together hold 1.0
        ("Turdus merula", "animal", "model"),
        ("Erithacus rubecula", "animal", "model"),
        ("", "unknown", "threshold-unknown"),    # frog 0.45 < 0.5, Amphibia holds no more
        ("", "blank", "silence"),
        ("Erithacus rubecula", "animal", "model")]
    assert preds[1].taxonRank == "class" and preds[1].classificationProbability == pytest.approx(1.0)
    windows = apply_thresholds(preds, [None] * len(preds), cat, 0.5)
    assert [(w.threshold, w.detected) for w in windows] == [
        (0.9, True), (0.5, True), (0.9, True), (0.5, True), (0.5, False), (0.5, False), (0.5, True)]
    windows, events = merge_events(windows)
    assert [(e.mediaID, e.scientificName, e.start_s, e.end_s, e.windowCount, e.classificationSource)
            for e in events] == [
        ("m", "Turdus merula", 0.0, 3.0, 1, "model"), ("m", "Aves", 3.0, 6.0, 1, "rollup"),
        ("m", "Turdus merula", 6.0, 9.0, 1, "model"), ("m", "Erithacus rubecula", 9.0, 12.0, 1, "model"),
        ("other", "Erithacus rubecula", 0.0, 3.0, 1, "model")]
    assert [bool(w.eventID) for w in windows] == [True, True, True, True, False, False, True]
    assert len({e.eventID for e in events}) == 5


# --- BR-20 per-recording summary ------------------------------------------------------------------------------


def test_br20_birdnet_tables_summary(cases):
    rows, counts = summarise_birdnet_tables(sorted((cases / "BR-20").glob("*.BirdNET.results.csv")))
    assert rows == [
        {"recordingID": "SITE01_20240601_053000", "location": "SITE01", "date": "2024-06-01", "time": "05:30:00",
         "detections": 2, "species": "Erithacus rubecula;Turdus merula"},
        {"recordingID": "SITE01_20240601_060000", "location": "SITE01", "date": "2024-06-01", "time": "06:00:00",
         "detections": 0, "species": ""}]
    assert counts == {"Turdus merula": 1, "Erithacus rubecula": 1}  # no NA species
    assert all(v not in (None, "NA") for r in rows for v in r.values())


def test_br20_our_summary_keeps_recordings_without_detections(tmp_path, frog_bundle):
    from pipeline.stages import predict_audio

    sf.write(str(tmp_path / "SITE01_20240601_053000.wav"), _tone(6.0, 22050), 22050)
    sf.write(str(tmp_path / "SITE01_20240601_060000.wav"), np.zeros(22050 * 6, np.float32), 22050)
    media = [_media("SITE01_20240601_053000.wav", "a", "2024-06-01T05:30:00+08:00"),
             _media("SITE01_20240601_060000.wav", "b", "2024-06-01T06:00:00+08:00")]
    result = predict_audio.run(PredictAudioParams(indices=AudioIndicesParams(enabled=False)), media, tmp_path,
                               frog_bundle, Catalogue.load())
    got = [{k: r[k] for k in ("recordingID", "location", "date", "time", "detections", "species")}
           for r in result["recordings"]]
    assert got == [
        {"recordingID": "SITE01_20240601_053000", "location": "SITE01", "date": "2024-06-01", "time": "05:30:00",
         "detections": 2, "species": "Lithobates catesbeianus"},
        {"recordingID": "SITE01_20240601_060000", "location": "SITE01", "date": "2024-06-01", "time": "06:00:00",
         "detections": 0, "species": ""}]
    assert result["indices"] == []
    assert recording_id("x/SITE01_20240601_060000.BirdNET.results.csv") == "SITE01_20240601_060000"


def test_br20_publish_and_api(tmp_path, frog_bundle, settings):
    """Published: detected windows (linked to events), events, indices; the API answers 200 with []
    for the recording without detections and for a species without detections."""
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from models.store.db import AcousticIndex, Detection, Event, make_engine
    from pipeline.stages import predict_audio, publish
    from serve.app import create_app

    sf.write(str(tmp_path / "SITE01_20240601_053000.wav"), _tone(6.0, 22050), 22050)
    sf.write(str(tmp_path / "SITE01_20240601_060000.wav"), np.zeros(22050 * 6, np.float32), 22050)
    media = [_media("SITE01_20240601_053000.wav", "a" * 16, "2024-06-01T05:30:00+08:00"),
             _media("SITE01_20240601_060000.wav", "b" * 16, "2024-06-01T06:00:00+08:00")]
    result = predict_audio.run(PredictAudioParams(indices=AudioIndicesParams(segment_s=3.0, min_segment_s=1.0)),
                               media, tmp_path, frog_bundle, Catalogue.load())
    out = tmp_path / "out"
    predict_audio.write_outputs(result, out)
    from models.media.tables import read_csv

    rows = {n: read_csv(out / f"{n}.csv") for n in ("windows", "events", "indices")}
    media_rows = [{**m, "fileMediatype": "audio/wav", "timestampIssues": "", "timestampSource": "filename",
                   "sha256": m["mediaID"] * 4, "bytes": "1", "width_px": "", "height_px": "", "duration_s": "6.0",
                   "sample_rate_hz": "22050", "channels": "1"} for m in media]
    url = settings.database_url
    stations = [{"stationID": "s1", "stationName": "", "note": ""}]
    deployments = [{"deploymentID": "d1", "stationID": "s1"}]
    summary = publish.run(url, stations, deployments, media_rows, [], audio=rows)
    assert {k: summary["written"][k] for k in ("audio_detections", "audio_events", "acoustic_indices")} == {
        "audio_detections": 2, "audio_events": 1, "acoustic_indices": 4}
    publish.run(url, stations, deployments, media_rows, [], audio=rows)  # idempotent
    engine = make_engine(url)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Detection)) == 2
        assert s.scalar(select(func.count()).select_from(AcousticIndex)) == 4
        (event,) = s.scalars(select(Event)).all()
        assert (event.modality, event.mediaID, event.start_s, event.end_s, event.mediaCount) == (
            "audio", "a" * 16, 0.0, 6.0, 2)
        assert {d.eventID for d in s.scalars(select(Detection))} == {event.eventID}
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        r = client.get("/v1/detections", params={"mediaID": "b" * 16, "include_total": True})
        assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0
        r = client.get("/v1/detections", params={"scientificName": "Turdus merula"})
        assert r.status_code == 200 and r.json()["items"] == []
        r = client.get("/v1/detections", params={"mediaID": "a" * 16})
        assert [d["start_s"] for d in r.json()["items"]] == [0.0, 3.0]
        r = client.get("/v1/stations/s1/acoustic-indices")
        body = r.json()
        assert r.status_code == 200 and body["total"] == 4
        assert [(i["mediaID"][0], i["segmentStart"]) for i in body["items"]] == [
            ("a", "2024-06-01T05:30:00+08:00"), ("a", "2024-06-01T05:30:03+08:00"),
            ("b", "2024-06-01T06:00:00+08:00"), ("b", "2024-06-01T06:00:03+08:00")]
        assert [i["ACI"] is None for i in body["items"]] == [False, False, True, True]  # silence: null, not NaN
        r = client.get("/v1/stations/s1/acoustic-indices",
                       params={"start": "2024-06-01T05:59:00+08:00", "end": "2024-06-01T06:00:01+08:00"})
        assert [i["segmentStart"] for i in r.json()["items"]] == ["2024-06-01T06:00:00+08:00"]
        assert client.get("/v1/stations/nowhere/acoustic-indices").status_code == 404


# --- acoustic indices ------------------------------------------------------------------------------------------


def test_indices_follow_their_definitions():
    sr = 22050
    rng = np.random.default_rng(0)
    tone_bio = _tone(10.0, sr, 4000.0, 0.3)  # energy in the biophony band (2-11 kHz)
    tone_anthro = _tone(10.0, sr, 1500.0, 0.3)  # energy in the anthropophony band (1-2 kHz)
    assert compute_indices(tone_bio, sr)["NDSI"] > 0.9 and compute_indices(tone_anthro, sr)["NDSI"] < -0.9
    # steady tone vs white noise: noise spreads over every band and frequency (higher ADI and Hf)
    noise = (0.1 * rng.standard_normal(10 * sr)).astype(np.float32)
    t, n = compute_indices(tone_bio, sr), compute_indices(noise, sr)
    assert n["ADI"] > t["ADI"] and n["Hf"] > t["Hf"] and n["AEI"] < t["AEI"]
    assert n["H"] == pytest.approx(n["Ht"] * n["Hf"], abs=1e-5)
    # intensity changes between frames raise ACI: a pulsed tone against the steady one
    pulsed = tone_bio * (np.arange(10 * sr) // 2205 % 2)
    assert compute_indices(pulsed, sr)["ACI"] > t["ACI"]


def test_segment_indexer_segments(tmp_path):
    indexer = SegmentIndexer(8000, segment_s=2.0, min_segment_s=0.5)
    x = _tone(5.3, 8000)[None]
    for i in range(0, x.shape[1], 3000):
        indexer.push(x[:, i : i + 3000])
    segs = indexer.finish()
    assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.3)]
    row = segs[1].row({"mediaID": "m", "timestamp": "2024-06-01T00:00:00+00:00"})
    assert row["segmentStart"] == "2024-06-01T00:00:02+00:00" and len(row["indexID"]) == 32


def test_empty_recording_streams_nothing_and_says_why(cases):
    with pytest.raises(MediaError) as exc:
        list(stream_resampled(cases / "BR-16" / "empty_0s.wav", 22050))
    assert exc.value.reason == "empty_audio"
    with pytest.raises(ValueError, match="channels"):
        list(stream_resampled(cases / "BR-16" / "normal_6s.wav", 22050, channels="left"))


def test_br16_empty_training_file_is_skipped_with_its_reason(cases, tmp_path):
    from models.ingest import ingest_labelled

    root = tmp_path / "acoustic"
    (root / "audio").mkdir(parents=True)
    for name in ("empty_0s.wav", "normal_6s.wav", "short_1p2s.wav"):
        shutil.copy(cases / "BR-16" / name, root / "audio" / name)
    (root / "manifest.csv").write_text("file,scientific_name\naudio/empty_0s.wav,Sus scrofa\n"
                                       "audio/normal_6s.wav,Sus scrofa\naudio/short_1p2s.wav,Sus scrofa\n")
    records, rejected = ingest_labelled(root, Catalogue.load())
    assert sorted(r.fileName for r in records) == ["normal_6s.wav", "short_1p2s.wav"]
    assert [(r.filePath, r.reason) for r in rejected] == [("audio/empty_0s.wav", "empty_audio")]


# --- people in recordings: Silero VAD (models.inference.speech) ------------------------------------------------


def test_silero_vad_runs_on_onnx_runtime_and_hears_no_speech_in_tones_noise_or_chirps():
    from models.inference.speech import SpeechDetector, silero_model_path

    assert silero_model_path() is not None and silero_model_path().name == "silero_vad.onnx"
    vad = SpeechDetector()
    sr = 22050
    t = np.arange(3 * sr) / sr
    rng = np.random.default_rng(0)
    chirps = 0.3 * np.sin(2 * np.pi * (4000 + 6000 * (t % 0.3)) * (t % 0.3)) * np.sin(np.pi * (t % 0.3) / 0.3)
    windows = np.stack([_tone(3, sr, 2000.0, 0.3), 0.1 * rng.standard_normal(3 * sr), chirps, np.zeros(3 * sr)])
    probs = vad.chunk_probabilities(windows, sr)
    assert probs.shape == (4, 3 * 16000 // 512) and probs.dtype == np.float32
    assert 0.0 <= probs.min() and probs.max() < 0.5
    assert vad.scores(windows, sr).tolist() == [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        vad.chunk_probabilities(np.zeros(10), sr)
    with pytest.raises(FileNotFoundError, match="silero"):
        SpeechDetector(model_path=Path("/nonexistent/silero_vad.onnx"))


class _FakeVAD:
    """Speech in the second window of every batch (the real model needs real speech, which the sample lacks)."""

    def scores(self, windows, sample_rate_hz):
        out = np.zeros(len(windows), np.float32)
        out[1:2] = 0.9
        return out


def test_speech_windows_are_human_never_detected_as_animals_and_published_private(frog_bundle, tmp_path):
    path = tmp_path / "talk.wav"
    sf.write(path, np.concatenate([_tone(3, 22050, 800.0), _tone(3, 22050, 900.0), _tone(3, 22050, 700.0)]),
             22050)
    preds, channels = classify_windows(frog_bundle, _media("talk.wav"), path, Catalogue.load(), 3, speech=_FakeVAD())
    assert [(p.observationType, p.classificationSource, p.isInvasive) for p in preds] == [
        ("animal", "model", True), ("human", "speech", False), ("animal", "model", True)]
    assert preds[1].scientificName == "" and preds[1].classificationProbability == pytest.approx(0.9)
    windows = apply_thresholds(preds, channels, Catalogue.load(), 0.5)
    assert [w.detected for w in windows] == [True, False, True]
    # without a detector every window is the model's
    plain, _ = classify_windows(frog_bundle, _media("talk.wav"), path, Catalogue.load(), 3, speech=None)
    assert [p.observationType for p in plain] == ["animal"] * 3


def test_a_recording_with_speech_is_published_private(tmp_path, frog_bundle, settings, monkeypatch):
    from fastapi.testclient import TestClient

    from models.inference import detect
    from models.media.tables import read_csv
    from pipeline.stages import predict_audio, publish
    from serve.app import create_app

    monkeypatch.setattr(detect, "default_detector", lambda: _FakeVAD())
    sf.write(str(tmp_path / "talk.wav"), _tone(6.0, 22050), 22050)
    sf.write(str(tmp_path / "frog.wav"), _tone(6.0, 22050, 700.0), 22050)
    media = [_media("talk.wav", "a" * 16, "2024-06-01T05:30:00+08:00"),
             _media("frog.wav", "c" * 16, "2024-06-01T05:40:00+08:00")]
    params = PredictAudioParams(indices=AudioIndicesParams(enabled=False))
    result = predict_audio.run(params, media[:1], tmp_path, frog_bundle, Catalogue.load())
    result2 = predict_audio.run(params.model_copy(update={"speech": False}), media[1:], tmp_path, frog_bundle,
                                Catalogue.load())
    for key in ("windows", "events", "recordings", "indices", "rejected"):
        result[key] += result2[key]
    out = tmp_path / "out"
    predict_audio.write_outputs(result, out)
    rows = {n: read_csv(out / f"{n}.csv") for n in ("windows", "events", "indices")}
    assert [(r["mediaID"][0], r["observationType"], r["classificationSource"]) for r in rows["windows"]] == [
        ("a", "animal", "model"), ("a", "human", "speech"), ("c", "animal", "model"), ("c", "animal", "model")]
    media_rows = [{**m, "fileMediatype": "audio/wav", "timestampIssues": "", "timestampSource": "filename",
                   "sha256": m["mediaID"] * 4, "bytes": "1", "width_px": "", "height_px": "", "duration_s": "6.0",
                   "sample_rate_hz": "22050", "channels": "1"} for m in media]
    summary = publish.run(settings.database_url, [{"stationID": "s1", "stationName": "", "note": ""}],
                          [{"deploymentID": "d1", "stationID": "s1"}], media_rows, [], audio=rows)
    assert summary["written"]["audio_detections"] == 4  # 3 animal windows + the speech window
    with TestClient(create_app(settings)) as client:
        public = client.get("/v1/detections", params={"modality": "audio"}).json()["items"]
        # the recording with people talking is hidden whole, the other one is public
        assert sorted({d["mediaID"][0] for d in public}) == ["c"] and len(public) == 2
