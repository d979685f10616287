"""Media the decoders used to get quietly wrong (issue 14 item 7): deep images, formats by content, audio
headers that lie about their length, metadata in every sample format, bounded memory at high rates."""

from __future__ import annotations

import io
import logging
import struct
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from models.ingest import ingest_stations, probe_media
from models.media.audio import load_audio, probe_audio
from models.media.audio_stream import stream_resampled
from models.media.errors import MediaError
from models.media.imaging import ImagePreprocessing, decode_image, sniff_media, to_uint8
from models.media.riff import read_wav_layout
from models.media.timestamps import read_guano

# --- images ------------------------------------------------------------------------------------------------


def _png16(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def test_16bit_greyscale_keeps_its_levels_and_is_stretched():
    # a thermal frame: 400 levels around 1000..1400 of 65535; its top 8 bits hold 2 values only
    grad = np.tile(np.linspace(1000, 1400, 320).astype(np.uint16), (240, 1))
    assert len(np.unique(grad >> 8)) <= 3
    rgb = decode_image(_png16(grad), "thermal.png")
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert rgb.min() == 0 and rgb.max() == 255 and len(np.unique(rgb)) > 200
    pix = ImagePreprocessing(size_px=64).pixels(_png16(grad), "thermal.png")  # the model's path
    assert pix.shape == (64, 64, 3) and pix.std() > 50


def test_16bit_colour_and_flat_frames():
    colour = np.zeros((32, 32, 3), np.uint16)
    colour[..., 0], colour[..., 2] = 20000, 30000  # BGR: blue 20000, red 30000
    rgb = decode_image(_png16(colour), "c.png")
    assert rgb[0, 0].tolist() == [255, 0, 170]
    flat = decode_image(_png16(np.full((16, 16), 32896, np.uint16)), "flat.png")
    assert (flat == 128).all()


def test_to_uint8_float_with_non_finite_values():
    data = np.array([[0.0, 0.5], [1.0, np.nan]], np.float32)
    assert to_uint8(data).tolist() == [[0, 128], [255, 0]]
    assert to_uint8(np.full((2, 2), np.inf, np.float32)).tolist() == [[0, 0], [0, 0]]


def _heif() -> bytes:
    ftyp = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    return ftyp + b"\x00" * 300


def _avif() -> bytes:
    return struct.pack(">I", 24) + b"ftypavif" + b"\x00\x00\x00\x00" + b"mif1avif" + b"\x00" * 300


@pytest.mark.parametrize(("data", "name"), [(_heif(), "HEIF"), (_avif(), "AVIF"), (b"GIF89a" + b"\x00" * 300, "GIF"),
                                            (b"%PDF-1.4\n" + b"0" * 300, "PDF")])
def test_one_sniffer_names_unsupported_formats(tmp_path, data, name):
    with pytest.raises(MediaError) as exc:
        sniff_media(data[:262], "x")
    assert exc.value.reason == "unsupported_format" and exc.value.detail.startswith(name)
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(data)
    with pytest.raises(MediaError) as exc:  # the drop path
        probe_media(path)
    assert exc.value.reason == "unsupported_format" and name in exc.value.detail
    assert " at 0x" not in str(exc.value)


def test_drop_and_upload_give_the_same_reason_for_heif(tmp_path, client, deployments, uploader_headers):
    root = tmp_path / "drop"
    (root / "cam").mkdir(parents=True)
    (root / "deployments.csv").write_text("deploymentID,stationID,timezone\ncam,,\n", encoding="utf-8")
    (root / "cam" / "IMG_0001.HEIC").write_bytes(_heif())
    records, (rejection,) = ingest_stations(root)
    assert records == [] and rejection.reason == "unsupported_format" and rejection.detail.startswith("HEIF")
    r = client.post("/v1/media", files={"file": ("IMG_0001.HEIC", _heif(), "image/heic")},
                    data={"deploymentID": "S1-cam"}, headers=uploader_headers)
    assert r.status_code == 415
    assert r.json()["detail"] == {"reason": "unsupported_format", "message": rejection.detail}


def test_no_python_reprs_in_reasons(tmp_path):
    png = _png16(np.zeros((8, 8), np.uint16))
    broken = png[:30] + b"\x00" * 40  # a PNG signature and a damaged header
    for data in (broken, b"\x89PNG\r\n\x1a\n" + b"\xff" * 100, b"BM" + b"\x00" * 300):
        path = tmp_path / "x.png"
        path.write_bytes(data)
        with pytest.raises(MediaError) as exc:
            probe_media(path)
        assert " at 0x" not in exc.value.detail and "<" not in exc.value.detail, exc.value.detail
    assert MediaError("p", "corrupt", "cannot identify image file <_io.BytesIO object at 0x7f3a2b>").detail == \
        "cannot identify image file the file"


# --- audio whose header lies about its length --------------------------------------------------------------

RATE = 8000
SIGNAL = (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE * 3) / RATE)).astype(np.float32)


def _wav(subtype: str = "PCM_16", data_size: int | None = 0, signal: np.ndarray = SIGNAL, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, signal, rate, format="WAV", subtype=subtype)
    raw = bytearray(buf.getvalue())
    if data_size is not None:
        i = raw.find(b"data")
        raw[i + 4 : i + 8] = struct.pack("<I", data_size)
        raw[4:8] = struct.pack("<I", 0)
    return bytes(raw)


