"""``biodiv classify``: classify loose files and folders into one results file, without DVC or a database.

The classification is the predict stages' own (``pipeline.stages.predict.run_camera`` for images and videos,
``pipeline.stages.predict_audio.run`` for recordings), so whatever decides a label there decides it here.
Outputs (see ``docs/cli.md``):

- CSV: one row per image, sampled video frame and audio window (``WINDOW_FIELDS``: the predict stages'
  columns; ``channel``/``threshold``/``detected`` are empty for camera rows);
- MegaDetector batch-output JSON (format 1.4, what Timelapse and AddaxAI import): whole-image
  classifications are one detection of category ``animal`` (``person`` for *Homo sapiens*) with the
  whole-frame box ``[0, 0, 1, 1]`` carrying the top-k ``classifications``; a blank image has an empty
  ``detections`` list; a rejected file has ``failure`` (the reason) and no ``detections``; a video is one
  entry (with ``frame_rate``) with one detection per species seen in its sampled frames: the best frame's
  confidence and ``frame_number``;
- Camtrap DP 1.0.2 package (folder or ``.zip``): the product's exporter (``models.store.export``) run on a
  throw-away SQLite database;
- per recording, a Raven selection table and an Audacity label track (``models.inference.audio_outputs``).

Resuming: the files already in the output with the same model version are not classified again; their
rows are kept. ``<out>.rejected.csv`` lists the files of the last run that could not be classified.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import shutil
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from models.inference.audio_events import WINDOW_FIELDS, AudioWindow
from models.inference.audio_outputs import write_recording_tables
from models.ingest import MEDIA_FIELDS, ingest_paths, ingest_stations
from models.learning.bundle import BundleMeta, read_meta
from models.media.errors import BiodivError
from models.media.tables import REJECTION_FIELDS, Rejection, read_csv, write_csv
from models.taxonomy.catalogue import Catalogue
from pipeline.common import progress
from pipeline.params import DeploymentSettings, PredictAudioParams, PredictParams, load_params

log = logging.getLogger(__name__)

#: Columns of the CSV output (camera rows leave the audio-only columns empty).
CSV_FIELDS = list(dict.fromkeys(WINDOW_FIELDS))
#: MegaDetector output format written (https://lila.science/megadetector-output-format).
MD_FORMAT_VERSION = "1.4"
MD_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
#: The Camtrap DP output keeps the predictions it was made from here (for resuming).
PACKAGE_STATE = "biodiv-predictions.csv"
HUMAN = "Homo sapiens"


class NoBundleError(BiodivError):
    """No model bundle for the media to classify."""


class OutputError(BiodivError):
    """The output exists and cannot be read back for resuming."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_rows_atomic(path: Path, rows: list, fields: list[str]) -> None:
    tmp = path.with_name(path.name + ".part")
    write_csv(tmp, rows, fields)
    tmp.replace(path)


