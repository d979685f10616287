"""Small media files for the browser site, generated on the fly: camera-trap-like JPEGs (a sky and ground
gradient with an animal-shaped blob, a few KB) and recordings (a WAV of tones, chirps and noise, so the
spectrogram shows something), plus the files the upload test sends (a good image, a good recording, a
corrupt "JPEG")."""

from __future__ import annotations

import io
import zlib

import numpy as np

#: Sample rate of the generated recordings (Hz) and their length (s): long enough for a 3 s window at 3 s
#: padded by 2 s on both sides.
SAMPLE_RATE_HZ = 8000
RECORDING_S = 8.0


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def jpeg(name: str, width: int = 480, height: int = 360, night: bool = False) -> bytes:
    """A JPEG of a scene: sky over ground, a few trees and an animal-like blob; ``name`` seeds the layout."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = _rng(name)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = np.array([150, 185, 210]) if not night else np.array([40, 50, 60])
    ground = np.array([85, 110, 60]) if not night else np.array([35, 45, 35])
    horizon = 0.45 + 0.1 * rng.random()
    top = sky * (1 - 0.3 * y) + 0 * y
    bottom = ground * (0.8 + 0.4 * (y - horizon))
    img = np.where(y < horizon, top, bottom) + rng.normal(0, 6, (height, width, 1))
    im = Image.fromarray(np.clip(np.broadcast_to(img, (height, width, 3)), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(4):  # trees
        x = int(rng.integers(0, width))
        h = int(height * (0.3 + 0.3 * rng.random()))
        base = int(height * horizon) + 10
        draw.rectangle([x - 4, base - h // 3, x + 4, base], fill=(70, 50, 35))
        draw.ellipse([x - 30, base - h, x + 30, base - h // 3], fill=(45, 80, 45))
    cx, cy = int(width * (0.25 + 0.5 * rng.random())), int(height * (0.65 + 0.15 * rng.random()))
    w = int(width * (0.12 + 0.08 * rng.random()))
    fur = tuple(int(v) for v in rng.integers(60, 120, 3))
    draw.ellipse([cx - w, cy - w // 2, cx + w, cy + w // 2], fill=fur)  # body
    draw.ellipse([cx + w - 10, cy - w // 2 - 8, cx + w + w // 2, cy], fill=fur)  # head
    for dx in (-w // 2, w // 2):
        draw.rectangle([cx + dx - 4, cy + w // 3, cx + dx + 4, cy + w], fill=fur)  # legs
    im = im.filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def wav(name: str, duration_s: float = RECORDING_S, sample_rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """A mono 16-bit WAV: low background noise, a few tone bursts and frequency sweeps; ``name`` seeds it."""
    import soundfile as sf

    rng = _rng(name)
    n = round(duration_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    x = rng.normal(0, 0.01, n)
    for _ in range(6):
        start = rng.random() * (duration_s - 0.6)
        length = 0.15 + 0.4 * rng.random()
        f0, f1 = 400 + 2500 * rng.random(), 400 + 2500 * rng.random()
        m = (t >= start) & (t < start + length)
        tt = t[m] - start
        phase = 2 * np.pi * (f0 * tt + (f1 - f0) * tt ** 2 / (2 * length))
        x[m] += 0.25 * np.sin(phase) * np.hanning(m.sum())
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sample_rate_hz, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def corrupt_jpeg() -> bytes:
    """The start of a JPEG and then garbage: the upload refuses it with a reason."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