def _flac_unknown_length() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, SIGNAL, RATE, format="FLAC")
    raw = bytearray(buf.getvalue())
    body = raw[8:42]  # STREAMINFO: bytes 10..17 hold rate, channels, bits and the 36-bit total
    v = int.from_bytes(body[10:18], "big") & ~((1 << 36) - 1)
    body[10:18] = v.to_bytes(8, "big")
    raw[8:42] = body
    return bytes(raw)


LIARS = {"flac_total_0.flac": _flac_unknown_length, "wav_data_0.wav": _wav,
         "float_wav_data_0.wav": lambda: _wav("FLOAT"), "wav24_data_0.wav": lambda: _wav("PCM_24"),
         "wav_data_ffffffff.wav": lambda: _wav(data_size=0xFFFFFFFF)}
# (a data size smaller than the file is honest: chunks such as LIST or guan may follow the samples)


@pytest.mark.parametrize("name", sorted(LIARS))
def test_lying_headers_decode_to_the_end_in_every_loader(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(LIARS[name]())
    info = probe_audio(path)  # ingest and upload
    assert info.frames == len(SIGNAL) and info.duration_s == pytest.approx(3.0)
    audio = load_audio(path, 16000)  # training loader (preprocess)
    assert audio.samples.shape == (48000,)
    assert np.abs(audio.samples).max() == pytest.approx(0.3, abs=0.01)
    streamed = np.concatenate(list(stream_resampled(path, RATE)), axis=1)  # predict
    np.testing.assert_allclose(streamed[0], SIGNAL, atol=2e-4)


def test_lying_wav_upload_gets_every_window(client, deployments, uploader_headers):
    r = client.post("/v1/media", files={"file": ("rec.wav", _wav(), "audio/wav")}, data={"deploymentID": "S1-rec"},
                    headers=uploader_headers)
    assert r.status_code == 201, r.text
    assert r.json()["media"]["duration_s"] == pytest.approx(3.0)
    assert len(r.json()["detections"]) == 3  # 1 s windows of the test bundle


# --- GUANO in every sample format --------------------------------------------------------------------------

GUANO = "GUANO|Version: 1.0\nTimestamp: 2024-05-01T20:15:00+08:00\nMake: Wildlife Acoustics\nSerial: SMM01234\n"


def _with_chunk(wav: bytes, cid: bytes, body: bytes) -> bytes:
    pad = b"\x00" if len(body) % 2 else b""
    out = bytearray(wav + cid + struct.pack("<I", len(body)) + body + pad)
    out[4:8] = struct.pack("<I", len(out) - 8)
    return bytes(out)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT", "DOUBLE", "PCM_U8"])
def test_guano_is_read_in_every_sample_format(tmp_path, subtype):
    path = tmp_path / "SMM01234_20240501_201500.wav"
    path.write_bytes(_with_chunk(_wav(subtype, data_size=None), b"guan", GUANO.encode()))
    g = read_guano(path)
    assert g is not None and g.start.isoformat() == "2024-05-01T20:15:00" and g.utc_offset == "+08:00"
    assert g.serial == "SMM01234"
    facts = probe_media(path, name="renamed.wav")  # the time comes from GUANO, not the missing file-name time
    assert facts["time_source"] == "guano" and facts["offset"] == "+08:00"


def test_guano_before_the_data_chunk_and_extensible_format(tmp_path):
    buf = io.BytesIO()
    # 3 channels: soundfile writes WAVE_FORMAT_EXTENSIBLE
    sf.write(buf, np.zeros((800, 3), np.float32), RATE, format="WAV", subtype="FLOAT")
    wav = buf.getvalue()
    i = wav.find(b"data")
    body = GUANO.encode()
    chunk = b"guan" + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")
    out = bytearray(wav[:i] + chunk + wav[i:])
    out[4:8] = struct.pack("<I", len(out) - 8)
    path = tmp_path / "x.wav"
    path.write_bytes(bytes(out))
    assert read_wav_layout(path).format_tag == 3
    assert read_guano(path).utc_offset == "+08:00"
    assert probe_audio(path).channels == 3


@pytest.mark.parametrize(("body", "message"), [
    (b"GUANO|Version: 1.0\nTimestamp: not a time\n", "not a date-time"),
    (b"\xff\xfe GUANO garbage", "not UTF-8"),
])
def test_metadata_errors_are_logged_not_swallowed(tmp_path, caplog, body, message):
    path = tmp_path / "x.wav"
    path.write_bytes(_with_chunk(_wav(data_size=None), b"guan", body))
    with caplog.at_level(logging.WARNING, logger="models.media.timestamps"):
        assert read_guano(path) is None
    assert message in caplog.text and str(path) in caplog.text


# --- bounded memory at high sample rates -------------------------------------------------------------------


def test_high_rate_recording_is_streamed_in_bounded_memory(tmp_path):
    rate = 192_000
    path = tmp_path / "bat_20240501_201500.wav"
    t = np.arange(20 * rate, dtype=np.float32) / rate
    sf.write(path, (0.2 * np.sin(2 * np.pi * 25_000 * t)).astype(np.float32), rate, subtype="PCM_16")
    del t
    assert Path(path).stat().st_size > 7_000_000
    tracemalloc.start()
    try:
        n = sum(b.shape[1] for b in stream_resampled(path, 32_000))  # predict / upload path
        _, peak_stream = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        info = probe_audio(path)  # ingest / upload probe
        _, peak_probe = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 20 * 32_000 and info.frames == 20 * rate
    # a whole-file block was 44 MiB of Python heap; blocks of DEFAULT_BLOCK_BYTES (2 MiB) keep it small
    assert peak_stream < 12 * 2**20, peak_stream
    assert peak_probe < 6 * 2**20, peak_probe
