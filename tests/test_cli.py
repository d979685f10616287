"""The ``biodiv`` command (``pipeline.cli``): classify, serve, keys, labels, export; exit codes; outputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from models.inference.audio_outputs import RAVEN_SUFFIX, read_raven_table
from models.store.export import validate_package
from pipeline import cli
from pipeline.classify import CSV_FIELDS, MD_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(cli.app, [str(a) for a in args], catch_exceptions=False)


# -- MegaDetector batch output, format 1.4: the published field list (lila.science/megadetector-output-format) ------
MD_TOP_REQUIRED = {"info", "detection_categories", "images"}
MD_TOP_ALLOWED = MD_TOP_REQUIRED | {"classification_categories", "classification_category_descriptions"}
MD_INFO_REQUIRED = {"format_version"}
MD_INFO_ALLOWED = {"format_version", "detector", "detection_completion_time", "classifier",
                   "classification_completion_time", "detector_metadata", "classifier_metadata", "summary_report"}
MD_IMAGE_ALLOWED = {"file", "detections", "failure", "frame_rate"}
MD_DETECTION_REQUIRED = {"category", "conf", "bbox"}
MD_DETECTION_ALLOWED = MD_DETECTION_REQUIRED | {"classifications", "frame_number"}


def check_megadetector(doc: dict) -> list[str]:
    """Every rule of the MegaDetector batch-output format 1.4 that a reader (Timelapse, AddaxAI) relies on."""
    errs = []
    if not MD_TOP_REQUIRED <= doc.keys():
        errs.append(f"missing top-level {MD_TOP_REQUIRED - doc.keys()}")
    errs += [f"unknown top-level {k}" for k in doc.keys() - MD_TOP_ALLOWED]
    info = doc.get("info", {})
    if not MD_INFO_REQUIRED <= info.keys() or info.get("format_version") != "1.4":
        errs.append(f"info.format_version: {info.get('format_version')!r}")
    errs += [f"unknown info.{k}" for k in info.keys() - MD_INFO_ALLOWED]
    det_cats, cls_cats = doc.get("detection_categories", {}), doc.get("classification_categories", {})
    for mapping, name in ((det_cats, "detection_categories"), (cls_cats, "classification_categories")):
        if not all(isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in mapping.items()):
            errs.append(f"{name} keys must be digit strings, values names")
    for e in doc.get("images", []):
        if not isinstance(e.get("file"), str) or not e["file"] or e["file"].startswith("/"):
            errs.append(f"image file must be a relative path: {e.get('file')!r}")
        errs += [f"unknown image field {k}" for k in e.keys() - MD_IMAGE_ALLOWED]
        if "failure" in e:
            if not isinstance(e["failure"], str) or e.get("detections"):
                errs.append(f"{e['file']}: failure must be a string without detections")
            continue
        if not isinstance(e.get("detections"), list):
            errs.append(f"{e['file']}: detections must be a list")
            continue
        for d in e["detections"]:
            if not MD_DETECTION_REQUIRED <= d.keys():
                errs.append(f"{e['file']}: detection without {MD_DETECTION_REQUIRED - d.keys()}")
                continue
            errs += [f"unknown detection field {k}" for k in d.keys() - MD_DETECTION_ALLOWED]
            if d["category"] not in det_cats:
                errs.append(f"{e['file']}: category {d['category']!r} not in detection_categories")
            if not 0.0 <= d["conf"] <= 1.0:
                errs.append(f"{e['file']}: conf {d['conf']}")
            x, y, w, h = d["bbox"]
            if not (0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1 and x + w <= 1 and y + h <= 1):
                errs.append(f"{e['file']}: bbox {d['bbox']} is not [x_min, y_min, width, height] in 0..1")
            for c in d.get("classifications", []):
                if len(c) != 2 or c[0] not in cls_cats or not 0.0 <= c[1] <= 1.0:
                    errs.append(f"{e['file']}: classification {c}")
    return errs


def test_checker_catches_broken_documents():
    """The checks fail on the mistakes they are there for (so a pass means something)."""
    good = {"info": {"format_version": "1.4"}, "detection_categories": {"1": "animal"},
            "classification_categories": {"0": "Sus scrofa"},
            "images": [{"file": "a.jpg", "detections": [{"category": "1", "conf": 0.5, "bbox": [0, 0, 1, 1],
                                                         "classifications": [["0", 0.5]]}]}]}
    assert check_megadetector(good) == []
    bad_box = json.loads(json.dumps(good))
    bad_box["images"][0]["detections"][0]["bbox"] = [0.5, 0.5, 1, 1]
    bad_cls = json.loads(json.dumps(good))
    bad_cls["images"][0]["detections"][0]["classifications"] = [["7", 0.5]]
    bad_version = dict(good, info={"format_version": "1.0"})
    for doc in (bad_box, bad_cls, bad_version, {"images": []}):
        assert check_megadetector(doc)


# -- fixtures --------------------------------------------------------------------------------------------------------
@pytest.fixture()
def folder(tmp_path: Path, media) -> Path:
    """Two camera folders (3 images, one corrupt file, one duplicate) and one recording."""
    d = tmp_path / "photos"
    (d / "cam-a").mkdir(parents=True)
    (d / "cam-b").mkdir()
    (d / "cam-a" / "IMG_0001.JPG").write_bytes(media.jpeg(noise_seed=1))
    (d / "cam-a" / "IMG_0002.JPG").write_bytes(media.jpeg(noise_seed=2))
    (d / "cam-b" / "IMG_0001.JPG").write_bytes(media.jpeg(noise_seed=3))
    (d / "cam-b" / "copy.jpg").write_bytes(media.jpeg(noise_seed=3))
    (d / "cam-b" / "broken.jpg").write_bytes(media.jpeg(noise_seed=4)[:200])
    (d / "cam-b" / "notes.txt").write_text("sidecar, not media")
    media.wav(d / "aru" / "REC_20240501_050000.wav", 3.0, freq_hz=1200.0)
    return d


@pytest.fixture(scope="module")
def calling_audio_bundle(bundles, tmp_path_factory) -> Path:
    """The tiny audio bundle with its labels reversed: the untrained model's favourite output (``blank`` in
    the original order) becomes a species, so its windows are detections."""
    d = tmp_path_factory.mktemp("calling") / "audio_model"
    shutil.copytree(bundles["audio"][0], d)
    meta = json.loads((d / "bundle.json").read_text())
    meta["labels"] = meta["labels"][::-1]
    (d / "bundle.json").write_text(json.dumps(meta))
    return d


@pytest.fixture()
def bundle_args(bundles, calling_audio_bundle) -> list[str]:
    return ["--bundle", str(bundles["image"][0]), "--bundle", str(calling_audio_bundle)]


@pytest.fixture()
def low_threshold(tmp_path: Path) -> Path:
    """The project's params with detection threshold 0 (the untrained test bundle then detects every window)."""
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["predict_audio"]["threshold"] = 0.0
    p["predict"]["decode_workers"] = 0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


