"""Camera-trap events: media grouped into sequences per deployment, with an event-level prediction.

An event (Camtrap DP ``observationLevel`` = ``event``, ``eventID``/``eventStart``/``eventEnd``) is a
run of images and videos from one deployment in which each item starts at most ``gap_s`` seconds
after the previous one ended (a video ends ``duration_s`` after it starts). Ordering uses absolute
instants, so a burst across midnight (or a DST change) stays one event, and groups never span
deployments. Media without a usable capture time (missing, implausible or outside the deployment,
see ``models.media.timestamps.usable_time``) are never grouped by guesswork: each is an event of its own
with an empty ``eventStart``/``eventEnd``.

Aggregation (per event, from the calibrated per-frame probability vectors, one per image or
sampled video frame):

- **blank / not blank**: the event is blank only when every frame is blank by the decision path's
  blank rule (``p[blank] >= blank_threshold``, ``models.inference.decision``; the rule
  Timelapse and the MegaDetector batch tools apply to sequences: one animal frame makes the
  sequence non-empty); its probability is then the smallest per-frame blank probability (the event
  is as surely blank as its least surely blank frame);
- **species**: otherwise the mean of the probability vectors of the non-blank frames with the blank
  class removed and renormalised, and its argmax: score averaging over frames, the "late fusion"
  of frame-level CNN predictions of Karpathy et al. 2014 ("Large-scale video classification with
  convolutional neural networks", CVPR), which zamba also uses for camera-trap video. That vector
  goes through the same decision path as a frame (thresholds, roll-up, region, privacy, invasive).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from models.inference.decision import Decision, DecisionPolicy, region_of
from models.media.timestamps import usable_time
from models.taxonomy.catalogue import BLANK, Catalogue
from models.taxonomy.regions import RegionMap


@dataclass(frozen=True)
class EventRecord:
    """One camera-trap event with its aggregated prediction (columns of the ``events`` table).

    ``mediaCount`` counts the event's media files; ``frameCount`` the frames that were classified
    (images plus sampled video frames). ``scientificName`` is empty for a blank event. ``mediaIDs``
    is a JSON list of the member media, in time order.
    """

    eventID: str
    deploymentID: str
    stationID: str
    modality: str
    mediaCount: int
    frameCount: int
    eventStart: str
    eventEnd: str
    observationType: str
    scientificName: str
    classificationProbability: float
    isInvasive: bool
    topK: str
    modelVersion: str
    mediaIDs: str
    taxonRank: str = ""
    classificationSource: str = "model"


EVENT_FIELDS = list(EventRecord.__dataclass_fields__)


_EPOCH = datetime(1970, 1, 1)


def _seconds_of(stamps: list[str]) -> list[float]:
    """Seconds on one time line: UTC instants when every stamp has an offset, else wall-clock time
    (a deployment without a time zone; its times are all local to the one camera)."""
    dts = [datetime.fromisoformat(s) for s in stamps]
    if all(d.tzinfo for d in dts):
        return [d.timestamp() for d in dts]
    return [(d.replace(tzinfo=None) - _EPOCH).total_seconds() for d in dts]


def group_events(media: list[dict], gap_s: float) -> list[str]:
    """Assign each media item to an event; returns one ``eventID`` per item (same order).

    Args:
        media: media index rows with ``mediaID``, ``deploymentID``, ``timestamp`` (ISO 8601),
            ``timestampIssues`` and, for video, ``duration_s`` (s; empty for stills).
        gap_s: largest gap (s) between the end of one item and the start of the next in one event.

    Returns:
        Deterministic event IDs: the first 32 hex digits of SHA-256 over the deploymentID and the
        member mediaIDs, so re-running the same drop yields the same IDs.
    """
    members: dict[tuple, list[int]] = {}
    timed: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(media):
        dep = m.get("deploymentID") or ""
        if dep and usable_time(m.get("timestamp") or "", m.get("timestampIssues") or ""):
            timed[dep].append(i)
        else:
            members[("single", i)] = [i]
    for dep, idx in timed.items():
        at = dict(zip(idx, _seconds_of([media[i]["timestamp"] for i in idx]), strict=True))
        idx.sort(key=lambda i: (at[i], media[i]["mediaID"]))
        n, prev_end = 0, None
        for i in idx:
            if prev_end is not None and at[i] - prev_end > gap_s:
                n += 1
            members.setdefault((dep, n), []).append(i)
            end = at[i] + float(media[i].get("duration_s") or 0.0)
            prev_end = end if prev_end is None else max(prev_end, end)
    keys = [""] * len(media)
    for idx in members.values():
        dep = media[idx[0]].get("deploymentID") or ""
        digest = hashlib.sha256("|".join([dep, *(media[i]["mediaID"] for i in idx)]).encode()).hexdigest()[:32]
        for i in idx:
            keys[i] = digest
    return keys


def event_vector(probs: np.ndarray, labels: list[str], blank_threshold: float | None = None
                 ) -> tuple[bool, np.ndarray]:
    """The event's probability vector from per-frame probabilities ``(N, C)`` (module docstring).

    A frame is blank when ``p[blank] >= blank_threshold`` (the decision path's blank rule; None = when
    blank is its top-1).

    Returns:
        ``(True, (C,) vector with only the smallest frame blank probability set)`` for a blank event,
        else ``(False, mean of the non-blank frames with blank removed, renormalised)``.

    Raises:
        ValueError: no frames (``N == 0``).
    """
    if probs.shape[0] == 0:
        raise ValueError("an event needs at least one classified frame")
    b = labels.index(BLANK) if BLANK in labels else -1
    if b < 0:
        animal = np.ones(probs.shape[0], bool)
    elif blank_threshold is None:
        animal = probs.argmax(1) != b
    else:
        animal = probs[:, b] < blank_threshold
    if not animal.any():
        vec = np.zeros(probs.shape[1])
        vec[b] = float(probs[:, b].min())
        return True, vec
    mean = probs[animal].mean(0).astype(np.float64)
    if b >= 0:
        mean[b] = 0.0
    total = mean.sum()
    return False, mean / total if total > 0 else mean


def aggregate(probs: np.ndarray, labels: list[str], k: int = 3,
              blank_threshold: float | None = None) -> list[tuple[str, float]]:
    """Event-level top-``k`` ``(label, probability)`` from per-frame probabilities ``(N, C)``
    (:func:`event_vector`). Returns ``[(BLANK, p)]`` for a blank event.

    Raises:
        ValueError: no frames (``N == 0``).
    """
    return alternatives(*event_vector(probs, labels, blank_threshold), labels, k)


def alternatives(blank: bool, vec: np.ndarray, labels: list[str], k: int = 3) -> list[tuple[str, float]]:
    """Top-``k`` ``(label, probability)`` of an :func:`event_vector` result (``[(BLANK, p)]`` for a blank event)."""
    if blank:
        return [(BLANK, float(vec[labels.index(BLANK)]))]
    order = np.argsort(-vec, kind="stable")[: min(k, int((vec > 0).sum()) or 1)]
    return [(labels[j], float(vec[j])) for j in order]


def build_events(media: list[dict], frame_media: list[str], probs: np.ndarray, labels: list[str],
                 catalogue: Catalogue, model_version: str, gap_s: float, k: int = 3,
                 policy: DecisionPolicy | None = None, regions: RegionMap | None = None,
                 ) -> tuple[list[EventRecord], dict[str, str]]:
    """Group classified camera-trap media into events and aggregate their predictions.

    Args:
        media: media index rows of the classified images/videos (see :func:`group_events`).
        frame_media: ``mediaID`` of each row of ``probs`` (an image has one row, a video one per
            sampled frame).
        probs: ``(N, C)`` calibrated probabilities, columns in ``labels`` order.
        labels: the classifier's labels (``blank`` among them).
        catalogue: taxonomy, invasive status, curator thresholds.
        model_version: recorded on each event.
        gap_s: sequence gap in s.
        k: alternatives kept in ``topK``.
        policy: the decision policy (``models.inference.decision``) that turns the event's vector into
            its observation, the same one frames go through; None = a policy over ``labels`` with the
            catalogue's thresholds only.
        regions: regional species lists; None = the packaged ones.

    Returns:
        ``(events, event_of_media)``: events in time order per deployment and ``mediaID -> eventID``.
        Media with no classified frame are left out.
    """
    with_frames = set(frame_media)
    media = [m for m in media if m["mediaID"] in with_frames]
    keys = group_events(media, gap_s)
    event_of = {m["mediaID"]: key for m, key in zip(media, keys, strict=True)}
    rows_of: dict[str, list[int]] = defaultdict(list)
    for j, mid in enumerate(frame_media):
        if mid in event_of:
            rows_of[event_of[mid]].append(j)
    members: dict[str, list[dict]] = defaultdict(list)
    for m, key in zip(media, keys, strict=True):
        members[key].append(m)
    policy = policy or DecisionPolicy(list(labels), catalogue)
    events = []
    for key, ms in members.items():
        blank, vec = event_vector(probs[rows_of[key]], labels, policy.blank_threshold)
        alts = alternatives(blank, vec, labels, k)
        d = (Decision("blank", "", "", round(alts[0][1], 6), "model", False, policy.blank_threshold, BLANK)
             if blank else policy.decide(vec, region_of(ms[0], regions)))
        start = end = ""
        if len(ms) > 1 or usable_time(ms[0].get("timestamp") or "", ms[0].get("timestampIssues") or ""):
            at = _seconds_of([m["timestamp"] for m in ms])
            ms = [m for _, m in sorted(zip(at, ms, strict=True), key=lambda t: (t[0], t[1]["mediaID"]))]
            at.sort()
            ends = [a + float(m.get("duration_s") or 0.0) for a, m in zip(at, ms, strict=True)]
            last = int(np.argmax(ends))
            start = ms[0]["timestamp"]
            end = (datetime.fromisoformat(ms[last]["timestamp"])
                   + timedelta(seconds=float(ms[last].get("duration_s") or 0.0))).isoformat()
        mods = {m.get("modality", "image") for m in ms}
        events.append(EventRecord(
            eventID=key, deploymentID=ms[0].get("deploymentID", ""), stationID=ms[0].get("stationID", ""),
            modality=mods.pop() if len(mods) == 1 else "image", mediaCount=len(ms), frameCount=len(rows_of[key]),
            eventStart=start, eventEnd=end, observationType=d.observationType,
            scientificName=d.scientificName, classificationProbability=d.classificationProbability,
            isInvasive=d.isInvasive, topK=json.dumps([[a, round(b, 6)] for a, b in alts]),
            modelVersion=model_version, mediaIDs=json.dumps([m["mediaID"] for m in ms]),
            taxonRank=d.taxonRank, classificationSource=d.classificationSource))
    events.sort(key=lambda e: (e.deploymentID, e.eventStart, e.eventID))
    return events, event_of