@dataclass
class Summary:
    """What one ``biodiv classify`` run did."""

    files: int = 0
    classified: int = 0
    resumed: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    species: Counter = field(default_factory=Counter)
    blank: int = 0
    private: int = 0
    unknown: int = 0
    out: str = ""
    tables: str = ""
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The end-of-run summary printed by the command."""
        lines = [f"{self.files} files: {self.classified} classified, {self.resumed} already in {self.out}, "
                 f"{len(self.rejected)} rejected"]
        if self.species:
            lines.append("species (files): " + ", ".join(f"{n} {c}" for n, c in self.species.most_common()))
        if self.private:
            lines.append(f"people or vehicles (files, kept private): {self.private}")
        if self.unknown:
            lines.append(f"unknown only (files; no answer cleared its threshold): {self.unknown}")
        lines.append(f"blank (files): {self.blank}")
        reasons = Counter(r.reason for r in self.rejected)
        for reason, n in reasons.most_common():
            lines.append(f"rejected {reason}: {n}")
        for r in self.rejected[:10]:
            lines.append(f"  {r.filePath}: {r.reason} ({r.detail})")
        if len(self.rejected) > 10:
            lines.append(f"  ... {len(self.rejected) - 10} more in {self.out}.rejected.csv")
        lines += self.notes
        if self.tables:
            lines.append(f"Raven selection tables and Audacity labels: {self.tables}")
        lines.append(f"results: {self.out}")
        return "\n".join(lines)


def _default_bundles(artifacts: Path) -> list[Path]:
    found = []  # the ONNX exports first: they classify without PyTorch
    for modality in ("image", "audio"):
        for name in (f"{modality}_model_onnx", f"{modality}_model"):
            if (artifacts / name / "bundle.json").is_file():
                found.append(artifacts / name)
                break
    return found


def find_bundles(given: list[Path], artifacts: Path) -> dict[str, tuple[Path, BundleMeta]]:
    """``{modality: (folder, meta)}`` from ``--bundle`` folders, else the defaults in ``artifacts``.

    Raises:
        NoBundleError: a given folder is not a bundle, or two bundles of one modality, or none at all.
    """
    out: dict[str, tuple[Path, BundleMeta]] = {}
    for d in given or _default_bundles(artifacts):
        try:
            meta = read_meta(d)
        except (OSError, BiodivError, ValueError, KeyError, TypeError) as exc:
            raise NoBundleError(f"{d} is not a model bundle (no readable bundle.json: {exc}); pass the folder "
                                "that holds bundle.json, e.g. artifacts/image_model") from exc
        if meta.modality in out:
            raise NoBundleError(f"two {meta.modality} bundles given ({out[meta.modality][0]} and {d}); pass one")
        out[meta.modality] = (d, meta)
    if not out:
        raise NoBundleError(f"no model bundle in {artifacts}/ (image_model, audio_model_onnx): run `make run` "
                            "once to train them, or pass --bundle DIR")
    return out


def _load(modality: str, folder: Path, threads: int):
    from models.learning.onnx_bundle import load_classifier

    return load_classifier(folder, threads)


def _modality_of(row: dict) -> str:
    return "audio" if row.get("modality") == "audio" else "image"


@dataclass
class ClassifyJob:
    """One ``biodiv classify`` run, prepared (inputs indexed, bundles found, earlier output read)."""

    root: Path
    media: list[dict]
    rejected: list[Rejection]
    out: Path
    fmt: str
    bundles: dict[str, tuple[Path, BundleMeta]]
    predict: PredictParams
    predict_audio: PredictAudioParams
    deployments: dict[str, DeploymentSettings]
    tables: Path | None
    stations: list[dict]
    deployment_rows: list[dict]
    previous: dict = field(default_factory=dict)
    frame_rates: dict[str, float] = field(default_factory=dict)

    @classmethod
    def prepare(cls, paths: list[Path], out: Path, fmt: str, bundles: list[Path], artifacts: Path,
                params: Path, tables: Path | None, resume: bool = True) -> ClassifyJob:
        """Index the inputs and read what an earlier run left in ``out``.

        Raises:
            FileNotFoundError: an input that does not exist.
            NoBundleError: see :func:`find_bundles`.
            OutputError: ``out`` exists and is not an output of this format.
        """
        found = find_bundles(bundles, artifacts)
        if params.is_file():
            prm = load_params(params)
            p_img, p_aud, deps = prm.predict, prm.predict_audio, prm.deployments
        else:
            p_img, p_aud, deps = PredictParams(), PredictAudioParams(), {}
        bar = lambda it: progress(it, "reading files")  # noqa: E731
        stations_rows: list[dict] = []
        dep_rows: list[dict] = []
        if len(paths) == 1 and paths[0].is_dir() and (paths[0] / "deployments.csv").is_file():
            root = paths[0].resolve()
            records, rejected = ingest_stations(root, progress=bar)
            dep_rows = read_csv(root / "deployments.csv")
            if (root / "stations.csv").is_file():
                stations_rows = read_csv(root / "stations.csv")
        else:
            root, records, rejected = ingest_paths(paths, progress=bar)
        media = [{k: ("" if v is None else v) for k, v in dataclasses.asdict(r).items()} for r in records]
        job = cls(root, media, list(rejected), out, fmt, found, p_img, p_aud, deps, tables, stations_rows, dep_rows)
        if resume:
            job.previous = job._read_previous()
        return job

    # -- resuming -------------------------------------------------------------------------------------------
    def _version(self, modality: str) -> str | None:
        b = self.bundles.get(modality)
        return b[1].model_version if b else None

    def _read_previous(self) -> dict:
        """``{"rows": [...], "md": {file: entry}}`` of the earlier output, filtered to the current versions."""
        out = self.out
        try:
            if self.fmt == "csv" and out.is_file():
                return {"rows": self._current(read_csv(out))}
            if self.fmt == "camtrap-dp" and out.exists():
                state = self._package_state()
                return {"rows": self._current(state)} if state is not None else {}
            if self.fmt == "megadetector" and out.is_file():
                doc = json.loads(out.read_text(encoding="utf-8"))
                meta = doc.get("info", {}).get("classifier_metadata", {})
                recordings = {f: v for f, v in meta.get("recordings", {}).items() if v == self._version("audio")}
                if meta.get("model_version") != self._version("image"):
                    return {"md": {}, "md_audio": recordings}
                return {"md": {e["file"]: e for e in doc["images"] if "failure" not in e}, "md_audio": recordings}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, csv.Error, zipfile.BadZipFile) as exc:
            raise OutputError(f"{out} exists but is not a {self.fmt} output of biodiv classify ({exc}); "
                              "move it away, choose another --out, or pass --no-resume to overwrite it") from exc
        return {}

    def _package_state(self) -> list[dict] | None:
        if self.out.is_dir():
            p = self.out / PACKAGE_STATE
            return read_csv(p) if p.is_file() else None
        if self.out.suffix.lower() == ".zip":
            with zipfile.ZipFile(self.out) as z:
                if PACKAGE_STATE not in z.namelist():
                    return None
                text = z.read(PACKAGE_STATE).decode("utf-8")
            return list(csv.DictReader(text.splitlines()))
        return None

    def _current(self, rows: list[dict]) -> list[dict]:
        if rows and "filePath" not in rows[0]:
            raise KeyError("filePath")
        return [r for r in rows if r.get("modelVersion") == self._version(_modality_of(r))]

    def _done(self) -> set[str]:
        if "md" in self.previous:
            return set(self.previous["md"]) | set(self.previous["md_audio"])
        return {r["filePath"] for r in self.previous.get("rows", [])}

    # -- running --------------------------------------------------------------------------------------------
    def run(self) -> Summary:
        """Classify what is not in the output yet, write the outputs and return the summary.

        Media are classified one deployment at a time (camera events never span deployments, so the result is
        the same); CSV and MegaDetector outputs are rewritten after each one, so an interrupted run loses at
        most the deployment in progress and the next run resumes from there."""
        from pipeline.stages import predict, predict_audio

        catalogue = Catalogue.load()
        done = self._done()
        todo = [m for m in self.media if m["filePath"] not in done]
        summary = Summary(files=len(self.media) + len(self.rejected), resumed=len(self.media) - len(todo),
                          out=str(self.out))
        acc = {"predictions": [], "events": [], "windows": [], "audio_events": [], "indices": [],
               "rejected": list(self.rejected), "recordings": set()}
        groups: dict[str, list[dict]] = {}
        for m in todo:
            modality = "audio" if m["modality"] == "audio" else "image"
            if modality not in self.bundles:
                acc["rejected"].append(Rejection(m["filePath"], "no_model",
                                                 f"no {modality} bundle: run `make run` or pass --bundle DIR"))
                continue
            groups.setdefault(m.get("deploymentID", ""), []).append(m)
        classifiers: dict = {}

        def clf(modality: str):
            if modality not in classifiers:
                classifiers[modality] = _load(modality, self.bundles[modality][0], self.predict_audio.threads)
            return classifiers[modality]

        for i, group in enumerate(groups.values()):
            cam = [m for m in group if m["modality"] in ("image", "video")]
            rec = [m for m in group if m["modality"] == "audio"]
            if cam:
                res = predict.run_camera(self.predict, cam, self.root, clf("image"), catalogue, self.deployments)
                acc["predictions"] += res.predictions
                acc["events"] += res.events
                acc["rejected"] += res.rejected
            if rec:
                ar = predict_audio.run(self.predict_audio, rec, self.root, clf("audio"), catalogue)
                acc["windows"] += ar["windows"]
                acc["audio_events"] += ar["events"]
                acc["indices"] += ar["indices"]
                acc["rejected"] += [Rejection(r["filePath"], r["reason"], r["detail"]) for r in ar["rejected"]]
                acc["recordings"] |= {m["filePath"] for m in rec} - {r["filePath"] for r in ar["rejected"]}
                self._write_tables(rec, ar["windows"], ar["rejected"], catalogue, summary)
            if self.fmt != "camtrap-dp" and i < len(groups) - 1:
                self._write(acc, catalogue, summary)  # checkpoint
        self._write(acc, catalogue, summary)
        bad = {r.filePath for r in acc["rejected"]}
        summary.classified = len({m["filePath"] for m in todo} - bad)
        summary.rejected = acc["rejected"]
        self._count(self._rows(acc) + self._md_rows(), summary)
        return summary

    def _rows(self, acc: dict) -> list[dict]:
        return self.previous.get("rows", []) + [
            {**dataclasses.asdict(p), "channel": "", "threshold": "", "detected": ""} for p in acc["predictions"]
        ] + [w.row() for w in acc["windows"]]

    def _write(self, acc: dict, catalogue: Catalogue, summary: Summary) -> None:
        """Write the output and ``OUT.rejected.csv`` from what is classified so far (each file atomically)."""
        rows = self._rows(acc)
        rejected = acc["rejected"]
        if self.fmt == "csv":
            self.out.parent.mkdir(parents=True, exist_ok=True)
            _write_rows_atomic(self.out, rows, CSV_FIELDS)
        elif self.fmt == "megadetector":
            self._write_megadetector(acc["predictions"], rejected, catalogue, acc["recordings"])
        else:
            audio = {"windows": [r for r in rows if r.get("modality") == "audio"],
                     "events": [e.row() for e in acc["audio_events"]], "indices": acc["indices"]}
            self._write_package(rows, acc["events"], audio if audio["windows"] else None, catalogue, summary)
        rej_path = Path(f"{self.out}.rejected.csv")
        if rejected or rej_path.exists():
            rej_path.parent.mkdir(parents=True, exist_ok=True)
            _write_rows_atomic(rej_path, rejected, REJECTION_FIELDS)

    def _md_rows(self) -> list[dict]:
        """Earlier MegaDetector entries as rows for the summary (their top classification per detection)."""
        meta = self.bundles.get("image", (None, None))[1]
        names = [lb for lb in (meta.labels if meta else []) if lb != "blank"]
        rows = []
        for e in self.previous.get("md", {}).values():
            rows.append({"filePath": e["file"], "scientificName": ""})
            for d in e.get("detections") or []:
                if d.get("category") in ("2", "3"):
                    rows.append({"filePath": e["file"], "scientificName": "",
                                 "observationType": "human" if d["category"] == "2" else "vehicle"})
                elif d.get("classifications"):
                    rows.append({"filePath": e["file"], "scientificName": names[int(d["classifications"][0][0])]})
        return rows

    @staticmethod
    def _count(rows: list[dict], summary: Summary) -> None:
        by_file: dict[str, set[str]] = defaultdict(set)
        kinds: dict[str, set[str]] = defaultdict(set)
        for r in rows:
            by_file[r["filePath"]]
            audio = r.get("modality") == "audio"
            kind = r.get("observationType", "")
            if r.get("scientificName") and (not audio or str(r.get("detected")) == "True"):
                by_file[r["filePath"]].add(r["scientificName"])
            elif kind in ("human", "vehicle", "unknown"):
                kinds[r["filePath"]].add("private" if kind != "unknown" else kind)
        for names in by_file.values():
            summary.species.update(names)
        summary.private = sum(1 for f in by_file if "private" in kinds[f])
        summary.unknown = sum(1 for f, names in by_file.items() if not names and kinds[f] == {"unknown"})
        summary.blank = sum(1 for f, names in by_file.items() if not names and not kinds[f])

    def _write_tables(self, rec: list[dict], windows: list[AudioWindow], failed: list[dict],
                      catalogue: Catalogue, summary: Summary) -> None:
        """One Raven selection table and one Audacity label track per analysed recording."""
        folder = self.tables or self.out.with_name(self.out.stem + "_raven")
        pre = self.bundles["audio"][1].audio_preprocessing()
        write_recording_tables(folder, rec, windows, catalogue, pre.fmin_hz, pre.fmax_hz, self.root,
                               {r["filePath"] for r in failed})
        summary.tables = str(folder)

    def _write_megadetector(self, predictions: list, rejected: list[Rejection], catalogue: Catalogue,
                            recordings: set[str]) -> None:
        """The camera results as MegaDetector batch output; the recordings analysed (their results are the
        Raven tables) are listed in ``info.classifier_metadata.recordings`` with their model version."""
        meta = self.bundles.get("image", (None, None))[1]
        labels = [lb for lb in (meta.labels if meta else []) if lb != "blank"]
        cat_id = {lb: str(i) for i, lb in enumerate(labels)}
        entries = dict(self.previous.get("md", {}))
        entries.update(megadetector_entries(predictions, cat_id, self._frame_rates(predictions)))
        for r in rejected:
            if r.filePath not in entries:
                entries[r.filePath] = {"file": r.filePath, "failure": f"{r.reason}: {r.detail}"}
        for name in [f for f, e in entries.items() if "failure" not in e and not self._is_image(f)]:
            entries.pop(name)
        descriptions = {}
        for lb, i in cat_id.items():
            sp = catalogue.get(lb)
            descriptions[i] = ";".join(x for x in (lb, sp.vernacularNameEN if sp else "") if x)
        doc = {
            "info": {"format_version": MD_FORMAT_VERSION, "detector": "none (whole-image classification)",
                     "detection_completion_time": _now(), "classifier": f"biodiv-obs {self._version('image')}",
                     "classification_completion_time": _now(),
                     "detector_metadata": {"typical_detection_threshold": 0.5,
                                           "conservative_detection_threshold": 0.3},
                     "classifier_metadata": {
                         "model_version": self._version("image"), "whole_image": True,
                         "bbox": "[0, 0, 1, 1]: whole-image classification, no box",
                         "recordings": dict(sorted({**self.previous.get("md_audio", {}),
                                                    **dict.fromkeys(recordings, self._version("audio"))}.items()))}},
            "detection_categories": dict(MD_CATEGORIES),
            "classification_categories": {i: lb for lb, i in cat_id.items()},
            "classification_category_descriptions": descriptions,
            "images": [entries[k] for k in sorted(entries)],
        }
        _write_atomic_text(self.out, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")

    def _frame_rates(self, predictions: list) -> dict[str, float]:
        from models.media.errors import MediaError
        from models.media.video import probe_video

        cache = self.frame_rates
        for name in sorted({p.filePath for p in predictions if p.modality == "video"} - cache.keys()):
            try:
                cache[name] = probe_video(self.root / name).fps
            except MediaError:
                cache[name] = 0.0
        return cache

    def _is_image(self, file_path: str) -> bool:
        mod = next((m["modality"] for m in self.media if m["filePath"] == file_path), "image")
        return mod in ("image", "video")

    def _write_package(self, rows: list[dict], events: list, audio: dict | None, catalogue: Catalogue,
                       summary: Summary) -> None:
        """Camtrap DP via the product's exporter on a throw-away SQLite database."""
        from sqlalchemy.orm import Session

        from models.store.db import make_engine
        from models.store.export import export_camtrap_dp
        from pipeline.stages import publish

        media = [{k: str(m.get(k, "")) for k in MEDIA_FIELDS} for m in self.media]
        dep_ids = sorted({m["deploymentID"] for m in self.media})
        deployments = self.deployment_rows or [{"deploymentID": d, "stationID": d.split("/")[0] or "cli"}
                                               for d in dep_ids]
        stations = self.stations or [{"stationID": s} for s in sorted({d["stationID"] for d in deployments})]
        camera = [r for r in rows if r.get("modality") != "audio"]
        with tempfile.TemporaryDirectory(prefix="biodiv-classify-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'results.db'}"
            publish.run(url, stations, deployments, media, camera,
                        [dataclasses.asdict(e) for e in events], audio)
            pkg = Path(tmp) / "package"
            engine = make_engine(url)
            with Session(engine) as session:
                report = export_camtrap_dp(session, pkg, catalogue, public=False)
            engine.dispose()
            summary.notes.append(
                f"Camtrap DP: {report.rows.get('deployments', 0)} deployments, {report.rows.get('media', 0)} media, "
                f"{report.rows.get('observations', 0)} observations")
            if report.warnings:
                summary.notes.append(
                    f"Camtrap DP: {len(report.warnings)} rows left out (no coordinates or no time zone: Camtrap DP "
                    "requires both; give them in deployments.csv), see warnings.csv in the package")
            write_csv(pkg / PACKAGE_STATE, rows, CSV_FIELDS)
            if self.out.suffix.lower() == ".zip":
                part = self.out.with_name(self.out.name + ".part")
                with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
                    for f in sorted(pkg.rglob("*")):
                        z.write(f, f.relative_to(pkg).as_posix())
                part.replace(self.out)
            else:
                if self.out.exists():
                    shutil.rmtree(self.out)
                shutil.copytree(pkg, self.out)


def megadetector_entries(predictions: list, cat_id: dict[str, str],
                         fps_of: dict[str, float] | None = None) -> dict[str, dict]:
    """MegaDetector ``images`` entries (by file) for image and video predictions; see the module docstring.

    ``fps_of`` gives each video's frame rate (Hz): a video entry then has ``frame_rate`` and each detection the
    ``frame_number`` of its best frame, as MegaDetector's video output has them."""
    by_file: dict[str, list] = defaultdict(list)
    for p in predictions:
        by_file[p.filePath].append(p)
    out = {}
    for name, preds in by_file.items():
        best: dict[str, dict] = {}
        for p in preds:
            private = p.observationType in ("human", "vehicle")  # people and vehicles: MegaDetector classes 2, 3
            if not private and (p.observationType == "blank" or not p.scientificName):
                continue
            key = p.observationType if private else p.scientificName
            conf = round(float(p.classificationProbability), 4)
            if key in best and best[key]["conf"] >= conf:
                continue
            classes = [] if private else [[cat_id[n], round(float(c), 4)] for n, c in json.loads(p.topK) if n in cat_id]
            category = ("2" if p.observationType == "human" else "3") if private else (
                "2" if p.scientificName == HUMAN else "1")
            det = {"category": category, "conf": conf, "bbox": [0.0, 0.0, 1.0, 1.0], "classifications": classes}
            fps = (fps_of or {}).get(name, 0.0)
            if p.modality == "video" and fps > 0:
                det["frame_number"] = round(p.start_s * fps)
            best[key] = det
        entry = {"file": name, "detections": sorted(best.values(), key=lambda d: -d["conf"])}
        if (fps_of or {}).get(name, 0.0) > 0:
            entry["frame_rate"] = round(fps_of[name], 3)
        out[name] = entry
    return out


@dataclass
class ImportReport:
    """What ``biodiv import camtrap-dp`` wrote."""

    deployments: int = 0
    media: int = 0
    labels: Counter = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)
    drop: str = ""
    labelled: str = ""

    def text(self) -> str:
        lines = [f"{self.deployments} deployments and {self.media} media added to {self.drop}"]
        if self.labelled:
            lines.append(f"{sum(self.labels.values())} human labels in {self.labelled}/manifest.csv: "
                         + ", ".join(f"{n} {c}" for n, c in self.labels.most_common()))
        for reason, n in Counter(r.reason for r in self.rejected).most_common():
            lines.append(f"rejected {reason}: {n}")
        for r in self.rejected[:10]:
            lines.append(f"  {r.filePath}: {r.reason} ({r.detail})")
        return "\n".join(lines)