# -- classify ---------------------------------------------------------------------------------------------------------
def test_help_lists_every_command_and_the_exit_codes():
    res = invoke("--help")
    assert res.exit_code == 0
    for name in ("classify", "serve", "keys", "labels", "export"):
        assert name in res.output
    assert "2 usage error" in res.output
    assert invoke("classify", "--help").exit_code == 0


def test_classify_megadetector_json_validates_and_resumes(folder, tmp_path, bundle_args, low_threshold):
    out = tmp_path / "out" / "results.json"
    res = invoke("classify", folder, "--out", out, *bundle_args, "--params", low_threshold)
    assert res.exit_code == cli.EXIT_REJECTED, res.output  # broken.jpg and the duplicate
    doc = json.loads(out.read_text())
    assert check_megadetector(doc) == []
    by_file = {e["file"]: e for e in doc["images"]}
    assert set(by_file) == {"cam-a/IMG_0001.JPG", "cam-a/IMG_0002.JPG", "cam-b/IMG_0001.JPG", "cam-b/broken.jpg",
                            "cam-b/copy.jpg"}
    assert "failure" in by_file["cam-b/broken.jpg"] and "failure" in by_file["cam-b/copy.jpg"]
    assert by_file["cam-b/copy.jpg"]["failure"].startswith("duplicate")
    for name in ("cam-a/IMG_0001.JPG", "cam-a/IMG_0002.JPG", "cam-b/IMG_0001.JPG"):
        dets = by_file[name]["detections"]
        assert len(dets) <= 1
        for d in dets:  # whole-image classification: one full-frame box of category animal
            assert d["bbox"] == [0.0, 0.0, 1.0, 1.0] and MD_CATEGORIES[d["category"]] == "animal"
            assert doc["classification_categories"][d["classifications"][0][0]] in ("Lithobates catesbeianus",
                                                                                   "Sus scrofa")
            assert d["conf"] == d["classifications"][0][1]
    assert "6 files: 4 classified, 0 already" in res.output  # 3 images + 1 recording
    assert "rejected duplicate: 1" in res.output
    rejected = list(csv.DictReader(open(f"{out}.rejected.csv")))
    assert {r["filePath"] for r in rejected} == {"cam-b/broken.jpg", "cam-b/copy.jpg"}
    # the recording went to a Raven table and an Audacity label track; the table loads back
    table = out.parent / "results_raven" / ("aru/REC_20240501_050000.wav" + RAVEN_SUFFIX)
    sels = read_raven_table(table)
    assert [(s.begin_s, s.end_s) for s in sels] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert all(s.low_hz == 50.0 and s.high_hz == 4000.0 and 0 < s.confidence <= 1 for s in sels)
    labels = (out.parent / "results_raven" / "aru/REC_20240501_050000.wav.biodiv.labels.txt").read_text().splitlines()
    assert [line.split("\t")[:2] for line in labels] == [["0.000", "1.000"], ["1.000", "2.000"], ["2.000", "3.000"]]
    # second run: nothing classified again, same entries
    before = {e["file"]: e for e in doc["images"] if "failure" not in e}
    res2 = invoke("classify", folder, "--out", out, *bundle_args, "--params", low_threshold)
    assert res2.exit_code == cli.EXIT_REJECTED
    assert "6 files: 0 classified, 4 already" in res2.output
    after = {e["file"]: e for e in json.loads(out.read_text())["images"] if "failure" not in e}
    assert after == before


