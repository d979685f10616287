"""Media delivery (``/v1/media/{id}/thumbnail|file``, ``/v1/detections/{id}/clip|spectrogram``): real derived
files, the public never gets media of people or vehicles nor any original metadata, HTTP Range on clips."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models.store.db import Detection, Media, create_schema, make_engine
from models.store.keys import create_key
from serve.app import create_app
from tests.serve_helpers import seed_database

EXIF_GPS_JPEG_MARKER = b"Exif"


def _jpeg_with_exif(width: int = 800, height: int = 600) -> bytes:
    from PIL import Image

    img = Image.fromarray(np.dstack([np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))] * 3))
    exif = Image.Exif()
    exif[0x010F] = "TrailCam"  # Make
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


@pytest.fixture()
def files(settings):
    ids = seed_database(settings.database_url)
    root = settings.stations_root
    (root / "S1").mkdir(parents=True)
    (root / "S2").mkdir(parents=True)
    (root / "S1" / "m1").write_bytes(_jpeg_with_exif())
    rate = 16000
    t = np.arange(12 * rate) / rate
    sf.write(root / "S1" / "m2", (0.3 * np.sin(2 * np.pi * 2000 * t)).astype(np.float32), rate, format="WAV",
             subtype="PCM_16")
    (root / "S2" / "m3").write_bytes(_jpeg_with_exif(320, 240))
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as s:
        s.get(Media, "m2").duration_s = 12.0
        # m3 also shows a person: private
        s.add(Detection(detectionID="dp", mediaID="m3", modality="image", observationType="human",
                        scientificName=None, classificationProbability=0.9, modelVersion="seed/1",
                        stationID="S2", deploymentID="S2-cam"))
        token = create_key(s, "reviewer", "Reviewer").token
        s.commit()
    engine.dispose()
    with TestClient(create_app(settings)) as c:
        yield c, ids, {"X-API-Key": token}


def test_thumbnail_is_a_small_jpeg_without_metadata_and_cached(files, settings):
    c, _, _ = files
    r = c.get("/v1/media/m1/thumbnail?size=160")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (120, 160)
    assert EXIF_GPS_JPEG_MARKER not in r.content[:200]
    cached = list((settings.cache_root / "thumbs").rglob("*_160.jpg"))
    assert len(cached) == 1
    assert c.get("/v1/media/m1/thumbnail?size=161").status_code == 422  # sizes are a fixed set


def test_public_gets_no_media_of_people_and_no_original(files):
    c, _, reviewer = files
    assert c.get("/v1/media/m3/thumbnail").status_code == 404
    assert c.get("/v1/media/m3/file").status_code == 404
    assert c.get("/v1/media/m3/thumbnail", headers=reviewer).status_code == 200
    public = c.get("/v1/media/m1/file")
    original = c.get("/v1/media/m1/file", headers=reviewer)
    assert public.status_code == original.status_code == 200
    assert EXIF_GPS_JPEG_MARKER in original.content[:200] and EXIF_GPS_JPEG_MARKER not in public.content[:200]
    assert c.get("/v1/media/m2/file").status_code == 404  # recordings go public only as clips
    assert c.get("/v1/media/nope/thumbnail").status_code == 404


def test_clip_is_the_window_with_padding_and_supports_range(files):
    c, ids, _ = files
    d3 = ids["d3"]  # window 3..6 s of a 12 s recording
    r = c.get(f"/v1/detections/{d3}/clip")
    data, rate = sf.read(io.BytesIO(r.content))
    assert r.headers["content-type"] == "audio/wav" and rate == 16000 and len(data) == 3 * 16000
    padded, _ = sf.read(io.BytesIO(c.get(f"/v1/detections/{d3}/clip?pad_s=2").content))
    assert len(padded) == 7 * 16000
    first, _ = sf.read(io.BytesIO(c.get(f"/v1/detections/{ids['d2']}/clip?pad_s=2").content))
    assert len(first) == 5 * 16000  # 0..3 s window: the padding is clamped at the start
    part = c.get(f"/v1/detections/{d3}/clip", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100 and part.content == r.content[:100]
    assert c.get(f"/v1/detections/{ids['d1']}/clip").status_code == 415


def test_spectrogram_png_shows_the_tone_band(files):
    c, ids, _ = files
    r = c.get(f"/v1/detections/{ids['d3']}/spectrogram?pad_s=1")
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (320, 900)


def test_spectrogram_array_peaks_at_the_tone(tmp_path):
    from models.media.derivatives import spectrogram_db

    rate = 16000
    t = np.arange(rate) / rate
    sf.write(tmp_path / "a.wav", np.sin(2 * np.pi * 3000 * t).astype(np.float32), rate)
    db, sr = spectrogram_db(tmp_path / "a.wav", 0.0, 1.0, n_fft=1024, hop_length=256)
    assert sr == rate and db.shape == (513, 1 + (rate - 1024) // 256)
    assert abs(int(np.argmax(db.mean(axis=1))) * rate / 1024 - 3000) < rate / 1024
    assert db.max() == 0.0 and db.min() >= -80.0


def test_file_paths_never_leave_their_root(files, settings):
    from models.media.errors import MediaError
    from models.store.files import media_path

    m = Media(mediaID="x", sha256="x", filePath="../../etc/passwd", origin="station_drop")
    with pytest.raises(MediaError, match="outside"):
        media_path(m, settings.media_root, settings.stations_root)