#: Columns written to a drop's ``deployments.csv`` (what ``models.ingest.ingest_stations`` and publish read).
DROP_DEPLOYMENT_FIELDS = ["deploymentID", "stationID", "deviceType", "deviceModel", "latitude", "longitude",
                          "coordinateUncertainty_m", "timezone", "deploymentStart", "deploymentEnd", "source_repo",
                          "licence", "attribution"]
LABEL_MANIFEST_FIELDS = ["file", "scientific_name", "station_hint", "datetime", "licence", "attribution",
                         "source_repo"]


def _merge_csv(path: Path, rows: list[dict], fields: list[str], key: str) -> int:
    """Append the rows whose ``key`` is not in ``path`` yet (keeping its columns); returns rows added."""
    old = read_csv(path) if path.is_file() else []
    have = {r[key] for r in old}
    new = [r for r in rows if r[key] not in have]
    header = list(old[0]) if old else fields
    header += [f for f in fields if f not in header]
    _write_rows_atomic_dirs(path, old + new, header)
    return len(new)


def _write_rows_atomic_dirs(path: Path, rows: list, fields: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_rows_atomic(path, rows, fields)


def fixed_offset_zone(iso: str) -> str:
    """The IANA fixed-offset zone of an ISO 8601 time's offset (``+08:00`` -> ``Etc/GMT-8``; note the sign,
    POSIX style), so that the drop's files without an offset of their own get the package's; ``""`` when the
    time has no offset or it is not a whole number of hours (no ``Etc/`` zone exists for it)."""
    try:
        off = datetime.fromisoformat(iso).utcoffset()
    except ValueError:
        return ""
    if off is None or off.total_seconds() % 3600:
        return ""
    hours = int(off.total_seconds() // 3600)
    return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


def import_camtrap_dp(package: Path, drop: Path, media_root: Path | None, labels: Path | None) -> ImportReport:
    """Copy a Camtrap DP package's media into station drop ``drop`` (``<deploymentID>/<filePath>``), add its
    deployments and locations to ``deployments.csv``/``stations.csv`` there, and with ``labels`` write the
    human-labelled media as a labelled dataset (``manifest.csv`` as ``models.ingest.ingest_labelled`` reads it).

    Raises:
        BiodivError: the package cannot be read (see ``models.ingest_camtrap_dp.read_camtrap_dp``).
    """
    from models.ingest_camtrap_dp import ingest_camtrap_dp

    pkg, records, rejected = ingest_camtrap_dp(package, Catalogue.load(), media_root)
    report = ImportReport(rejected=rejected, drop=str(drop), labelled=str(labels) if labels else "")
    src_root = Path(media_root) if media_root is not None else pkg.root
    deps = [{"deploymentID": str(d["deploymentID"]), "stationID": str(d.get("locationID") or d["deploymentID"]),
             "deviceType": "camera", "deviceModel": str(d.get("cameraModel", "")),
             "latitude": d.get("latitude", ""), "longitude": d.get("longitude", ""),
             "coordinateUncertainty_m": d.get("coordinateUncertainty", ""),
             "timezone": fixed_offset_zone(str(d.get("deploymentStart", ""))),
             "deploymentStart": d.get("deploymentStart", ""), "deploymentEnd": d.get("deploymentEnd", ""),
             "source_repo": f"camtrap-dp:{pkg.root.name}", "licence": "", "attribution": ""}
            for d in pkg.deployments]
    stations = {str(d.get("locationID") or d["deploymentID"]): str(d.get("locationName", "")) for d in pkg.deployments}
    manifest = []
    for r in records:
        target = drop / r.deploymentID / r.filePath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_root / r.filePath, target)
        report.media += 1
        if labels is not None and r.label:
            dest = labels / r.deploymentID / r.filePath
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src_root / r.filePath, dest)
            manifest.append({"file": f"{r.deploymentID}/{r.filePath}",
                             "scientific_name": "" if r.label == "blank" else r.label,
                             "station_hint": r.deploymentID, "datetime": r.timestamp, "licence": "",
                             "attribution": "", "source_repo": f"camtrap-dp:{pkg.root.name}"})
            report.labels[r.label] += 1
    report.deployments = _merge_csv(drop / "deployments.csv", deps, DROP_DEPLOYMENT_FIELDS, "deploymentID")
    _merge_csv(drop / "stations.csv", [{"stationID": k, "stationName": v, "note": ""} for k, v in stations.items()],
               ["stationID", "stationName", "note"], "stationID")
    if labels is not None:
        _merge_csv(labels / "manifest.csv", manifest, LABEL_MANIFEST_FIELDS, "file")
    return report