def test_classify_csv_rows_and_resume(folder, tmp_path, bundle_args, low_threshold):
    out = tmp_path / "r.csv"
    assert invoke("classify", folder, "--out", out, *bundle_args, "--params", low_threshold).exit_code == 1
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == CSV_FIELDS
    cam = [r for r in rows if r["modality"] == "image"]
    audio = [r for r in rows if r["modality"] == "audio"]
    assert sorted(r["filePath"] for r in cam) == ["cam-a/IMG_0001.JPG", "cam-a/IMG_0002.JPG", "cam-b/IMG_0001.JPG"]
    assert {r["deploymentID"] for r in cam} == {"cam-a", "cam-b"}
    assert len(audio) == 3 and all(r["detected"] == "True" for r in audio)
    res = invoke("classify", folder, "--out", out, *bundle_args, "--params", low_threshold)
    assert "0 classified, 4 already" in res.output
    assert list(csv.DictReader(open(out))) == rows
    # --no-resume classifies everything again
    assert "4 classified, 0 already" in invoke("classify", folder, "--out", out, *bundle_args, "--no-resume",
                                                "--params", low_threshold).output


def test_an_interrupted_run_keeps_the_finished_deployments(folder, tmp_path, bundles, calling_audio_bundle,
                                                           low_threshold, monkeypatch):
    from pipeline import classify as core
    from pipeline.stages import predict

    out = tmp_path / "r.csv"
    real = predict.run_camera

    def interrupted(p, media, *args, **kw):
        if media[0]["deploymentID"] == "cam-b":
            raise KeyboardInterrupt
        return real(p, media, *args, **kw)

    monkeypatch.setattr(predict, "run_camera", interrupted)
    job = core.ClassifyJob.prepare([folder], out, "csv", [bundles["image"][0], calling_audio_bundle],
                                   Path("artifacts"), low_threshold, None)
    with pytest.raises(KeyboardInterrupt):
        job.run()
    assert {r["filePath"].split("/")[0] for r in csv.DictReader(open(out))} == {"aru", "cam-a"}
    monkeypatch.setattr(predict, "run_camera", real)
    res = invoke("classify", folder, "--out", out, "--bundle", bundles["image"][0], "--bundle", calling_audio_bundle,
                 "--params", low_threshold)
    assert "6 files: 1 classified, 3 already" in res.output
    assert {r["filePath"].split("/")[0] for r in csv.DictReader(open(out))} == {"aru", "cam-a", "cam-b"}


