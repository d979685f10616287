"""Media delivery for the pages and API clients: thumbnails, full images, audio clips and spectrograms.

The same access rule as every listing (``models.store.privacy``): a caller below ``reviewer`` never gets a
file of a media with a person or a vehicle in it (404, as if it did not exist), and is only ever given
derived files (re-encoded JPEGs, rewritten WAV clips), which carry no EXIF or GUANO metadata, so no camera
or recorder position leaks for sensitive species. Derived files are cached under ``Settings.cache_root``
(rebuilt when missing). Files are sent with ``ETag`` / ``Last-Modified`` and honour HTTP ``Range`` requests
(Starlette's ``FileResponse``), so an audio element can seek.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse

from models.media.derivatives import audio_clip, clip_bounds, image_jpeg, spectrogram_db, write_atomic
from models.media.errors import MediaError
from models.store.db import Detection, Media
from models.store.files import media_path
from models.store.privacy import media_is_private
from serve.auth import Principal, Role
from serve.web_session import ViewerDep

router = APIRouter(prefix="/v1", tags=["media files"])
MediaPath = Annotated[str, Path(max_length=64)]
#: Thumbnail sizes offered (longer side, px); a fixed set keeps the cache bounded.
THUMB_SIZES = (160, 320, 640, 1280)
#: Spectrogram STFT: 1024-point FFT, 256-sample hop (about 46 ms x 12 ms at 22.05 kHz).
SPEC_N_FFT, SPEC_HOP = 1024, 256
_CACHE = "private, max-age=3600"


def _not_found(what: str) -> HTTPException:
    return HTTPException(404, {"reason": "not_found", "message": f"{what} not found"})


def _media(request: Request, viewer: Principal, media_id: str) -> tuple[Media, FsPath]:
    """The media row and its file, when this viewer may see it (else 404; also for private media)."""
    state = request.app.state
    with state.sessions() as s:
        media = s.get(Media, media_id)
        if media is None or (not viewer.at_least(Role.reviewer) and media_is_private(s, media_id)):
            raise _not_found("media")
    try:
        return media, media_path(media, state.settings.media_root, state.settings.stations_root)
    except MediaError as exc:
        raise HTTPException(404, {"reason": "file_missing", "message": exc.detail}) from exc


def _detection(request: Request, viewer: Principal, detection_id: str) -> tuple[Detection, Media, FsPath]:
    with request.app.state.sessions() as s:
        det = s.get(Detection, detection_id)
    if det is None:
        raise _not_found("detection")
    media, path = _media(request, viewer, det.mediaID)
    return det, media, path


def _cached(request: Request, *parts: str) -> FsPath:
    return FsPath(request.app.state.settings.cache_root).joinpath(*parts)


def _derive(dst: FsPath, build) -> FsPath:
    if not dst.is_file():
        try:
            build(dst)
        except MediaError as exc:
            raise HTTPException(422, {"reason": exc.reason, "message": exc.detail}) from exc
    return dst


@router.get("/media/{mediaID}/thumbnail", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "unknown or not visible"}})
def thumbnail(mediaID: MediaPath, request: Request, viewer: ViewerDep,
              size: Annotated[int, Query(description="longer side, px: 160, 320, 640 or 1280")] = 320) -> FileResponse:
    """A JPEG of the image with its longer side at most ``size`` px (no metadata), cached."""
    if size not in THUMB_SIZES:
        raise HTTPException(422, {"reason": "bad_size", "message": f"size must be one of {THUMB_SIZES}"})
    media, src = _media(request, viewer, mediaID)
    if media.modality != "image":
        raise HTTPException(415, {"reason": "not_an_image", "message": f"media is {media.modality}"})
    dst = _derive(_cached(request, "thumbs", media.sha256[:2], f"{media.sha256}_{size}.jpg"),
                  lambda d: image_jpeg(src, d, size))
    return FileResponse(dst, media_type="image/jpeg", headers={"Cache-Control": _CACHE})


@router.get("/media/{mediaID}/file", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}, "audio/wav": {}}}, 404: {"description": "not visible"}})
def media_file(mediaID: MediaPath, request: Request, viewer: ViewerDep) -> FileResponse:
    """The media file: the original for reviewers (with its metadata), a full-size metadata-free JPEG of an
    image for everyone else (public readers get recordings only as detection clips)."""
    media, src = _media(request, viewer, mediaID)
    if viewer.at_least(Role.reviewer):
        return FileResponse(src, media_type=media.fileMediatype or None, filename=media.fileName or src.name,
                            content_disposition_type="inline", headers={"Cache-Control": _CACHE})
    if media.modality != "image":
        raise _not_found("public file of a recording (use a detection's clip)")
    dst = _derive(_cached(request, "public", media.sha256[:2], f"{media.sha256}.jpg"), lambda d: image_jpeg(src, d))
    return FileResponse(dst, media_type="image/jpeg", headers={"Cache-Control": _CACHE})


@router.get("/detections/{detectionID}/clip", response_class=FileResponse,
            responses={200: {"content": {"audio/wav": {}}}, 404: {"description": "unknown or not visible"}})
def clip(detectionID: MediaPath, request: Request, viewer: ViewerDep,
         pad_s: Annotated[float, Query(ge=0, le=10)] = 0.0) -> FileResponse:
    """The detection's audio window, ``pad_s`` seconds added on each side (clamped to the recording), as WAV
    PCM 16-bit at the native sample rate; seekable (HTTP Range)."""
    det, media, src = _detection(request, viewer, detectionID)
    if det.modality != "audio":
        raise HTTPException(415, {"reason": "not_audio", "message": "only audio detections have clips"})
    lo, hi = clip_bounds(det.start_s, det.end_s, pad_s, media.duration_s)
    dst = _derive(_cached(request, "clips", media.sha256[:2], f"{media.sha256}_{lo:.3f}_{hi:.3f}.wav"),
                  lambda d: audio_clip(src, d, lo, hi))
    return FileResponse(dst, media_type="audio/wav", headers={"Cache-Control": _CACHE})


@router.get("/detections/{detectionID}/spectrogram", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}, 404: {"description": "unknown or not visible"}})
def spectrogram(detectionID: MediaPath, request: Request, viewer: ViewerDep,
                pad_s: Annotated[float, Query(ge=0, le=10)] = 2.0) -> FileResponse:
    """A PNG spectrogram of the detection's window +- ``pad_s`` s: time axis (s from the recording's start),
    frequency axis (kHz, up to Nyquist), the window outlined."""
    from serve.charts import spectrogram_png

    det, media, src = _detection(request, viewer, detectionID)
    if det.modality != "audio":
        raise HTTPException(415, {"reason": "not_audio", "message": "only audio detections have spectrograms"})
    lo, hi = clip_bounds(det.start_s, det.end_s, pad_s, media.duration_s)

    def build(dst: FsPath) -> None:
        db, rate = spectrogram_db(src, lo, hi, SPEC_N_FFT, SPEC_HOP)
        png = spectrogram_png(db, rate, lo, SPEC_HOP, window=(det.start_s, det.end_s))
        write_atomic(dst, lambda tmp: tmp.write_bytes(png))

    name = f"{media.sha256}_{lo:.3f}_{hi:.3f}_{det.start_s:.3f}_{det.end_s:.3f}.png"
    dst = _derive(_cached(request, "spectrograms", media.sha256[:2], name), build)
    return FileResponse(dst, media_type="image/png", headers={"Cache-Control": _CACHE})
