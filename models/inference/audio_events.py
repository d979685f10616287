"""Acoustic window predictions -> thresholded detections, detection events and per-recording summaries.

A window is *detected* when the one decision path (``models.inference.decision``, applied per window
by ``make_predictions``) accepted an animal taxon for it: a species at or above its threshold
(catalogue ``detectionThreshold``, else the bundle's validation threshold, else the stage default), or
a genus / family / order / class whose summed probability clears it after a roll-up. Silent, unknown
and person windows stay in the outputs (``detected`` false) but are not published as detections.
Consecutive detected windows of one recording and channel with the same species (each starting no
later than the previous one ends, i.e. overlapping or touching) form one detection event (Camtrap
DP ``observationLevel`` ``event``) with its start and end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from models.inference.detect import Prediction
from models.taxonomy.catalogue import Catalogue

#: Columns of the predict_audio stage's ``windows.csv``: a ``Prediction`` plus these.
WINDOW_EXTRA_FIELDS = ["channel", "threshold", "detected", "eventID"]
WINDOW_FIELDS = list(Prediction.__dataclass_fields__) + WINDOW_EXTRA_FIELDS


@dataclass(frozen=True)
class AudioWindow:
    """One classified analysis window of a recording.

    Attributes:
        prediction: the window's top-1 class and alternatives (offsets ``start_s``/``end_s`` in s).
        channel: channel index when channels are analysed separately, None for the mix-down.
        threshold: the catalogue threshold of the decided name, else the stage default; NaN-free.
        detected: the decision is an animal taxon (published as a detection).
        eventID: the detection event this window belongs to ("" when not detected).
    """

    prediction: Prediction
    channel: int | None = None
    threshold: float = 0.0
    detected: bool = False
    eventID: str = ""

    def row(self) -> dict:
        """Flat row for ``windows.csv`` (``WINDOW_FIELDS``); the mix-down channel is empty."""
        return {**dataclasses.asdict(self.prediction), "channel": "" if self.channel is None else self.channel,
                "threshold": self.threshold, "detected": self.detected, "eventID": self.eventID}


@dataclass(frozen=True)
class AudioEvent:
    """A detection event: consecutive detected windows of one species in one recording and channel.

    ``start_s``/``end_s`` are offsets in the recording (s); ``eventStart``/``eventEnd`` absolute ISO
    8601 times when the recording's start is known, else empty. ``classificationProbability`` is the
    highest window probability; ``windowCount`` the number of windows merged.
    """

    eventID: str
    mediaID: str
    deploymentID: str
    stationID: str
    channel: int | None
    scientificName: str
    start_s: float
    end_s: float
    eventStart: str
    eventEnd: str
    classificationProbability: float
    isInvasive: bool
    windowCount: int
    modelVersion: str
    taxonRank: str = ""
    classificationSource: str = "model"

    def row(self) -> dict:
        """Flat row for ``events.csv`` (``EVENT_FIELDS``)."""
        d = dataclasses.asdict(self)
        d["channel"] = "" if self.channel is None else self.channel
        return d


EVENT_FIELDS = [f.name for f in dataclasses.fields(AudioEvent)]


def threshold_for(catalogue: Catalogue, name: str, default: float) -> float:
    """The species' ``detectionThreshold`` from the catalogue, or ``default`` when it has none
    (or the name is not in the catalogue)."""
    return catalogue.detection_threshold(name, default)


def apply_thresholds(preds: Iterable[Prediction], channels: Iterable[int | None], catalogue: Catalogue,
                     default_threshold: float) -> list[AudioWindow]:
    """Mark each window detected or not (see the module docstring); nothing is dropped.

    The label, threshold and invasive flag were decided per window by ``models.inference.decision``
    (``make_predictions``); a window is detected when that decision is an animal taxon (species, or a
    higher taxon after a roll-up). ``threshold`` records the catalogue threshold of the name (else
    ``default_threshold``).
    """
    out = []
    for p, ch in zip(preds, channels, strict=True):
        thr = threshold_for(catalogue, p.scientificName, default_threshold)
        detected = p.observationType == "animal" and bool(p.scientificName)
        out.append(AudioWindow(p, ch, thr, detected))
    return out


def event_id(media_id: str, channel: int | None, name: str, start_s: float, model_version: str) -> str:
    """Deterministic event key: SHA-256 of ``mediaID|channel|scientificName|start_s|modelVersion``, 32 hex."""
    key = f"audio|{media_id}|{'' if channel is None else channel}|{name}|{start_s:.3f}|{model_version}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _shift(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat() if iso else ""


def merge_events(windows: list[AudioWindow]) -> tuple[list[AudioWindow], list[AudioEvent]]:
    """Group consecutive detected windows of the same species (per recording and channel) into events.

    Args:
        windows: windows of one or more recordings, in any order.

    Returns:
        ``(windows with eventID set, events)``, windows in their input order, events ordered by
        recording, channel and start. Two windows join when the second starts at or before the
        first one's end (overlap or touch) and both carry the same species.
    """
    order = sorted(range(len(windows)), key=lambda i: (windows[i].prediction.mediaID,
                                                      -1 if windows[i].channel is None else windows[i].channel,
                                                      windows[i].prediction.start_s))
    groups: list[list[int]] = []
    for i in order:
        w = windows[i]
        if not w.detected:
            continue
        if groups:
            last = windows[groups[-1][-1]]
            lp, p = last.prediction, w.prediction
            if (lp.mediaID == p.mediaID and last.channel == w.channel and lp.scientificName == p.scientificName
                    and p.start_s <= lp.end_s + 1e-6):
                groups[-1].append(i)
                continue
        groups.append([i])
    out = list(windows)
    events = []
    for g in groups:
        first, last = windows[g[0]].prediction, windows[g[-1]].prediction
        ch = windows[g[0]].channel
        eid = event_id(first.mediaID, ch, first.scientificName, first.start_s, first.modelVersion)
        start_iso = first.eventStart
        events.append(AudioEvent(
            eventID=eid, mediaID=first.mediaID, deploymentID=first.deploymentID, stationID=first.stationID,
            channel=ch, scientificName=first.scientificName, start_s=first.start_s, end_s=last.end_s,
            eventStart=start_iso, eventEnd=_shift(start_iso, last.end_s - first.start_s),
            classificationProbability=max(windows[i].prediction.classificationProbability for i in g),
            isInvasive=any(windows[i].prediction.isInvasive for i in g), windowCount=len(g),
            modelVersion=first.modelVersion, taxonRank=first.taxonRank,
            classificationSource=first.classificationSource))
        for i in g:
            out[i] = dataclasses.replace(windows[i], eventID=eid)
    return out, events


# --- per-recording summary (BR-20) ------------------------------------------------------------------------------

_RECORDING_NAME = re.compile(r"^(?:(?P<prefix>.*?)_)?(?P<date>\d{8})_(?P<time>\d{6})$")

#: Columns of ``recordings.csv``.
SUMMARY_FIELDS = ["recordingID", "mediaID", "filePath", "deploymentID", "stationID", "location", "date", "time",
                  "timestamp", "duration_s", "status", "windows", "detections", "events", "species"]


def recording_id(file_name: str) -> str:
    """Recording id = the file name without folders and extension(s) such as ``.wav`` or
    ``.BirdNET.results.csv``; never prefixed or otherwise changed."""
    name = Path(file_name).name
    for suffix in (".BirdNET.results.csv", ".BirdNET.selection.table.txt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def parse_recording_name(file_name: str) -> dict[str, str]:
    """``SITE01_20240601_060000[.wav]`` -> ``{"location": "SITE01", "date": "2024-06-01", "time": "06:00:00"}``.

    The ``PREFIX_YYYYMMDD_HHMMSS`` pattern of AudioMoth (no prefix or a user prefix) and Song Meter
    (the recorder's name/serial as prefix). Fields that the name does not carry (or an invalid date)
    are empty strings, never None.
    """
    m = _RECORDING_NAME.match(recording_id(file_name))
    if not m:
        return {"location": "", "date": "", "time": ""}
    try:
        t = datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S")
    except ValueError:
        return {"location": m["prefix"] or "", "date": "", "time": ""}
    return {"location": m["prefix"] or "", "date": t.date().isoformat(), "time": t.time().isoformat()}


def summarise_recordings(media: list[dict], windows: list[AudioWindow], events: list[AudioEvent],
                         rejected: dict[str, str] | None = None) -> list[dict]:
    """One summary row per recording, including recordings with zero detections or that failed.

    Args:
        media: media index rows of the recordings (``mediaID``, ``filePath``, ``fileName``, ...).
        windows, events: the recordings' analysed windows and detection events.
        rejected: ``filePath -> reason`` of recordings that could not be analysed (status column).

    Returns:
        dicts with ``SUMMARY_FIELDS``; ``species`` is ``;``-joined sorted names (empty when none).
    """
    rejected = rejected or {}
    n_win: dict[str, int] = {}
    n_det: dict[str, int] = {}
    species: dict[str, set[str]] = {}
    for w in windows:
        mid = w.prediction.mediaID
        n_win[mid] = n_win.get(mid, 0) + 1
        if w.detected:
            n_det[mid] = n_det.get(mid, 0) + 1
            species.setdefault(mid, set()).add(w.prediction.scientificName)
    n_ev: dict[str, int] = {}
    for e in events:
        n_ev[e.mediaID] = n_ev.get(e.mediaID, 0) + 1
    out = []
    for m in media:
        mid = m["mediaID"]
        name = m.get("fileName") or Path(m["filePath"]).name
        out.append({"recordingID": recording_id(name), "mediaID": mid, "filePath": m["filePath"],
                    "deploymentID": m.get("deploymentID", ""), "stationID": m.get("stationID", ""),
                    **parse_recording_name(name), "timestamp": m.get("timestamp", ""),
                    "duration_s": m.get("duration_s", ""), "status": rejected.get(m["filePath"], "ok"),
                    "windows": n_win.get(mid, 0), "detections": n_det.get(mid, 0), "events": n_ev.get(mid, 0),
                    "species": ";".join(sorted(species.get(mid, ())))})
    return out


def summarise_birdnet_tables(paths: Iterable[str | Path], min_confidence: float = 0.0) -> tuple[list[dict], dict]:
    """Per-recording summary and per-species counts from BirdNET-Analyzer result tables
    (``<recording>.BirdNET.results.csv``: ``Start (s)``, ``End (s)``, ``Scientific name``,
    ``Common name``, ``Confidence``, ``File``).

    A table with a header only is a recording with zero detections: it still gets its row. Rows
    without a scientific name are not counted as a species.

    Returns:
        ``(rows, species_counts)``: rows with ``recordingID``, ``location``, ``date``, ``time``,
        ``detections``, ``species``; counts ``{scientificName: detections}``.

    Raises:
        ValueError: a table without the ``Scientific name`` / ``Confidence`` columns (names the file).
    """
    import csv

    rows, counts = [], {}
    for path in sorted(Path(p) for p in paths):
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not {"Scientific name", "Confidence"} <= set(reader.fieldnames or ()):
                raise ValueError(f"{path}: not a BirdNET results table (columns {reader.fieldnames})")
            hits = [r for r in reader if (r["Scientific name"] or "").strip()
                    and float(r["Confidence"]) >= min_confidence]
        names = sorted({r["Scientific name"].strip() for r in hits})
        for r in hits:
            counts[r["Scientific name"].strip()] = counts.get(r["Scientific name"].strip(), 0) + 1
        rows.append({"recordingID": recording_id(path.name), **parse_recording_name(path.name),
                     "detections": len(hits), "species": ";".join(names)})
    return rows, counts
