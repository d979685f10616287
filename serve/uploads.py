"""Upload handling: content-based type detection, classification and atomic, content-addressed storage.

An upload lands whole (stored file + media row + detection rows) or leaves nothing behind. The
client's file name is only kept, sanitised, as ``Media.fileName``; it never takes part in a path.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import posixpath
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models.inference.detect import classify_images, classify_recording
from models.ingest import probe_media
from models.learning.bundle import Classifier
from models.media.errors import MediaError
from models.media.hashing import media_id, sha256_bytes
from models.media.imaging import DEFAULT_MAX_PIXELS, IMAGE_TYPES, SUPPORTED_TEXT, sniff_media
from models.media.timestamps import localise
from models.store.alerts import record_alerts
from models.store.db import (
    Deployment,
    Detection,
    Job,
    Media,
    detection_row,
    is_contention,
    media_by_sha,
    to_utc,
)
from models.taxonomy.catalogue import Catalogue
from serve.classifiers import Classifiers

log = logging.getLogger(__name__)

#: Audio types with the extension of the stored copy (image types: ``models.media.imaging.IMAGE_TYPES``).
AUDIO_EXTENSIONS = {"audio/wav": ".wav", "audio/flac": ".flac", "audio/mpeg": ".mp3", "audio/ogg": ".ogg",
                    "audio/aiff": ".aiff"}
_STATUS = {"image_too_large": 413, "unsupported_format": 415}
#: The one message for content that is neither a supported image nor decodable audio: it names the
#: formats accepted (``IMAGE_TYPES``; audio decoded by libsndfile and stored with an ``AUDIO_EXTENSIONS``
#: suffix) and never the decoder's own error text or the client's file name.
UNSUPPORTED_MESSAGE = SUPPORTED_TEXT


class UploadRejected(Exception):
    """An upload the service refuses; ``status`` is the HTTP code, ``reason`` a short machine code."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


@dataclass
class UploadResult:
    """Outcome of :func:`process_upload`: the media row and its detections, or (long audio) the
    background job that will produce them (``media`` None, ``detections`` empty)."""

    duplicate: bool
    media: Media | None
    detections: list[Detection]
    job: Job | None = None


def sanitise_filename(name: str | None) -> str:
    """Base name of a client-supplied file name, safe to store and display.

    Backslashes count as separators, NUL and other control characters are dropped, only the last
    path component is kept; an empty result (or ``.``/``..``) becomes ``upload``.
    """
    text = "".join(ch for ch in (name or "").replace("\\", "/") if ch >= " " and ch != "\x7f")
    base = posixpath.basename(text).strip()
    return base[:255] if base not in ("", ".", "..") else "upload"


def _detections(session: Session, mid: str) -> list[Detection]:
    return list(session.scalars(select(Detection).where(Detection.mediaID == mid)
                                .order_by(Detection.start_s, Detection.detectionID)))


def _public(exc: MediaError, file_name: str, *paths: Path) -> UploadRejected:
    """Map a MediaError to an HTTP rejection whose message names the upload, never a server path.

    ``unsupported_format`` always gets :data:`UNSUPPORTED_MESSAGE` (the decoder's text is not shown).
    """
    if exc.reason == "unsupported_format":  # the sniffer's detail names the format; a decoder's text is not shown
        named = exc.detail.endswith(UNSUPPORTED_MESSAGE) and "/" in exc.detail.split(";")[0]
        return UploadRejected(415, "unsupported_format", exc.detail if named else UNSUPPORTED_MESSAGE)
    message = exc.detail or exc.reason
    for p in paths:
        message = message.replace(str(p), file_name)
    return UploadRejected(_STATUS.get(exc.reason, 422), exc.reason, message)


def _sniff_modality(data: bytes) -> str:
    """``image`` or ``audio`` from the content (audio is confirmed later by decoding it)."""
    try:
        modality, mime = sniff_media(data[:262], "upload")  # the one sniffing function (drops use it too)
    except MediaError as exc:
        raise _public(exc, "upload") from exc
    if modality == "video":
        raise UploadRejected(415, "unsupported_format", f"video ({mime}) is not processed yet; {UNSUPPORTED_MESSAGE}")
    return modality


