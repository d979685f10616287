"""Data sharing: a Camtrap DP 1.0.2 data package and a Darwin Core occurrence table from the database.

**Camtrap DP** (Bubnicki et al. 2023, *Camtrap DP: an open standard for the FAIR exchange and archiving of
camera trap data*, Remote Sens. Ecol. Conserv.; https://camtrap-dp.tdwg.org, version 1.0.2): a Frictionless
Tabular Data Package with ``deployments.csv``, ``media.csv`` and ``observations.csv`` (media-level
observations from ``detections``, event-level ones from ``events``, told apart by ``observationLevel``), and
package metadata (``project``, ``spatial``, ``temporal``, ``taxonomic``, ``contributors``...). The table
schemas are written inline into ``datapackage.json`` (fields, types and constraints of Camtrap DP 1.0.2) so
that ``frictionless validate datapackage.json`` checks every row offline; ``profile_url`` may name the
official Camtrap DP profile instead of ``tabular-data-package`` for publication (its check needs network).

Rows that Camtrap DP cannot hold are **left out and listed** in the report's warnings, each naming the file
or record and the reason (case BR-03: a media file without a capture time is never given the export time):
media without a timestamp or without a UTC offset, deployments without coordinates or without any time
range, and the observations of what was left out. The warnings are written to the package too
(``warnings.csv`` and the descriptor's ``biodiv:warnings`` count).

**Darwin Core** occurrences (https://dwc.tdwg.org/terms/): one row per animal observation with a
``scientificName`` (event-level when the database has events, else media-level), ``basisOfRecord``
``MachineObservation`` (or ``HumanObservation`` after a reviewer's correction).

Both exports apply the public-read rules of :mod:`models.store.privacy` when ``public`` is True: no media or
observations of people or vehicles, and coordinates of deployments with sensitive species generalised to
``precision_deg`` (recorded in Camtrap DP ``coordinatePrecision`` and Darwin Core ``dataGeneralizations``).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.media.tables import safe_row
from models.store.db import Deployment, Detection, Event, Media, Station
from models.store.privacy import (
    PRIVATE_NAMES,
    PRIVATE_OBSERVATION_TYPES,
    generalisation_note,
    generalise,
    is_private,
    sensitive_deployments,
    sensitive_names,
)
from models.taxonomy.catalogue import Catalogue

log = logging.getLogger(__name__)

CAMTRAP_DP_VERSION = "1.0.2"
#: The official profile of the version written (set it as ``profile_url`` to publish; validation fetches it).
CAMTRAP_DP_PROFILE = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{CAMTRAP_DP_VERSION}/camtrap-dp-profile.json"
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

# Camtrap DP 1.0.2 table fields: (name, type, constraints). Written from the standard's table definitions.
_DT = "datetime"
DEPLOYMENT_FIELDS: list[tuple[str, str, dict]] = [
    ("deploymentID", "string", {"required": True, "unique": True}),
    ("locationID", "string", {}), ("locationName", "string", {}),
    ("latitude", "number", {"required": True, "minimum": -90, "maximum": 90}),
    ("longitude", "number", {"required": True, "minimum": -180, "maximum": 180}),
    ("coordinateUncertainty", "integer", {"minimum": 1}),
    ("deploymentStart", _DT, {"required": True}), ("deploymentEnd", _DT, {"required": True}),
    ("setupBy", "string", {}), ("cameraID", "string", {}), ("cameraModel", "string", {}),
    ("cameraDelay", "integer", {"minimum": 0}), ("cameraHeight", "number", {"minimum": 0}),
    ("cameraDepth", "number", {"minimum": 0}), ("cameraTilt", "integer", {"minimum": -90, "maximum": 90}),
    ("cameraHeading", "integer", {"minimum": 0, "maximum": 360}), ("detectionDistance", "number", {"minimum": 0}),
    ("timestampIssues", "boolean", {}), ("baitUse", "boolean", {}),
    ("featureType", "string", {"enum": ["roadPaved", "roadDirt", "trailHiking", "trailGame", "roadUnderpass",
                                        "roadOverpass", "roadBridge", "culvert", "burrow", "nestSite", "carcass",
                                        "waterSource", "fruitingTree"]}),
    ("habitat", "string", {}), ("deploymentGroups", "string", {}), ("deploymentTags", "string", {}),
    ("deploymentComments", "string", {}),
]
MEDIA_FIELDS: list[tuple[str, str, dict]] = [
    ("mediaID", "string", {"required": True, "unique": True}),
    ("deploymentID", "string", {"required": True}),
    ("captureMethod", "string", {"enum": ["activityDetection", "timeLapse"]}),
    ("timestamp", _DT, {"required": True}),
    ("filePath", "string", {"required": True}), ("filePublic", "boolean", {"required": True}),
    ("fileName", "string", {}),
    ("fileMediatype", "string", {"required": True, "pattern": "^(image|video|audio)/.*$"}),
    ("exifData", "object", {}), ("favorite", "boolean", {}), ("mediaComments", "string", {}),
]
OBSERVATION_FIELDS: list[tuple[str, str, dict]] = [
    ("observationID", "string", {"required": True, "unique": True}),
    ("deploymentID", "string", {"required": True}), ("mediaID", "string", {}), ("eventID", "string", {}),
    ("eventStart", _DT, {"required": True}), ("eventEnd", _DT, {"required": True}),
    ("observationLevel", "string", {"required": True, "enum": ["media", "event"]}),
    ("observationType", "string", {"required": True, "enum": ["animal", "human", "vehicle", "blank", "unknown",
                                                               "unclassified"]}),
    ("cameraSetupType", "string", {"enum": ["setup", "calibration"]}),
    ("scientificName", "string", {}), ("count", "integer", {"minimum": 1}),
    ("lifeStage", "string", {"enum": ["adult", "subadult", "juvenile"]}),
    ("sex", "string", {"enum": ["female", "male"]}), ("behavior", "string", {}), ("individualID", "string", {}),
    ("individualPositionRadius", "number", {"minimum": 0}),
    ("individualPositionAngle", "number", {"minimum": -90, "maximum": 90}),
    ("individualSpeed", "number", {"minimum": 0}),
    ("bboxX", "number", {"minimum": 0, "maximum": 1}), ("bboxY", "number", {"minimum": 0, "maximum": 1}),
    ("bboxWidth", "number", {"minimum": 1e-15, "maximum": 1}),
    ("bboxHeight", "number", {"minimum": 1e-15, "maximum": 1}),
    ("classificationMethod", "string", {"enum": ["human", "machine"]}), ("classifiedBy", "string", {}),
    ("classificationTimestamp", _DT, {}),
    ("classificationProbability", "number", {"minimum": 0, "maximum": 1}),
    ("observationTags", "string", {}), ("observationComments", "string", {}),
]
DWC_FIELDS = [
    "occurrenceID", "basisOfRecord", "eventID", "parentEventID", "eventDate", "samplingProtocol", "locationID",
    "decimalLatitude", "decimalLongitude", "geodeticDatum", "coordinateUncertaintyInMeters", "coordinatePrecision",
    "dataGeneralizations", "occurrenceStatus", "scientificName", "taxonRank", "kingdom", "class", "order", "family",
    "vernacularName", "identifiedBy", "dateIdentified", "identificationRemarks", "associatedMedia", "license",
    "rightsHolder",
]
OBSERVATION_TYPES = {"animal", "human", "vehicle", "blank", "unknown", "unclassified"}


def table_schema(fields: list[tuple[str, str, dict]], primary_key: str, foreign_keys: list[dict]) -> dict:
    """Frictionless Table Schema of a Camtrap DP table."""
    out = []
    for name, typ, constraints in fields:
        f: dict[str, Any] = {"name": name, "type": typ}
        if typ == _DT:
            f["format"] = DATETIME_FORMAT
        if constraints:
            f["constraints"] = dict(constraints)
        out.append(f)
    schema: dict[str, Any] = {"fields": out, "missingValues": [""], "primaryKey": [primary_key]}
    if foreign_keys:
        schema["foreignKeys"] = foreign_keys
    return schema


def _fk(field_: str, resource: str) -> dict:
    return {"fields": [field_], "reference": {"resource": resource, "fields": [field_]}}


@dataclass
class ExportReport:
    """What an export wrote and left out.

    Attributes:
        path: the package folder or the CSV file written.
        rows: rows written per table.
        warnings: one dict per record left out: ``table``, ``id``, ``file`` (media path or ''), ``reason``.
        withheld: records left out of a public export (people/vehicles), per table (no detail: they are private).
        generalised: deployments whose coordinates were generalised.
    """

    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)
    withheld: dict[str, int] = field(default_factory=dict)
    generalised: list[str] = field(default_factory=list)

    def warn(self, table: str, record_id: str, file: str, reason: str) -> None:
        """Record a left-out row and log it."""
        self.warnings.append({"table": table, "id": record_id, "file": file, "reason": reason})
        log.warning("export: %s %s%s left out: %s", table, record_id, f" ({file})" if file else "", reason)


def _aware(iso: str | None) -> datetime | None:
    """ISO 8601 text -> aware datetime; None when empty, malformed or without a UTC offset."""
    if not iso:
        return None
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _fmt(dt: datetime | None) -> str:
    """Camtrap DP datetime text (``YYYY-MM-DDThh:mm:ss±hh:mm``, whole seconds), '' for None."""
    return dt.replace(microsecond=0).isoformat() if dt is not None else ""


@dataclass
class _Site:
    deploymentID: str
    stationID: str
    stationName: str
    latitude: float | None
    longitude: float | None
    uncertainty_m: float | None
    generalised: bool
    licence: str
    attribution: str
    deviceType: str
    deviceModel: str
    start: datetime | None
    end: datetime | None


def _sites(session: Session, catalogue: Catalogue, public: bool, precision_deg: float,
           report: ExportReport) -> dict[str, _Site]:
    """Deployments with (maybe generalised) coordinates and a time range (given, or that of their media)."""
    hidden = sensitive_deployments(session, catalogue) if public else set()
    names = {s.stationID: s.stationName for s in session.scalars(select(Station))}
    ranges = {dep: (lo, hi) for dep, lo, hi in session.execute(
        select(Media.deploymentID, func.min(Media.timestampUTC), func.max(Media.timestampUTC))
        .group_by(Media.deploymentID))}
    out = {}
    for dep in session.scalars(select(Deployment).order_by(Deployment.deploymentID)):
        lat, lon, unc, gen = dep.latitude, dep.longitude, dep.coordinateUncertainty_m, False
        if dep.deploymentID in hidden:
            p = generalise(lat, lon, unc, precision_deg)
            lat, lon, unc, gen = p.latitude, p.longitude, p.uncertainty_m, True
            report.generalised.append(dep.deploymentID)
        start, end = _aware(dep.deploymentStart), _aware(dep.deploymentEnd)
        lo, hi = ranges.get(dep.deploymentID, (None, None))
        start = start or (lo.replace(tzinfo=UTC) if lo else None)
        end = end or (hi.replace(tzinfo=UTC) if hi else None)
        out[dep.deploymentID] = _Site(dep.deploymentID, dep.stationID, names.get(dep.stationID, ""), lat, lon, unc,
                                      gen, dep.licence, dep.attribution, dep.deviceType, dep.deviceModel, start, end)
    return out


def _private_media(session: Session) -> set[str]:
    """Media IDs holding a detection of a person or a vehicle."""
    q = select(Detection.mediaID).where(
        Detection.observationType.in_(PRIVATE_OBSERVATION_TYPES)
        | func.lower(Detection.scientificName).in_(PRIVATE_NAMES))
    return set(session.scalars(q.distinct()))


def _write_csv(path: Path, header: list[str], rows: Iterator[dict]) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow(safe_row(row))  # text a user or a file name controls cannot become a formula
            n += 1
    return n


#: A selection of observations: called with ``Detection`` or ``Event``, the SQL conditions of the selected rows.
Selection = Callable[[type], list]


def _where(selection: Selection | None, model) -> list:
    return [] if selection is None else list(selection(model))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def export_camtrap_dp(session: Session, out_dir: str | Path, catalogue: Catalogue, *, public: bool = True,
                      precision_deg: float = 0.1, title: str = "biodiv-obs station detections",
                      profile_url: str | None = None, created: datetime | None = None,
                      data_license: str = "CC-BY-4.0", selection: Selection | None = None) -> ExportReport:
    """Write a Camtrap DP 1.0.2 package (``datapackage.json``, ``deployments.csv``, ``media.csv``,
    ``observations.csv``, ``warnings.csv``) into ``out_dir`` (created; existing files are replaced).

    Args:
        public: apply the public-read rules (no people/vehicles, generalised sensitive sites).
        precision_deg: grid of the generalised coordinates, decimal degrees.
        profile_url: package ``profile``; None writes ``tabular-data-package`` (validates offline),
            :data:`CAMTRAP_DP_PROFILE` the official profile.
        selection: export only a selection: called with ``Detection`` and with ``Event``, it returns the SQL
            conditions of the selected rows (e.g. ``serve.routers.detections.listing_filters``); media are
            those of the selected detections. None exports everything.
    Returns:
        the :class:`ExportReport` (rows written, rows left out with reasons).
    Raises:
        OSError: ``out_dir`` cannot be written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport(path=out)
    sites = _sites(session, catalogue, public, precision_deg, report)
    kept_sites: dict[str, _Site] = {}
    for site in sites.values():
        if site.latitude is None or site.longitude is None:
            report.warn("deployments", site.deploymentID, "", "no coordinates (Camtrap DP requires latitude and "
                        "longitude); its media and observations are left out")
        elif site.start is None or site.end is None:
            report.warn("deployments", site.deploymentID, "", "no deployment time range and no timed media")
        else:
            kept_sites[site.deploymentID] = site
    private = _private_media(session) if public else set()
    issues = {dep for (dep,) in session.execute(select(Media.deploymentID).where(Media.timestampIssues != "")
                                                .distinct())}

    report.rows["deployments"] = _write_csv(out / "deployments.csv", [f[0] for f in DEPLOYMENT_FIELDS], (
        {"deploymentID": s.deploymentID, "locationID": s.stationID, "locationName": s.stationName,
         "latitude": s.latitude, "longitude": s.longitude,
         "coordinateUncertainty": max(1, round(s.uncertainty_m)) if s.uncertainty_m else None,
         "deploymentStart": _fmt(s.start), "deploymentEnd": _fmt(s.end), "cameraModel": s.deviceModel,
         "timestampIssues": _bool(s.deploymentID in issues),
         "deploymentTags": f"deviceType:{s.deviceType}" if s.deviceType else "",
         "deploymentComments": "; ".join(x for x in (s.attribution and f"attribution: {s.attribution}",
                                                      s.licence and f"licence: {s.licence}") if x)}
        for s in kept_sites.values()))

    exported_media: set[str] = set()
    withheld = {"media": 0, "observations": 0}

    def media_rows() -> Iterator[dict]:
        q = select(Media).order_by(Media.mediaID)
        if selection is not None:
            q = q.where(Media.mediaID.in_(select(Detection.mediaID).where(*selection(Detection))))
        for m in session.scalars(q).yield_per(2000):
            where = m.fileName or m.filePath
            if m.deploymentID not in kept_sites:
                report.warn("media", m.mediaID, where, f"deployment {m.deploymentID!r} is not exported")
                continue
            if m.mediaID in private:
                withheld["media"] += 1
                continue
            stamp = _aware(m.timestamp)
            if stamp is None:
                reason = ("no capture timestamp" if not m.timestamp else "timestamp without UTC offset")
                report.warn("media", m.mediaID, where, f"{reason} (timestampIssues={m.timestampIssues or 'none'}; "
                            f"stored as {m.filePath}); Camtrap DP requires a timestamp with time zone")
                continue
            mediatype = m.fileMediatype or ""
            if mediatype.split("/")[0] not in ("image", "video", "audio"):
                report.warn("media", m.mediaID, where, f"fileMediatype {mediatype!r} is not image/, video/ or audio/")
                continue
            exported_media.add(m.mediaID)
            yield {"mediaID": m.mediaID, "deploymentID": m.deploymentID,
                   "captureMethod": "activityDetection" if m.modality == "image" else "",
                   "timestamp": _fmt(stamp), "filePath": m.filePath or m.fileName, "filePublic": "false",
                   "fileName": m.fileName, "fileMediatype": mediatype}

    report.rows["media"] = _write_csv(out / "media.csv", [f[0] for f in MEDIA_FIELDS], media_rows())

    def observation_rows() -> Iterator[dict]:
        for d in session.scalars(select(Detection).where(*_where(selection, Detection))
                                 .order_by(Detection.detectionID)).yield_per(5000):
            if d.mediaID not in exported_media:
                if d.mediaID in private:
                    withheld["observations"] += 1
                else:
                    report.warn("observations", d.detectionID, "", f"its media {d.mediaID} is not exported")
                continue
            start = _aware(d.eventStart)
            if start is None:
                report.warn("observations", d.detectionID, "", "no event time")
                continue
            yield _observation(d, "media", d.detectionID, d.mediaID, start,
                               start + timedelta(seconds=max(0.0, d.end_s - d.start_s)))
        events = select(Event).where(*_where(selection, Event)).order_by(Event.eventID)
        for e in session.scalars(events).yield_per(5000):
            if public and is_private(e.observationType, e.scientificName):
                withheld["observations"] += 1
                continue
            if e.deploymentID not in kept_sites or (e.mediaID and e.mediaID not in exported_media):
                report.warn("observations", e.eventID, "", "its deployment or media is not exported")
                continue
            start, end = _aware(e.eventStart), _aware(e.eventEnd) or _aware(e.eventStart)
            if start is None or end is None:
                report.warn("observations", e.eventID, "", "no event time")
                continue
            yield _observation(e, "event", f"event-{e.eventID}", e.mediaID, start, end)

    report.rows["observations"] = _write_csv(out / "observations.csv", [f[0] for f in OBSERVATION_FIELDS],
                                             observation_rows())
    report.withheld = withheld
    report.rows["warnings"] = _write_csv(out / "warnings.csv", ["table", "id", "file", "reason"],
                                         iter(report.warnings))
    descriptor = _descriptor(session, catalogue, kept_sites, report, title=title, profile_url=profile_url,
                             created=created, data_license=data_license,
                             precision_deg=precision_deg if report.generalised else None)
    (out / "datapackage.json").write_text(json.dumps(descriptor, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def _observation(row, level: str, observation_id: str, media_id: str | None, start: datetime, end: datetime) -> dict:
    otype = row.observationType if row.observationType in OBSERVATION_TYPES else "unclassified"
    return {"observationID": observation_id, "deploymentID": row.deploymentID, "mediaID": media_id or "",
            "eventID": row.eventID or "", "eventStart": _fmt(start), "eventEnd": _fmt(end),
            "observationLevel": level, "observationType": otype, "scientificName": row.scientificName or "",
            "classificationMethod": row.classificationMethod if row.classificationMethod in ("human", "machine")
            else "", "classifiedBy": row.classifiedBy,
            "classificationTimestamp": _fmt(_aware(row.classificationTimestamp)),
            "classificationProbability": row.classificationProbability,
            "observationTags": "|".join(f"{k}:{v}" for k, v in (("classificationSource", row.classificationSource),
                                                                ("taxonRank", row.taxonRank)) if v),
            "observationComments": f"modelVersion: {row.modelVersion}" if row.modelVersion else ""}


def _descriptor(session: Session, catalogue: Catalogue, sites: dict[str, _Site], report: ExportReport, *,
                title: str, profile_url: str | None, created: datetime | None, data_license: str,
                precision_deg: float | None) -> dict:
    lats = [s.latitude for s in sites.values() if s.latitude is not None]
    lons = [s.longitude for s in sites.values() if s.longitude is not None]
    starts = [s.start for s in sites.values() if s.start] or [datetime.now(UTC)]
    ends = [s.end for s in sites.values() if s.end] or starts
    if lats:
        w, e, s_, n = min(lons), max(lons), min(lats), max(lats)
        spatial = {"type": "Polygon", "coordinates": [[[w, s_], [e, s_], [e, n], [w, n], [w, s_]]]}
    else:
        spatial = {"type": "Polygon", "coordinates": []}
    taxa = []
    for name in sorted(n for n in session.scalars(select(Detection.scientificName).distinct()) if n):
        sp = catalogue.get(name)
        entry: dict[str, Any] = {"scientificName": name}
        if sp is not None:
            entry["taxonRank"] = sp.taxonRank
            entry["vernacularNames"] = {k: v for k, v in (("eng", sp.vernacularNameEN), ("zho", sp.vernacularNameZH))
                                        if v}
        taxa.append(entry)
    modalities = set(session.scalars(select(Detection.modality).distinct()))
    levels = ["media"] + (["event"] if session.scalar(select(func.count()).select_from(Event)) else [])
    resources = []
    for name, fields_, pk, fks in (
            ("deployments", DEPLOYMENT_FIELDS, "deploymentID", []),
            ("media", MEDIA_FIELDS, "mediaID", [_fk("deploymentID", "deployments")]),
            ("observations", OBSERVATION_FIELDS, "observationID",
             [_fk("deploymentID", "deployments"), _fk("mediaID", "media")])):
        resources.append({"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource",
                          "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "schema": table_schema(fields_, pk, fks)})
    descriptor: dict[str, Any] = {
        "profile": profile_url or "tabular-data-package",
        "name": "biodiv-obs-camtrap-dp",
        "title": title,
        "created": _fmt(created or datetime.now(UTC)),
        "contributors": [{"title": "biodiv-obs", "role": "publisher"}],
        "licenses": [{"name": data_license, "scope": "data"}],
        "project": {"title": title, "samplingDesign": "opportunistic",
                    "captureMethod": ["activityDetection"] if "image" in modalities or not modalities else [],
                    "individualAnimals": False, "observationLevel": levels},
        "spatial": spatial,
        "temporal": {"start": min(starts).date().isoformat(), "end": max(ends).date().isoformat()},
        "taxonomic": taxa,
        "resources": resources,
        "biodiv:camtrapDP": {"version": CAMTRAP_DP_VERSION, "profile": CAMTRAP_DP_PROFILE},
        "biodiv:warnings": {"count": len(report.warnings), "path": "warnings.csv"},
    }
    if precision_deg is not None:
        descriptor["coordinatePrecision"] = precision_deg
    return descriptor


def validate_package(path: str | Path) -> list[str]:
    """Validate a package with frictionless (descriptor, schemas, every row, keys and foreign keys).

    Returns:
        error messages (``[]`` when valid).
    """
    from frictionless import Package

    package = Package(str(Path(path) / "datapackage.json") if Path(path).is_dir() else str(path))
    result = package.validate()
    return [err.message for task in result.tasks for err in task.errors] + [e.message for e in result.errors]


def export_dwc_occurrences(session: Session, path: str | Path, catalogue: Catalogue, *, public: bool = True,
                           precision_deg: float = 0.1, level: Literal["auto", "media", "event"] = "auto",
                           data_license: str = "CC-BY-4.0", selection: Selection | None = None) -> ExportReport:
    """Write a Darwin Core occurrence CSV: one row per animal observation with a ``scientificName``
    (of ``selection`` only, when given: see :func:`export_camtrap_dp`).

    ``level="auto"`` uses event-level observations when the database holds events (one occurrence per
    independent event, as GBIF's Camtrap DP conversion does), media-level detections otherwise.
    Records without a time with offset are left out and listed in the report (BR-03).

    Raises:
        OSError: ``path`` cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(path=path)
    sites = _sites(session, catalogue, public, precision_deg, report)
    sensitive = sensitive_names(catalogue)
    if level == "auto":
        level = "event" if session.scalar(select(func.count()).select_from(Event)) else "media"
    model = Event if level == "event" else Detection
    pk = Event.eventID if level == "event" else Detection.detectionID
    private = _private_media(session) if public else set()
    withheld = 0

    def rows() -> Iterator[dict]:
        nonlocal withheld
        q = select(model).where(model.observationType == "animal", model.scientificName.is_not(None),
                                *_where(selection, model)).order_by(pk)
        for r in session.scalars(q).yield_per(5000):
            rid = r.eventID if level == "event" else r.detectionID
            if public and (is_private(r.observationType, r.scientificName) or (r.mediaID or "") in private):
                withheld += 1
                continue
            start = _aware(r.eventStart)
            if start is None:
                report.warn("occurrences", rid, "", "no event time with UTC offset")
                continue
            site = sites.get(r.deploymentID)
            sp = catalogue.get(r.scientificName)
            end = _aware(getattr(r, "eventEnd", "")) if level == "event" else None
            human = r.classificationMethod == "human"
            yield {
                "occurrenceID": rid, "basisOfRecord": "HumanObservation" if human else "MachineObservation",
                "eventID": r.eventID or "", "parentEventID": r.deploymentID,
                "eventDate": _fmt(start) + (f"/{_fmt(end)}" if end and end != start else ""),
                "samplingProtocol": "camera trap" if r.modality == "image" else "acoustic recorder",
                "locationID": r.stationID,
                "decimalLatitude": site.latitude if site else None,
                "decimalLongitude": site.longitude if site else None,
                "geodeticDatum": "WGS84" if site and site.latitude is not None else "",
                "coordinateUncertaintyInMeters": round(site.uncertainty_m) if site and site.uncertainty_m else None,
                "coordinatePrecision": precision_deg if site and site.generalised else None,
                "dataGeneralizations": generalisation_note(precision_deg, sensitive) if site and site.generalised
                else "",
                "occurrenceStatus": "present", "scientificName": r.scientificName,
                "taxonRank": (sp.taxonRank if sp else "") or r.taxonRank or "", "kingdom": "Animalia",
                "class": sp.class_ if sp else "", "order": sp.order if sp else "", "family": sp.family if sp else "",
                "vernacularName": sp.vernacularNameEN if sp else "", "identifiedBy": r.classifiedBy,
                "dateIdentified": _fmt(_aware(r.classificationTimestamp)),
                "identificationRemarks": f"classificationProbability={r.classificationProbability:.4f}; "
                                         f"classificationMethod={r.classificationMethod}; "
                                         f"classificationSource={r.classificationSource}; model={r.modelVersion}",
                "associatedMedia": r.mediaID or "",
                "license": data_license, "rightsHolder": site.attribution if site else "",
            }

    report.rows["occurrences"] = _write_csv(path, DWC_FIELDS, rows())
    report.withheld = {"occurrences": withheld}
    return report
