"""Camtrap DP in: read a Camtrap DP 1.0.x package (deployments, media, observations) with frictionless,
index its media as a station drop and take its human classifications as training labels.

Camtrap DP (https://camtrap-dp.tdwg.org/, TDWG) is how camera-trap data are shared (Agouti, Trapper,
Wildlife Insights exports, GBIF); Zamba reads training labels from it the same way: an observation with
``classificationMethod`` ``human`` labels its media (``observationLevel`` ``media``) or every media of its
deployment between ``eventStart`` and ``eventEnd`` (``observationLevel`` ``event``).

Only local files can be indexed: a ``filePath`` that is a URL is a rejection (``remote_file``) that says to
download the media first; a file that is not there is ``missing_file``.
"""

from __future__ import annotations

import dataclasses
import logging
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from models.ingest import MediaRecord, _record, drop_duplicates, probe_media
from models.media.errors import BiodivError, CatalogueError, MediaError
from models.media.imaging import DEFAULT_MAX_PIXELS
from models.media.tables import Rejection
from models.taxonomy.catalogue import BLANK, Catalogue

log = logging.getLogger(__name__)

#: The three tables of a Camtrap DP 1.0 package.
RESOURCES = ("deployments", "media", "observations")


@dataclass(frozen=True)
class Observation:
    """One row of ``observations`` (Camtrap DP terms; times ISO 8601 with offset, probability 0..1 or None)."""

    observationID: str
    deploymentID: str
    mediaID: str
    eventID: str
    eventStart: str
    eventEnd: str
    observationLevel: str
    observationType: str
    scientificName: str
    classificationMethod: str
    classifiedBy: str
    classificationProbability: float | None


@dataclass
class CamtrapPackage:
    """A package read by :func:`read_camtrap_dp`: its folder and the three tables as plain values
    (times as ISO 8601 strings, numbers as float, empty cells as ``""``)."""

    root: Path
    deployments: list[dict] = field(default_factory=list)
    media: list[dict] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)