def test_classify_camtrap_dp_package(tmp_path, media, bundles, low_threshold):
    """A station drop with coordinates and times becomes a valid Camtrap DP package with one observation
    per image (and per camera event)."""
    drop = tmp_path / "drop"
    (drop / "st-1" / "cam").mkdir(parents=True)
    (drop / "deployments.csv").write_text(
        "deploymentID,stationID,latitude,longitude,timezone,deploymentStart,deploymentEnd\n"
        "st-1-cam,st-1,31.3,120.6,Asia/Shanghai,2024-05-01T00:00:00+08:00,2024-05-31T00:00:00+08:00\n")
    (drop / "stations.csv").write_text("stationID,stationName,note\nst-1,Station 1,\n")
    for i in range(2):
        (drop / "st-1" / "cam" / f"IMG_{i}.JPG").write_bytes(
            media.exif_jpeg(rgb=(10 * i, 100, 30), taken=f"2024:05:02 0{i}:00:00"))
    out = tmp_path / "pkg"
    res = invoke("classify", drop, "--out", out, "--bundle", bundles["image"][0], "--params", low_threshold)
    assert res.exit_code == 0, res.output
    assert validate_package(out) == []
    obs = list(csv.DictReader(open(out / "observations.csv")))
    media_rows = list(csv.DictReader(open(out / "media.csv")))
    assert sorted(m["filePath"] for m in media_rows) == ["st-1/cam/IMG_0.JPG", "st-1/cam/IMG_1.JPG"]
    assert sorted(o["mediaID"] for o in obs if o["observationLevel"] == "media") == sorted(
        m["mediaID"] for m in media_rows)
    assert {o["deploymentID"] for o in obs} == {"st-1-cam"}
    # a .zip holds the same package
    z = tmp_path / "pkg.zip"
    assert invoke("classify", drop, "--out", z, "--bundle", bundles["image"][0], "--params", low_threshold
                  ).exit_code == 0
    shutil.unpack_archive(z, tmp_path / "unzipped")
    def stable(rows):  # classificationTimestamp is the time of each run
        return [{k: v for k, v in r.items() if k != "classificationTimestamp"} for r in rows]

    assert stable(csv.DictReader(open(tmp_path / "unzipped" / "observations.csv"))) == stable(obs)


def test_classify_exit_codes_and_messages(folder, tmp_path, bundle_args, bundles):
    res = invoke("classify", tmp_path / "nowhere", "--out", tmp_path / "r.csv", *bundle_args)
    assert res.exit_code == cli.EXIT_USAGE and "no such file or folder" in res.output
    res = invoke("classify", folder, "--out", tmp_path / "r.xlsx", *bundle_args)
    assert res.exit_code == cli.EXIT_USAGE and "--format" in res.output
    res = invoke("classify", folder, "--out", tmp_path / "r.csv", "--artifacts", tmp_path / "empty")
    assert res.exit_code == cli.EXIT_NO_BUNDLE and "make run" in res.output
    res = invoke("classify", folder, "--out", tmp_path / "r.csv", "--bundle", folder)
    assert res.exit_code == cli.EXIT_NO_BUNDLE and "not a model bundle" in res.output
    foreign = tmp_path / "someone-elses.json"
    foreign.write_text("[1, 2, 3]")
    res = invoke("classify", folder, "--out", foreign, *bundle_args)
    assert res.exit_code == cli.EXIT_OUTPUT and "--no-resume" in res.output
    assert foreign.read_text() == "[1, 2, 3]"  # nothing overwritten
    # only an image bundle: the recording is rejected with a reason that says what to do, images are classified
    res = invoke("classify", folder, "--out", tmp_path / "img.csv", "--bundle", bundles["image"][0])
    assert res.exit_code == cli.EXIT_REJECTED and "rejected no_model: 1" in res.output
    clean = tmp_path / "clean"
    shutil.copytree(folder / "cam-a", clean)
    assert invoke("classify", clean, "--out", tmp_path / "ok.csv", *bundle_args).exit_code == cli.EXIT_OK


