"""Ingest: build a Camtrap DP-style media index from a labelled dataset or a station drop.

Each usable file becomes one :class:`MediaRecord` (``mediaID`` from the content hash); each
unusable one becomes a :class:`Rejection` with a reason. One bad file never stops a batch; an
unknown species label does (it is a data-entry error that must be fixed, see ``Catalogue.resolve``).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from models.media.audio import probe_audio
from models.media.errors import MediaError
from models.media.hashing import media_id, sha256_file
from models.media.imaging import DEFAULT_MAX_PIXELS, read_image_info, sniff_media
from models.media.tables import Rejection, read_csv
from models.media.timestamps import (
    localise,
    parse_audiomoth_comment,
    read_guano,
    resolve_repeated_hour,
    time_from_filename,
    zone,
)
from models.media.video import probe_video
from models.taxonomy.catalogue import BLANK, Catalogue

log = logging.getLogger(__name__)

#: Names that are never media (metadata that travels with a drop).
_SIDECARS = {".csv", ".md", ".txt", ".json", ".xml", ".dvc", ".gitignore"}


@dataclass(frozen=True)
class MediaRecord:
    """One ingested media file (Camtrap DP ``media`` plus technical facts).

    Sizes are in pixels, durations in seconds, rates in Hz. ``timestamp`` is ISO 8601 with offset
    (empty when unknown, with ``timestampIssues`` saying why); ``timestampSource`` says where it
    came from: ``exif``, ``audiomoth`` (the AudioMoth comment), ``guano`` (a WAV's GUANO metadata),
    ``filename`` (recorder file-name pattern),
    ``manifest`` or ``missing``.
    ``label`` is the canonical training label (catalogue ``scientificName`` or ``blank``), empty
    for unlabelled station media.
    """

    mediaID: str
    deploymentID: str
    stationID: str
    filePath: str
    fileName: str
    fileMediatype: str
    modality: str
    timestamp: str
    timestampIssues: str
    timestampSource: str
    sha256: str
    bytes: int
    width_px: int | None = None
    height_px: int | None = None
    duration_s: float | None = None
    sample_rate_hz: int | None = None
    channels: int | None = None
    label: str = ""
    source: str = ""
    licence: str = ""
    attribution: str = ""


MEDIA_FIELDS = [f.name for f in dataclasses.fields(MediaRecord)]


def probe_media(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> dict:
    """Identify a file by content and read its technical metadata.

    Args:
        path: the file.
        max_pixels: images above this are rejected as ``image_too_large``.
        name: the file's original name when ``path`` is a staging copy (used for file-name times).

    Returns:
        dict with ``modality`` (``image``/``video``/``audio``), ``fileMediatype`` and size/duration facts,
        plus ``naive_time``, ``offset`` and ``time_source`` (``exif``/``filename``) when the file
        records a time (EXIF ``DateTimeOriginal`` for images; for audio the AudioMoth comment, with
        its UTC offset, else the WAV's GUANO ``Timestamp`` (``guano``), else the recorder file name
        ``PREFIX_YYYYMMDD_HHMMSS``; without a recorded offset the deployment's time zone applies).

    Videos (AVI/MP4, recognised by content) are opened in a child process (``models.media.video``).

    Raises:
        MediaError: unreadable, unsupported, corrupt, truncated, empty, too large; for video also
            ``no_frames``, ``decoder_crashed`` or ``timeout``.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(262)
    except OSError as exc:
        raise MediaError(path, "unreadable", str(exc)) from exc
    if not head:
        raise MediaError(path, "corrupt", "file is empty (0 bytes)")
    modality, mime = sniff_media(head, path)  # the one sniffing function (uploads use it too)
    if modality == "image":
        info = read_image_info(path.read_bytes(), str(path), max_pixels)
        return dict(modality="image", fileMediatype=info.mime, width_px=info.width_px, height_px=info.height_px,
                    naive_time=info.exif_datetime, offset=info.exif_offset, time_source="exif")
    if modality == "video":
        vid = probe_video(path)
        if vid.width_px * vid.height_px > max_pixels:
            raise MediaError(path, "image_too_large",
                             f"{vid.width_px}x{vid.height_px} px frames exceed the limit of {max_pixels} px")
        return dict(modality="video", fileMediatype=mime, width_px=vid.width_px, height_px=vid.height_px,
                    duration_s=vid.duration_s, naive_time=None, offset=None, time_source="missing")
    info = probe_audio(path)
    facts = dict(modality="audio", fileMediatype=info.mime, duration_s=round(info.duration_s, 6),
                 sample_rate_hz=info.sample_rate_hz, channels=info.channels)
    moth = parse_audiomoth_comment(info.comment)
    if moth is not None:  # the recorder's own clock and UTC offset beat the file name
        return dict(facts, naive_time=moth.start, offset=moth.utc_offset, time_source="audiomoth")
    guano = read_guano(path) if info.mime == "audio/wav" else None
    if guano is not None:  # GUANO Timestamp (with its offset when written) beats the file name
        return dict(facts, naive_time=guano.start, offset=guano.utc_offset, time_source="guano")
    return dict(facts, naive_time=time_from_filename(name or path.name), offset=None, time_source="filename")


def _record(path: Path, root: Path, deployment: str, station: str, tz: str | None, probe: dict,
            fallback_timestamp: str = "", clock_offset_s: float = 0.0,
            window: tuple[str | None, str | None] = (None, None), **extra) -> MediaRecord:
    digest = sha256_file(path)
    naive, source = probe.pop("naive_time"), probe.pop("time_source")
    stamp, issues = localise(naive, probe.pop("offset"), tz, clock_offset_s=clock_offset_s, window=window)
    if not stamp and fallback_timestamp:
        stamp, issues, naive = fallback_timestamp, "", True
        source = "manifest"
    source = source if naive is not None else "missing"
    return MediaRecord(mediaID=media_id(digest), deploymentID=deployment, stationID=station,
                       filePath=path.relative_to(root).as_posix(), fileName=path.name, timestamp=stamp,
                       timestampIssues=issues, timestampSource=source, sha256=digest,
                       bytes=path.stat().st_size, **probe, **extra)


def ingest_labelled(root: str | Path, catalogue: Catalogue, max_pixels: int = DEFAULT_MAX_PIXELS,
                    limit_per_label: int = 0, progress: Callable[[Iterable], Iterable] = iter,
                    ) -> tuple[list[MediaRecord], list[Rejection]]:
    """Index a labelled training dataset described by ``<root>/manifest.csv``.

    The manifest needs ``file`` and ``scientific_name`` columns (empty name = blank frame);
    ``station_hint`` becomes the deploymentID, ``datetime``, ``licence``, ``attribution`` and
    ``source_repo`` are carried over when present.

    Args:
        root: dataset folder.
        catalogue: resolves labels; an unknown label raises.
        max_pixels: images above this are rejected as ``image_too_large``.
        limit_per_label: keep at most this many files per label (0 = all), in manifest order;
            used for quick runs on a subset.
        progress: wraps the row iterator (e.g. ``tqdm``).

    Raises:
        CatalogueError: a label that is not in the catalogue (names the label and the row).
        FileNotFoundError: no manifest.
    """
    root = Path(root)
    rows = read_csv(root / "manifest.csv")  # undoes the formula escape of the product's own manifests
    labels = [catalogue.resolve(r["scientific_name"], f"{root.name}/manifest.csv line {i}")
              for i, r in enumerate(rows, start=2)]
    records, rejections, taken = [], [], {}
    for row, label in progress(list(zip(rows, labels, strict=True))):
        if limit_per_label and taken.get(label, 0) >= limit_per_label:
            continue
        path = root / row["file"]
        try:
            probe = probe_media(path, max_pixels)
        except MediaError as exc:
            rejections.append(Rejection(row["file"], exc.reason, exc.detail))
            continue
        taken[label] = taken.get(label, 0) + 1
        hint = (row.get("station_hint") or "").strip()
        records.append(_record(path, root, hint, hint, None, probe, (row.get("datetime") or "").strip(),
                               label=label, source=row.get("source_repo", ""), licence=row.get("licence", ""),
                               attribution=row.get("attribution", "")))
    return drop_duplicates(records, rejections)


def deployment_folders(root: Path, deployments: list[dict]) -> dict[Path, dict]:
    """Map each deployment's folder to its ``deployments.csv`` row.

    A deployment ``demo-1-cam-arc`` of station ``demo-1`` lives in ``<root>/demo-1/cam-arc/``
    (``<stationID>/<deploymentID without the station prefix>``) or in ``<root>/<deploymentID>/``.
    """
    out = {}
    for dep in deployments:
        did, sid = dep["deploymentID"], dep.get("stationID", "")
        suffix = did[len(sid) + 1 :] if sid and did.startswith(sid + "-") else did
        for candidate in (root / sid / suffix, root / did):
            if candidate.is_dir():
                out[candidate.resolve()] = dep
                break
        else:
            log.warning("deployment %s has no folder under %s", did, root)
    return out


def _number(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def _when(text: str | None) -> datetime | None:
    text = (text or "").strip()
    return datetime.fromisoformat(text) if text else None


def validate_deployments(deployments: list[dict], source: str = "deployments.csv"
                         ) -> tuple[list[dict], list[Rejection]]:
    """Check ``deployments.csv`` rows; each unusable row becomes a :class:`Rejection` with a reason.

    Reasons: ``duplicate_deployment`` (the same ``deploymentID`` on several rows: every one of them is
    rejected, as nothing says which metadata is right), ``missing_deployment_id``, ``unknown_timezone`` (not an
    IANA name, e.g. ``China/Beijing``), ``invalid_coordinates`` (not a number, latitude outside -90..90 or
    longitude outside -180..180, or only one of them given), ``invalid_deployment_time`` (a start or end that
    is not ISO 8601) and ``end_before_start``. Overlapping deployments and open-ended ones (no end) are valid.

    Returns:
        (valid rows in input order, rejections; ``filePath`` is ``<source> line N``).
    """
    counts: dict[str, int] = {}
    for dep in deployments:
        did = (dep.get("deploymentID") or "").strip()
        counts[did] = counts.get(did, 0) + 1
    valid, rejections = [], []
    for line, dep in enumerate(deployments, start=2):
        did = (dep.get("deploymentID") or "").strip()
        where = f"{source} line {line}"

        def reject(reason: str, detail: str, did: str = did, where: str = where) -> None:
            rejections.append(Rejection(where, reason, f"deployment {did!r}: {detail}"))

        if not did:
            reject("missing_deployment_id", "the row has no deploymentID")
            continue
        if counts[did] > 1:
            reject("duplicate_deployment", f"deploymentID appears on {counts[did]} rows; make it unique")
            continue
        tz_name = (dep.get("timezone") or "").strip()
        if tz_name and zone(tz_name) is None:
            reject("unknown_timezone", f"time zone {tz_name!r} is not an IANA name such as Asia/Shanghai")
            continue
        try:
            lat, lon = _number(dep.get("latitude")), _number(dep.get("longitude"))
        except ValueError:
            reject("invalid_coordinates", "latitude/longitude are not numbers")
            continue
        if (lat is None) != (lon is None):
            reject("invalid_coordinates", "only one of latitude and longitude is given")
            continue
        if lat is not None and not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90
                                    and -180 <= lon <= 180):
            reject("invalid_coordinates", f"latitude {lat} / longitude {lon} out of range (-90..90, -180..180)")
            continue
        try:
            start, end = _when(dep.get("deploymentStart")), _when(dep.get("deploymentEnd"))
        except ValueError:
            reject("invalid_deployment_time", "deploymentStart/deploymentEnd are not ISO 8601 times")
            continue
        if start is not None and end is not None:
            if (start.tzinfo is None) != (end.tzinfo is None):
                start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
            if end < start:
                reject("end_before_start", f"deploymentEnd {end.isoformat()} is before deploymentStart "
                                           f"{start.isoformat()}")
                continue
        valid.append(dep)
    return valid, rejections


def ingest_stations(root: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS,
                    progress: Callable[[Iterable], Iterable] = iter,
                    clock_offsets_s: Mapping[str, float] | None = None) -> tuple[list[MediaRecord], list[Rejection]]:
    """Index an unlabelled station drop: ``<root>/deployments.csv`` plus one folder per deployment.

    Every file under the root that is not a metadata sidecar is either indexed or rejected: files
    outside a known deployment folder are rejected as ``unknown_deployment``; deployments that fail
    :func:`validate_deployments` are rejections themselves (``deployments.csv line N``) and their files are
    rejected as ``invalid_deployment``. Capture times get the deployment's time zone (when the device wrote
    no offset), its clock correction (``clock_offsets_s[deploymentID]`` seconds, default 0) and are checked
    against its ``deploymentStart``/``deploymentEnd`` (see ``models.media.timestamps.localise``); times in
    the repeated autumn hour are resolved from their neighbours in file order where the order allows
    (``models.media.timestamps.resolve_repeated_hour``).

    Raises:
        FileNotFoundError: no ``deployments.csv``.
    """
    root = Path(root)
    with open(root / "deployments.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    deployments, rejections = validate_deployments(rows)
    folders = deployment_folders(root, deployments)
    bad_folders = deployment_folders(root, [d for d in rows if d not in deployments and d.get("deploymentID")])
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() not in _SIDECARS)
    records = []
    for path in progress(files):
        rel = path.relative_to(root).as_posix()
        resolved = path.resolve()
        dep = next((d for folder, d in folders.items() if resolved.is_relative_to(folder)), None)
        if dep is None:
            if any(resolved.is_relative_to(folder) for folder in bad_folders):
                rejections.append(Rejection(rel, "invalid_deployment",
                                            "its deployment in deployments.csv was rejected (see that row)"))
            else:
                rejections.append(Rejection(rel, "unknown_deployment",
                                            "file is not inside a folder listed in deployments.csv"))
            continue
        try:
            probe = probe_media(path, max_pixels)
        except MediaError as exc:
            rejections.append(Rejection(rel, exc.reason, exc.detail))
            continue
        records.append(_record(path, root, dep["deploymentID"], dep.get("stationID", ""),
                               dep.get("timezone") or None, probe,
                               clock_offset_s=(clock_offsets_s or {}).get(dep["deploymentID"], 0.0),
                               window=(dep.get("deploymentStart"), dep.get("deploymentEnd")),
                               source=dep.get("source_repo", ""),
                               licence=dep.get("licence", ""),
                               attribution=dep.get("attribution", "")))
    return drop_duplicates(_resolve_dst(records, {d["deploymentID"]: d.get("timezone") for d in deployments}),
                           rejections)


def _resolve_dst(records: list[MediaRecord], zones: dict[str, str | None]) -> list[MediaRecord]:
    """Records with repeated-hour times resolved per deployment, in file order (see ``resolve_repeated_hour``)."""
    out = list(records)
    by_dep: dict[str, list[int]] = {}
    for i, r in enumerate(out):
        by_dep.setdefault(r.deploymentID, []).append(i)
    for dep, idx in by_dep.items():
        if not any("dst_ambiguous" in out[i].timestampIssues for i in idx):
            continue
        idx = sorted(idx, key=lambda i: out[i].filePath)
        fixed = resolve_repeated_hour([(out[i].timestamp, out[i].timestampIssues) for i in idx], zones.get(dep))
        for i, (stamp, issues) in zip(idx, fixed, strict=True):
            out[i] = dataclasses.replace(out[i], timestamp=stamp, timestampIssues=issues)
    return out


def ingest_paths(paths: Iterable[str | Path], max_pixels: int = DEFAULT_MAX_PIXELS,
                 progress: Callable[[Iterable], Iterable] = iter,
                 ) -> tuple[Path, list[MediaRecord], list[Rejection]]:
    """Index loose files and folders (no ``deployments.csv`` needed), as ``biodiv classify`` takes them.

    Folders are walked recursively; metadata sidecars (CSV, JSON, text...) and hidden files are skipped.
    ``filePath`` is relative to the common folder of all the inputs (returned first); the
    ``deploymentID`` of a file is the folder it lies in, relative to that root (``""`` at the root),
    since a camera's folder is the usual unit. Times without a recorded offset stay without one
    (``timestampIssues`` says so): no deployment time zone is known here.

    Returns:
        ``(root, records, rejections)``; byte-identical copies are rejected as ``duplicate``.

    Raises:
        FileNotFoundError: an input path that does not exist.
    """
    inputs = [Path(p).resolve() for p in paths]
    for p in inputs:
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() not in _SIDECARS
                            and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            files.append(p)
    files = list(dict.fromkeys(files))
    if not inputs:
        return Path.cwd(), [], []
    root = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in inputs]))
    records, rejections = [], []
    for path in progress(files):
        rel = path.relative_to(root).as_posix()
        try:
            probe = probe_media(path, max_pixels)
        except MediaError as exc:
            rejections.append(Rejection(rel, exc.reason, exc.detail))
            continue
        folder = path.parent.relative_to(root).as_posix()
        folder = "" if folder == "." else folder
        records.append(_record(path, root, folder, folder.split("/")[0], None, probe))
    kept, rejections = drop_duplicates(records, rejections)
    return root, kept, rejections


def drop_duplicates(records: list[MediaRecord],
                    rejections: list[Rejection]) -> tuple[list[MediaRecord], list[Rejection]]:
    """Keep the first file of each content hash; later byte-identical copies become rejections."""
    first: dict[str, str] = {}
    kept = []
    for r in records:
        if r.sha256 in first:
            rejections.append(Rejection(r.filePath, "duplicate", f"same content as {first[r.sha256]}"))
            continue
        first[r.sha256] = r.filePath
        kept.append(r)
    return kept, rejections


__all__ = ["BLANK", "MediaRecord", "ingest_labelled", "ingest_paths", "ingest_stations", "probe_media", "MEDIA_FIELDS"]