def _stage(folder: Path, sha: str, data: bytes) -> Path:
    """Write ``data`` to a hidden temporary file in ``folder`` (same file system as the final name).

    Raises:
        UploadRejected: 507 ``insufficient_storage`` when the disk is full (nothing is left behind).
        OSError: any other write error (the temporary file is removed).
    """
    for attempt in range(3):  # a failed upload of other bytes may remove the empty folder meanwhile
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{sha}.", suffix=PARTIAL_SUFFIX)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        _remove_if_empty(folder)
        if exc.errno in DISK_FULL_ERRNOS:
            raise UploadRejected(507, "insufficient_storage",
                                 "the server has no space left to store this file; nothing was kept") from exc
        raise
    return Path(tmp)


#: ``errno`` values of a full disk or an exhausted quota (the upload is answered 507 Insufficient Storage).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: Suffix of a staged upload that has not been committed yet (``.<sha256>.<random>.part``).
PARTIAL_SUFFIX = ".part"


def recover_uploads(session: Session, media_root: Path, older_than_s: float = 3600.0) -> tuple[int, int]:
    """After a crash: finish or remove what interrupted uploads and jobs left in ``media_root``.

    - A staged upload (``<xx>/.<sha256>.<random>.part``) or a finished job's staged file
      (``.jobs/<jobID><ext>``) whose media row is committed but whose stored file is missing is moved into
      place (the process died between the commit and the move, :func:`_commit`).
    - Any other staged upload older than ``older_than_s`` is deleted (it died before its commit; younger
      ones may be another worker's upload in progress); so is a finished job's leftover file.

    Returns:
        ``(moved into place, deleted)``.
    """
    root = Path(media_root)
    if not root.is_dir():
        return 0, 0
    cutoff = time.time() - older_than_s
    moved = removed = 0

    def settle(staged: Path, media: Media | None, expired: bool) -> None:
        nonlocal moved, removed
        final = root / media.filePath if media is not None and media.filePath else None
        try:
            if final is not None and not final.exists():
                os.replace(staged, final)
                moved += 1
            elif final is not None or expired:
                staged.unlink()
                removed += 1
                _remove_if_empty(staged.parent)
        except FileNotFoundError:  # another worker settled it first
            pass

    for path in root.glob(f"*/.*{PARTIAL_SUFFIX}"):
        try:
            expired = path.stat().st_mtime <= cutoff
        except FileNotFoundError:
            continue
        settle(path, media_by_sha(session, path.name.split(".")[1]), expired)
    for staged in sorted((root / JOBS_FOLDER).glob("*")) if (root / JOBS_FOLDER).is_dir() else []:
        # only the files still staged, not every job ever run: a finished job's file left behind
        job = session.scalars(select(Job).where(Job.stagedPath == staged.relative_to(root).as_posix())).first()
        if staged.is_file() and job is not None and job.state == "done" and job.mediaID:
            settle(staged, session.get(Media, job.mediaID), True)
    return moved, removed


def _probe(clf: Classifier, tmp: Path, file_name: str, media: dict, deployment: Deployment) -> dict:
    """Probe the staged file as ingest does (``models.ingest.probe_media``); sets ``media["timestamp"]``
    (localised as station drops are: the deployment's zone and its ``deploymentStart``/``deploymentEnd``
    window) and returns the media facts (with ``extension``).

    Raises:
        MediaError: corrupt, truncated, unsupported or too large content.
    """
    image = media["modality"] == "image"
    max_pixels = clf.meta.image_preprocessing().max_pixels if image else DEFAULT_MAX_PIXELS
    facts = probe_media(tmp, max_pixels, name=file_name)
    naive, offset, source = facts.pop("naive_time"), facts.pop("offset"), facts.pop("time_source")
    del facts["modality"]
    mime = facts["fileMediatype"]
    facts["extension"] = IMAGE_TYPES[mime] if image else AUDIO_EXTENSIONS.get(mime, "")
    media["timestamp"], facts["timestampIssues"] = localise(
        naive, offset, deployment.timezone or None,
        window=(deployment.deploymentStart or None, deployment.deploymentEnd or None))
    facts["timestampSource"] = source if naive else "missing"
    return facts


def _classify(clf: Classifier, catalogue: Catalogue, top_k: int, data: bytes | None, tmp: Path, file_name: str,
              media: dict) -> list[dict]:
    """Detection rows for the staged file (``data`` is needed for images only)."""
    if media["modality"] == "image":
        pixels = clf.meta.image_preprocessing().pixels(data, file_name)
        preds = classify_images(clf, [media], [pixels], catalogue, top_k)
    else:
        preds = classify_recording(clf, media, tmp, catalogue, top_k)
    return [detection_row(dataclasses.asdict(p)) for p in preds]