def _plain(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


def read_camtrap_dp(path: str | Path) -> CamtrapPackage:
    """Read a Camtrap DP 1.0.x package: a folder with ``datapackage.json``, the descriptor itself or a ``.zip``.

    Rows are read with frictionless against the package's table schemas (types checked as they are read).

    Raises:
        BiodivError: no descriptor, a missing table, or a row frictionless cannot read (the message names it).
    """
    import frictionless

    path = Path(path)
    if path.is_dir():
        descriptor = path / "datapackage.json"
    elif path.suffix.lower() == ".zip" or path.name.endswith(".json"):
        descriptor = path
    else:
        raise BiodivError(f"{path}: not a Camtrap DP package (give the folder with datapackage.json, it, or a .zip)")
    if not descriptor.is_file():
        raise BiodivError(f"{descriptor}: no such file; a Camtrap DP package has a datapackage.json")
    if descriptor.suffix.lower() == ".zip" and not zipfile.is_zipfile(descriptor):
        raise BiodivError(f"{descriptor}: not a zip file")
    try:
        package = frictionless.Package(str(descriptor))
        names = {r.name for r in package.resources}
        missing = [n for n in RESOURCES if n not in names]
        if missing:
            raise BiodivError(f"{descriptor}: not a Camtrap DP package (no {', '.join(missing)} table)")
        tables = {n: [{k: _plain(v) for k, v in row.to_dict().items()}
                      for row in package.get_resource(n).read_rows()] for n in RESOURCES}
    except frictionless.FrictionlessException as exc:
        raise BiodivError(f"{descriptor}: cannot read the package: {exc}") from exc
    root = descriptor.parent if descriptor.name.endswith(".json") else descriptor.with_suffix("")
    fields = [f.name for f in dataclasses.fields(Observation)]
    obs = [Observation(**{k: ("" if k != "classificationProbability" else None) if r.get(k) in ("", None)
                          else (float(r[k]) if k == "classificationProbability" else str(r[k])) for k in fields})
           for r in tables["observations"]]
    return CamtrapPackage(root, tables["deployments"], tables["media"], obs)


def human_labels(package: CamtrapPackage, catalogue: Catalogue) -> tuple[dict[str, str], list[Rejection]]:
    """Training labels from the human classifications: ``{package mediaID: label}`` and the media left out.

    A media's label is its human ``animal`` observations' ``scientificName`` (resolved with the catalogue)
    or ``blank`` when humans only marked it blank; ``human``, ``vehicle``, ``unknown`` and ``unclassified``
    observations label nothing. Event-level observations apply to the deployment's media with a
    ``timestamp`` between ``eventStart`` and ``eventEnd`` (inclusive). Left out, with a reason: media with
    two species (``several_species``; the classifiers are single-label) and names that are not in the
    catalogue (``unknown_species``: add the species to ``models/taxonomy/data/species.csv``).
    """
    by_dep: dict[str, list[dict]] = {}
    for m in package.media:
        by_dep.setdefault(str(m["deploymentID"]), []).append(m)
    path_of = {str(m["mediaID"]): str(m.get("filePath", "")) for m in package.media}
    names: dict[str, set[str]] = {}
    rejected: dict[str, Rejection] = {}
    for o in package.observations:
        if o.classificationMethod != "human" or o.observationType not in ("animal", "blank"):
            continue
        if o.mediaID:
            targets = [o.mediaID]
        else:
            try:
                start, end = datetime.fromisoformat(o.eventStart), datetime.fromisoformat(o.eventEnd or o.eventStart)
                targets = [str(m["mediaID"]) for m in by_dep.get(o.deploymentID, [])
                           if m.get("timestamp") and start <= datetime.fromisoformat(str(m["timestamp"])) <= end]
            except (ValueError, TypeError):  # a time without offset cannot be compared with one that has it
                log.warning("observation %s: event times %r..%r cannot be matched to media times",
                            o.observationID, o.eventStart, o.eventEnd)
                continue
        if o.observationType == "blank":
            label = BLANK
        else:
            try:
                label = catalogue.resolve(o.scientificName, f"observation {o.observationID}")
            except CatalogueError as exc:
                for t in targets:
                    rejected[t] = Rejection(path_of.get(t, t), "unknown_species", str(exc))
                continue
        for t in targets:
            names.setdefault(t, set()).add(label)
    labels = {}
    for media_id, found in names.items():
        if media_id in rejected:
            continue
        species = found - {BLANK}
        if len(species) > 1:
            rejected[media_id] = Rejection(path_of.get(media_id, media_id), "several_species",
                                           f"humans saw {', '.join(sorted(species))}; training needs one label")
            continue
        labels[media_id] = species.pop() if species else BLANK
    return labels, list(rejected.values())


def ingest_camtrap_dp(path: str | Path, catalogue: Catalogue, media_root: str | Path | None = None,
                      max_pixels: int = DEFAULT_MAX_PIXELS,
                      ) -> tuple[CamtrapPackage, list[MediaRecord], list[Rejection]]:
    """Index a Camtrap DP package's media as a station drop, with the human labels (:func:`human_labels`).

    Args:
        path: see :func:`read_camtrap_dp`.
        media_root: folder the media ``filePath`` values are relative to (default: the package folder).
        max_pixels: images above this are rejected as ``image_too_large``.

    Returns:
        ``(package, records, rejections)``. ``stationID`` is the deployment's ``locationID``; ``timestamp`` is
        the package's (``timestampSource`` ``manifest``), the file's own time only where the package has none;
        ``label`` is the human label or ``""``. One bad file is a rejection, never the end of the batch.

    Raises:
        BiodivError: see :func:`read_camtrap_dp`.
    """
    package = read_camtrap_dp(path)
    root = Path(media_root) if media_root is not None else package.root
    labels, rejections = human_labels(package, catalogue)
    left_out = {r.filePath for r in rejections}
    deployments = {str(d["deploymentID"]): d for d in package.deployments}
    records = []
    for m in package.media:
        rel = str(m.get("filePath", ""))
        if rel in left_out:
            continue
        if "://" in rel:
            rejections.append(Rejection(rel, "remote_file", "the package links to a URL: download the media and "
                                        "pass their folder as the media root"))
            continue
        file = root / rel
        if not file.is_file():
            rejections.append(Rejection(rel, "missing_file", f"no file at {file}"))
            continue
        try:
            probe = probe_media(file, max_pixels)
        except MediaError as exc:
            rejections.append(Rejection(rel, exc.reason, exc.detail))
            continue
        if not file.resolve().is_relative_to(root.resolve()):
            rejections.append(Rejection(rel, "outside_package", f"{rel} points outside {root}"))
            continue
        dep = deployments.get(str(m["deploymentID"]), {})
        rec = _record(file, root, str(m["deploymentID"]), str(dep.get("locationID", "")), None, probe)
        if m.get("timestamp"):
            rec = dataclasses.replace(rec, timestamp=str(m["timestamp"]), timestampIssues="",
                                      timestampSource="manifest")
        records.append(dataclasses.replace(rec, label=labels.get(str(m["mediaID"]), "")))
    records, rejections = drop_duplicates(records, rejections)
    return package, records, rejections