def test_output_format_from_suffix(tmp_path):
    assert cli.output_format(tmp_path / "a.csv", None) == cli.OutputFormat.csv
    assert cli.output_format(tmp_path / "a.JSON", None) == cli.OutputFormat.megadetector
    assert cli.output_format(tmp_path / "pkg", None) == cli.OutputFormat.camtrap_dp
    assert cli.output_format(tmp_path / "pkg.zip", None) == cli.OutputFormat.camtrap_dp
    assert cli.output_format(tmp_path / "a.txt", cli.OutputFormat.csv) == cli.OutputFormat.csv


# -- the other commands ---------------------------------------------------------------------------------------
def test_keys_create_list_revoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    res = invoke("keys", "create", "--role", "uploader", "--name", "station-1", "--database-url", url)
    assert res.exit_code == 0, res.output
    listed = invoke("keys", "list", "--database-url", url)
    key_id, role, name = listed.output.splitlines()[0].split("\t")[:3]
    assert (role, name) == ("uploader", "station-1") and "active" in listed.output
    assert invoke("keys", "revoke", key_id, "--database-url", url).exit_code == 0
    assert "revoked" in invoke("keys", "list", "--database-url", url).output
    assert invoke("keys", "revoke", "no-such-key", "--database-url", url).exit_code == 1
    assert invoke("keys", "create", "--role", "emperor", "--name", "x", "--database-url", url).exit_code == 2


def test_labels_export_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    res = invoke("labels", "export", "--raw", tmp_path / "raw", "--media-root", tmp_path / "media",
                 "--stations-root", tmp_path / "stations", "--database-url", url)
    assert res.exit_code == 0, res.output


def test_export_camtrap_dp_and_dwc(tmp_path):
    from tests.data_helpers import seed_history

    url = f"sqlite:///{tmp_path / 'e.db'}"
    seed_history(url)
    res = invoke("export", "camtrap-dp", tmp_path / "pkg", "--database-url", url, "--full")
    assert res.exit_code == 0, res.output
    assert "frictionless: valid" in res.output
    assert json.loads(res.output.splitlines()[0])["rows"]["observations"] > 0
    res = invoke("export", "dwc", tmp_path / "occ.csv", "--database-url", url)
    assert res.exit_code == 0 and (tmp_path / "occ.csv").is_file()


def test_serve_runs_uvicorn_with_the_app_factory(monkeypatch):
    import serve.__main__ as serve_main

    calls = []
    monkeypatch.setattr(serve_main.uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    res = invoke("serve", "--port", "8123")
    assert res.exit_code == 0, res.output
    assert calls == [(("serve.app:create_app",), {"factory": True, "host": "127.0.0.1", "port": 8123,
                                                   "reload": False})]
    assert invoke("serve", "--port", "0").exit_code == 2  # out of range


def test_classify_videos_into_megadetector_json(cases, tmp_path, bundles):
    """The field videos (BR-12): each is one entry, with frame_rate and frame_number when it decodes, or a
    failure with the reason; the document still follows the format."""
    d = tmp_path / "videos"
    d.mkdir()
    for f in sorted((cases / "BR-12").iterdir()):
        shutil.copy(f, d / f.name)
    out = tmp_path / "v.json"
    res = invoke("classify", d, "--out", out, "--bundle", bundles["image"][0])
    assert res.exit_code in (cli.EXIT_OK, cli.EXIT_REJECTED), res.output
    doc = json.loads(out.read_text())
    assert check_megadetector(doc) == []
    videos = [e for e in doc["images"] if e["file"].upper().endswith(".AVI")]
    assert {e["file"] for e in videos} >= {f"IMAG000{i}.AVI" for i in (1, 2, 3)}
    decoded = [e for e in videos if "failure" not in e]
    assert decoded, "at least one field video decodes"
    for e in decoded:
        assert e["frame_rate"] > 0
        assert all(isinstance(det["frame_number"], int) and det["frame_number"] >= 0 for det in e["detections"])