def process_upload(session: Session, *, data: bytes, file_name: str, deployment_id: str, media_root: Path,
                   classifiers: Classifiers, catalogue: Catalogue, top_k: int,
                   background_audio_s: float | None = None, submitted_by: str = "") -> UploadResult:
    """Store and classify one upload, or return the existing record for bytes seen before.

    Checks run in this order: duplicate content (answered with the existing record, whatever
    ``deployment_id`` says: the first upload's deployment is kept), unknown deployment (422), empty
    content, content type (415), model availability (503); only then is the file staged and classified.

    Args:
        session: database session (committed here).
        data: the uploaded bytes (size already checked).
        file_name: sanitised client file name (metadata only).
        deployment_id: the deployment the media comes from; must be a row of ``deployments``
            (checked after the duplicate look-up, before anything is staged or classified).
        media_root: storage root; the file goes to ``<sha256[:2]>/<sha256><ext>`` under it.
        classifiers: the loaded classifiers (a modality without one is refused with 503).
        catalogue: species catalogue (invasive flags).
        top_k: alternatives kept per detection.
        background_audio_s: a recording longer than this (s) is not classified now: it is kept under
            ``<media_root>/.jobs/`` and a queued :class:`models.store.db.Job` is returned (run it with
            :func:`run_job`). The same bytes sent again while their job is queued or running return
            that job instead of a new one. None classifies everything at once.
        submitted_by: the uploader's key name, recorded on a job.

    Raises:
        UploadRejected: unknown deployment (422 ``unknown_deployment``), empty, unsupported,
            corrupt/truncated or too large content, or no model (503).
    """
    sha = sha256_bytes(data)
    existing = media_by_sha(session, sha)
    if existing is not None:
        return UploadResult(True, existing, _detections(session, existing.mediaID))
    pending = active_job(session, sha)
    if pending is not None:
        return UploadResult(True, None, [], pending)
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise UploadRejected(422, "unknown_deployment",
                             f"deploymentID '{deployment_id}' is not a known deployment; "
                             "known deployments are listed at /v1/stations")
    if not data:
        raise UploadRejected(422, "corrupt", "file is empty (0 bytes)")
    modality = _sniff_modality(data)
    clf = classifiers.get(modality)
    if clf is None:
        raise UploadRejected(503, "model_unavailable",
                             classifiers.missing.get(modality, f"no {modality} model is loaded"))
    root = media_root.resolve()
    folder = root / sha[:2]
    tmp = _stage(folder, sha, data)
    try:
        media = dict(mediaID=media_id(sha), deploymentID=deployment_id, stationID=deployment.stationID, filePath="",
                     modality=modality, timestamp="")
        try:
            facts = _probe(clf, tmp, file_name, media, deployment)
            if (background_audio_s is not None and modality == "audio"
                    and (facts.get("duration_s") or 0.0) > background_audio_s):
                return UploadResult(False, None, [], _queue_job(session, tmp, root, sha, deployment_id, file_name,
                                                                facts, submitted_by))
            rows = _classify(clf, catalogue, top_k, data, tmp, file_name,
                             {**media, "timestampIssues": facts["timestampIssues"]})  # unusable time: no eventStart
        except MediaError as exc:
            raise _public(exc, file_name, tmp, folder, root) from exc
        name = f"{sha}{facts.pop('extension')}"
        media["filePath"] = f"{sha[:2]}/{name}"  # relative to media_root
        row = Media(sha256=sha, fileName=file_name, timestampUTC=to_utc(media["timestamp"]), bytes=len(data),
                    origin="upload", **media, **facts)
        result = _commit(session, row, [Detection(**r) for r in rows], tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)
        _remove_if_empty(folder)
    return result