def import_raven(tables: list[Path], labels: Path, audio_root: Path | None, window_s: float, hop_s: float,
                 ) -> tuple[Counter, list[Rejection]]:
    """Cut the recordings annotated by Raven selection tables into labelled clips under ``labels`` (a labelled
    acoustic dataset: ``manifest.csv`` + WAV clips, e.g. ``data/raw/acoustic/imported/<name>``). A table whose recording
    is not found, or that cannot be read, is a rejection; the others go on.

    Returns:
        clips per label, and the tables left out.
    """
    from models.inference.audio_outputs import read_raven_table, recording_of, write_training_clips
    from models.media.errors import MediaError

    catalogue = Catalogue.load()
    counts: Counter = Counter()
    rejected: list[Rejection] = []
    rows: list[dict] = []
    for table in tables:
        try:
            sels = read_raven_table(table)
            rec = recording_of(table, sels, audio_root)
            if rec is None:
                rejected.append(Rejection(str(table), "missing_file", "recording not found: give --audio-root"))
                continue
            clips = write_training_clips(rec, sels, catalogue, labels, window_s, hop_s, prefix="raven/")
        except (BiodivError, MediaError, OSError) as exc:
            rejected.append(Rejection(str(table), getattr(exc, "reason", "bad_table"), str(exc)))
            continue
        rows += [{**r, "station_hint": "", "datetime": "", "licence": "", "attribution": ""} for r in clips]
        counts.update(r["scientific_name"] or "blank" for r in clips)
    _merge_csv(labels / "manifest.csv", rows, LABEL_MANIFEST_FIELDS, "file")
    return counts, rejected
