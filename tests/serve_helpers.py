"""Builders shared by the serve tests: tiny real bundles, generated media, seeded database rows."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
import torch
from PIL import Image
from sqlalchemy.orm import Session

from models.learning.bundle import BundleMeta, save_bundle
from models.learning.classifier import create_classifier
from models.store.db import Deployment, Detection, Media, Station, create_schema, detection_id, make_engine, to_utc

ARCH = "mobilenetv3_small_050"
LABELS = ["Lithobates catesbeianus", "Sus scrofa", "blank"]
IMAGE_PRE = {"size_px": 32, "crop_top_frac": 0.0, "crop_bottom_frac": 0.0, "mean": [0.485, 0.456, 0.406],
             "std": [0.229, 0.224, 0.225], "max_pixels": 89478485}
AUDIO_PRE = {"sample_rate_hz": 8000, "window_s": 1.0, "hop_s": 1.0, "min_tail_s": 0.5, "n_fft": 256,
             "hop_length": 128, "n_mels": 32, "fmin_hz": 50.0, "fmax_hz": 4000.0}
#: Shared field-failure cases; CI clones the repository next to ``shared/``.
CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases"


def make_bundle(directory: Path, modality: str) -> BundleMeta:
    """Save a randomly initialised (seeded) bundle for ``image`` or ``audio``."""
    torch.manual_seed(0)
    in_chans = 3 if modality == "image" else 1
    model, _ = create_classifier(ARCH, len(LABELS), in_chans, "none")
    meta = BundleMeta(modality=modality, arch=ARCH, in_chans=in_chans, labels=list(LABELS),
                      preprocessing=dict(IMAGE_PRE if modality == "image" else AUDIO_PRE))
    return save_bundle(directory, model, meta)


def jpeg_bytes(seed: int = 0, width: int = 64, height: int = 48) -> bytes:
    """A random-noise JPEG (different ``seed`` -> different bytes)."""
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def jpeg_with_exif_time(stamp: str, seed: int = 0) -> bytes:
    """A 64x48 JPEG whose EXIF DateTime (tag 306) is ``stamp`` (``YYYY:MM:DD HH:MM:SS``)."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[306] = stamp
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def wav_bytes(duration_s: float = 2.5, sample_rate_hz: int = 8000, freq_hz: float = 440.0) -> bytes:
    """A mono 16-bit PCM sine WAV."""
    t = np.arange(round(duration_s * sample_rate_hz)) / sample_rate_hz
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), sample_rate_hz, format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


def _det(media_id: str, modality: str, name: str | None, prob: float, invasive: bool, event: str,
         start_s: float = 0.0, deployment: str = "", station: str = "") -> Detection:
    return Detection(
        detectionID=detection_id(media_id, start_s, "seed/1"), mediaID=media_id, deploymentID=deployment,
        stationID=station, modality=modality, start_s=start_s, end_s=start_s + (3.0 if modality == "audio" else 0.0),
        eventStart=event, eventStartUTC=to_utc(event), observationType="animal" if name else "blank",
        scientificName=name, classificationProbability=prob, isInvasive=invasive,
        topK=[[name or "blank", prob]], modelVersion="seed/1", classifiedBy="seed/1",
        classificationTimestamp="2024-07-01T00:00:00+00:00")


def seed_database(url: str) -> dict[str, Detection]:
    """Two stations, three deployments, four media and five detections (one untimed, one blank).

    Returns:
        the seeded detections by short key ``d1``..``d5``.
    """
    engine = make_engine(url)
    create_schema(engine)
    dets = {
        "d1": _det("m1", "image", "Lithobates catesbeianus", 0.91, True, "2024-05-01T08:00:00+08:00",
                   deployment="S1-cam", station="S1"),
        "d2": _det("m2", "audio", "Lithobates catesbeianus", 0.55, True, "2024-05-02T20:00:00+08:00",
                   deployment="S1-rec", station="S1"),
        "d3": _det("m2", "audio", "Sus scrofa", 0.40, False, "2024-05-02T20:00:03+08:00", start_s=3.0,
                   deployment="S1-rec", station="S1"),
        "d4": _det("m3", "image", "Sus scrofa", 0.77, False, "", deployment="S2-cam", station="S2"),
        "d5": _det("m4", "image", None, 0.88, False, "2024-06-01T12:00:00+08:00", deployment="S2-cam",
                   station="S2"),
    }
    ids = {k: v.detectionID for k, v in dets.items()}
    with Session(engine) as s:
        s.add_all([Station(stationID="S1", stationName="Wetland"), Station(stationID="S2", stationName="Forest")])
        s.add_all([
            Deployment(deploymentID="S1-cam", stationID="S1", deviceType="camera", timezone="Asia/Shanghai"),
            Deployment(deploymentID="S1-rec", stationID="S1", deviceType="audio", timezone="Asia/Shanghai"),
            Deployment(deploymentID="S2-cam", stationID="S2", deviceType="camera", timezone="Asia/Shanghai"),
        ])
        for mid, dep, st, mod in (("m1", "S1-cam", "S1", "image"), ("m2", "S1-rec", "S1", "audio"),
                                  ("m3", "S2-cam", "S2", "image"), ("m4", "S2-cam", "S2", "image")):
            s.add(Media(mediaID=mid, sha256=mid * 16, deploymentID=dep, stationID=st, modality=mod,
                        filePath=f"{st}/{mid}", fileName=mid, created=datetime(2024, 7, 1)))
        s.flush()
        s.add_all(dets.values())
        s.commit()
    engine.dispose()
    return ids


#: Deployments the upload tests send media to (``POST /v1/media`` refuses any other deploymentID):
#: ``(deploymentID, stationID, deviceType, timezone)``. ``d`` and ``CASE-dep`` have no station and no
#: time zone (their times stay without offset, flagged ``no_timezone``).
UPLOAD_DEPLOYMENTS = [
    ("S1-cam", "S1", "camera", "Asia/Shanghai"),
    ("S1-rec", "S1", "audio", "Asia/Shanghai"),
    ("S2-cam", "S2", "camera", "Asia/Shanghai"),
    ("d", "", "", ""),
    ("CASE-dep", "", "", ""),
]


def seed_deployments(session: Session) -> list[str]:
    """Add stations ``S1``/``S2`` and :data:`UPLOAD_DEPLOYMENTS` (committed); returns the deployment IDs."""
    session.add_all([Station(stationID="S1", stationName="Wetland"), Station(stationID="S2", stationName="Forest")])
    session.add_all([Deployment(deploymentID=dep, stationID=st, deviceType=kind, timezone=tz)
                     for dep, st, kind, tz in UPLOAD_DEPLOYMENTS])
    session.commit()
    return [dep for dep, *_ in UPLOAD_DEPLOYMENTS]


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry (``<input name="csrf_token" value=...>``)."""
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, db, role: str = "reviewer", name: str = "Li Wei") -> str:
    """Sign a TestClient in through the ``/signin`` form with a new key of ``role``; returns the session's CSRF
    token."""
    from models.store.keys import create_key

    key = create_key(db, role, name)
    r = client.post("/signin", data={"api_key": key.token, "csrf_token": csrf_of(client.get("/signin").text),
                                     "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    return csrf_of(client.get("/").text)