def receive_upload(session: Session, *, file: object, deployment_id: str, max_upload_bytes: int, media_root: Path,
                   classifiers: Classifiers, catalogue: Catalogue, top_k: int, background_audio_s: float | None,
                   submitted_by: str, submit_job: Callable[[str], object]) -> UploadResult:
    """The one path of an upload received over HTTP, shared by ``POST /v1/media`` and the upload page
    (``POST /upload/file``): the same checks, limits and reasons, in the same order.

    ``file`` is the request's file part (a Starlette ``UploadFile``, or a plain string when the part had no
    file name). Checks: a blank ``deployment_id`` (422 ``missing_deployment``), a part without a file name
    (422 ``missing_filename``, never echoed), more than ``max_upload_bytes`` (413 ``upload_too_large``), then
    everything :func:`process_upload` checks. A new background job is handed to ``submit_job`` (its ID).

    Raises:
        UploadRejected: any refusal, with its HTTP status, reason code and message.
    """
    deployment_id = deployment_id.strip()
    if not deployment_id:
        raise UploadRejected(422, "missing_deployment", "deploymentID must not be blank")
    if isinstance(file, str) or not (getattr(file, "filename", "") or "").strip():
        raise UploadRejected(422, "missing_filename", "the file part has no file name")
    data = file.file.read(max_upload_bytes + 1)
    if len(data) > max_upload_bytes:
        raise UploadRejected(413, "upload_too_large", f"uploads are limited to {max_upload_bytes} bytes")
    result = process_upload(session, data=data, file_name=sanitise_filename(file.filename),
                            deployment_id=deployment_id, media_root=media_root, classifiers=classifiers,
                            catalogue=catalogue, top_k=top_k, background_audio_s=background_audio_s,
                            submitted_by=submitted_by)
    if result.job is not None and not result.duplicate:
        submit_job(result.job.jobID)
    return result


def _remove_if_empty(folder: Path) -> None:
    """Drop a storage folder that a failed upload left empty (best effort)."""
    try:
        folder.rmdir()
    except OSError:  # not empty (the usual case) or already gone
        pass


def _commit(session: Session, media: Media, detections: list[Detection], tmp: Path, final: Path) -> UploadResult:
    """Commit the rows, then move the staged file into place (``os.replace``, atomic on one file system).

    A process killed between the commit and the move leaves a committed row and the staged file, which the
    next start moves into place (:func:`recover_uploads`); one killed before the commit leaves only the
    staged file, which is deleted. A failed commit leaves the staged file where it was (an upload removes
    it, a job keeps it for its retry)."""
    try:
        session.add(media)
        session.flush()  # the media row first: detections reference it (no ORM relationship orders them)
        session.add_all(detections)
        session.flush()
        # in the same transaction: an invasive detection never lands without its alert
        record_alerts(session, [d.detectionID for d in detections])
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        winner = media_by_sha(session, media.sha256)
        if winner is not None:  # a concurrent upload of the same bytes committed first
            return UploadResult(True, winner, _detections(session, winner.mediaID))
        raise
    os.replace(tmp, final)
    return UploadResult(False, media, sorted(detections, key=lambda d: (d.start_s, d.detectionID)))


# --- Background jobs (long recordings) ----------------------------------------------------------------------

#: Job states; ``queued`` and ``running`` are active (a restart re-queues ``running`` ones).
JOB_STATES = ("queued", "running", "done", "failed")
JOBS_FOLDER = ".jobs"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def active_job(session: Session, sha: str) -> Job | None:
    """The queued or running job for these bytes, if any."""
    return session.scalars(select(Job).where(Job.sha256 == sha, Job.state.in_(("queued", "running")))
                           .order_by(Job.created)).first()


def _queue_job(session: Session, tmp: Path, root: Path, sha: str, deployment_id: str, file_name: str,
               facts: dict, submitted_by: str) -> Job:
    """Move the staged file to ``<root>/.jobs/<jobID><ext>`` and commit a queued job; undo the move on failure."""
    job_id = uuid.uuid4().hex
    folder = root / JOBS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f"{job_id}{facts['extension']}"
    os.replace(tmp, staged)
    job = Job(jobID=job_id, kind="upload", state="queued", sha256=sha, deploymentID=deployment_id,
              fileName=file_name, stagedPath=staged.relative_to(root).as_posix(), duration_s=facts.get("duration_s"),
              submittedBy=submitted_by, created=_now())
    try:
        session.add(job)
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        staged.unlink(missing_ok=True)
        raise
    return job


def _fail(session: Session, job: Job, reason: str, staged: Path | None) -> Job:
    session.rollback()
    job = session.get(Job, job.jobID)
    job.state, job.reason, job.finished = "failed", reason[:1024], _now()
    session.commit()
    if staged is not None:
        staged.unlink(missing_ok=True)
    return job


def run_job(session: Session, job_id: str, *, media_root: Path, classifiers: Classifiers, catalogue: Catalogue,
            top_k: int) -> Job | None:
    """Run one queued upload job to ``done`` (media + detections committed with the job's state, the
    file moved to its content-addressed place) or ``failed`` (with a reason; nothing is left behind).

    A job that is not ``queued`` is left alone (another worker has it, or it has finished). A database
    busy past its timeout (``models.store.db.is_contention``) puts the job back to ``queued`` with its
    file still staged and re-raises, so the runner tries it again later.

    Returns:
        The job row after the run, or None when no job has this ID.
    """
    claimed = session.execute(update(Job).where(Job.jobID == job_id, Job.state == "queued")
                              .values(state="running", started=_now(), attempts=Job.attempts + 1)).rowcount
    session.commit()  # compare-and-set: of two workers handed the same job, one runs it
    job = session.get(Job, job_id)
    if job is None or claimed != 1:
        return job
    root = media_root.resolve()
    staged = root / job.stagedPath
    try:
        if not staged.is_file():
            return _fail(session, job, "the uploaded file is missing from the job folder", None)
        existing = media_by_sha(session, job.sha256)
        if existing is not None:  # the same bytes arrived another way (e.g. a station drop) meanwhile
            job.state, job.mediaID, job.finished = "done", existing.mediaID, _now()
            job.detections = len(_detections(session, existing.mediaID))
            session.commit()
            staged.unlink(missing_ok=True)
            return job
        deployment = session.get(Deployment, job.deploymentID)
        if deployment is None:
            return _fail(session, job, f"deploymentID '{job.deploymentID}' is no longer a known deployment", staged)
        clf = classifiers.get("audio")
        if clf is None:
            return _fail(session, job, classifiers.missing.get("audio", "no audio model is loaded"), staged)
        media = dict(mediaID=media_id(job.sha256), deploymentID=job.deploymentID, stationID=deployment.stationID,
                     filePath="", modality="audio", timestamp="")
        try:
            facts = _probe(clf, staged, job.fileName, media, deployment)
            rows = _classify(clf, catalogue, top_k, None, staged, job.fileName,
                             {**media, "timestampIssues": facts["timestampIssues"]})
        except MediaError as exc:
            return _fail(session, job, _public(exc, job.fileName, staged, root).message, staged)
        name = f"{job.sha256}{facts.pop('extension')}"
        folder = root / job.sha256[:2]
        folder.mkdir(parents=True, exist_ok=True)
        media["filePath"] = f"{job.sha256[:2]}/{name}"
        row = Media(sha256=job.sha256, fileName=job.fileName, timestampUTC=to_utc(media["timestamp"]),
                    bytes=staged.stat().st_size, origin="upload", **media, **facts)
        job.state, job.mediaID, job.detections, job.finished = "done", row.mediaID, len(rows), _now()
        result = _commit(session, row, [Detection(**r) for r in rows], staged, folder / name)
        if result.duplicate:  # lost a race with a concurrent upload of the same bytes
            staged.unlink(missing_ok=True)
            job = session.get(Job, job_id)
            job.state, job.mediaID, job.detections, job.finished = ("done", result.media.mediaID,
                                                                    len(result.detections), _now())
            session.commit()
        return job
    except Exception as exc:  # noqa: BLE001 - a job must end in a state, whatever went wrong
        if is_contention(exc):  # the database is busy: back to the queue, the file stays staged
            session.rollback()
            _requeue(session, job_id)
            raise
        log.exception("job %s failed", job_id)
        return _fail(session, job, f"internal error ({type(exc).__name__}); see the service log", staged)


def _requeue(session: Session, job_id: str) -> None:
    """Put a ``running`` job back to ``queued`` (best effort: if the database is still busy, the job stays
    ``running`` and the next start re-queues it, :func:`requeue_interrupted`)."""
    try:
        session.execute(update(Job).where(Job.jobID == job_id, Job.state == "running").values(state="queued"))
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.warning("job %s: database still busy; it is re-queued at the next start", job_id)


def requeue_interrupted(session: Session) -> list[str]:
    """After a restart: put ``running`` jobs back to ``queued``; returns every queued job ID, oldest first."""
    interrupted = list(session.scalars(select(Job).where(Job.state == "running")))
    for job in interrupted:
        job.state = "queued"
    if interrupted:
        session.commit()
    return list(session.scalars(select(Job.jobID).where(Job.state == "queued").order_by(Job.created)))
