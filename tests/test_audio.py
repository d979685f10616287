"""Audio: probing, loading, mixing, resampling, windows and log-mel spectrograms."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from models.media.audio import (
    Audio,
    AudioPreprocessing,
    cut_windows,
    load_audio,
    mel_filterbank,
    probe_audio,
    window_bounds,
)
from models.media.errors import MediaError


@pytest.mark.parametrize(("duration", "window", "hop", "tail", "expected"), [
    (6.0, 3.0, 3.0, 1.0, [(0.0, 3.0), (3.0, 6.0)]),
    (1.2, 3.0, 3.0, 1.0, [(0.0, 1.2)]),  # shorter than one window: exactly one window
    (10.0, 3.0, 3.0, 1.0, [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 10.0)]),  # 1 s tail kept
    (7.0, 3.0, 3.0, 1.5, [(0.0, 3.0), (3.0, 6.0)]),  # 1 s tail < 1.5 s dropped
    (6.0, 3.0, 3.0, 0.0, [(0.0, 3.0), (3.0, 6.0)]),  # no zero-length tail window
    (7.0, 3.0, 2.0, 1.0, [(0.0, 3.0), (2.0, 5.0), (4.0, 7.0)]),  # overlapping windows
    (8.0, 3.0, 2.0, 1.0, [(0.0, 3.0), (2.0, 5.0), (4.0, 7.0), (6.0, 8.0)]),
    (0.3, 0.1, 0.1, 0.05, [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3)]),  # no float drift losing the last window
    (0.0, 3.0, 3.0, 1.0, []),
])
def test_window_bounds(duration, window, hop, tail, expected):
    assert window_bounds(duration, window, hop, tail) == expected


@pytest.mark.parametrize(("window", "hop"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0)])
def test_window_bounds_rejects_non_positive(window, hop):
    with pytest.raises(ValueError):
        window_bounds(5.0, window, hop, 1.0)


def test_cut_windows_zero_pads_the_tail():
    audio = Audio(np.arange(1, 11, dtype=np.float32), 2)  # 5 s at 2 Hz
    bounds = window_bounds(audio.duration_s, 2.0, 2.0, 1.0)
    assert bounds == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    out = cut_windows(audio, bounds, 2.0)
    assert out.dtype == np.float32
    assert out.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 0, 0]]


def test_audio_value_mono_and_duration():
    stereo = Audio(np.array([[1.0, 0.5, 0.0, 0.2], [0.0, 0.5, 1.0, -0.2]], np.float32), 4)
    assert (stereo.channels, stereo.duration_s) == (2, 1.0)
    mono = stereo.to_mono()
    assert mono.channels == 1 and mono.samples.tolist() == pytest.approx([0.5, 0.5, 0.5, 0.0])
    assert mono.to_mono() is mono


@pytest.mark.parametrize(("seconds", "src", "dst", "n"), [(1.0, 48000, 22050, 22050), (1.2, 48000, 22050, 26460),
                                                        (0.5, 8000, 16000, 8000)])
def test_resample_length_and_pitch(seconds, src, dst, n):
    t = np.arange(round(seconds * src)) / src
    audio = Audio((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), src)
    out = audio.resample(dst)
    assert out.sample_rate_hz == dst and out.samples.shape == (n,) and out.samples.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out.samples))
    peak_hz = np.argmax(spectrum) * dst / len(out.samples)
    assert peak_hz == pytest.approx(1000, abs=3)  # a 1 kHz tone stays at 1 kHz
    assert audio.resample(src) is audio


def test_resample_keeps_channels():
    audio = Audio(np.zeros((2, 4800), np.float32), 48000)
    assert audio.resample(8000).samples.shape == (2, 800)


def test_probe_flac(tmp_path, media):
    p = media.wav(tmp_path / "rec.flac", 1.5, sample_rate_hz=16000, channels=2, fmt="FLAC")
    info = probe_audio(p)
    assert (info.mime, info.sample_rate_hz, info.channels, info.frames, info.subtype) == (
        "audio/flac", 16000, 2, 24000, "PCM_16")
    assert info.duration_s == pytest.approx(1.5)


def test_probe_format_by_content_not_extension(tmp_path, media):
    p = media.wav(tmp_path / "rec.mp3", 0.5, fmt="WAV")  # a WAV with the wrong extension
    assert probe_audio(p).mime == "audio/wav"


def test_probe_and_load_errors(tmp_path, media):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all " * 10)
    with pytest.raises(MediaError) as exc:
        probe_audio(text)
    assert exc.value.reason == "unsupported_format"
    empty = media.wav(tmp_path / "empty.wav", 0.0)
    for fn in (probe_audio, load_audio):
        with pytest.raises(MediaError) as exc:
            fn(empty)
        assert exc.value.reason == "empty_audio"
    with pytest.raises(MediaError) as exc:
        load_audio(text)
    assert exc.value.reason == "unsupported_format"  # one reason for content that is not audio, in every loader


def test_load_audio_mixes_down_and_resamples(tmp_path):
    p = tmp_path / "st.wav"
    data = np.stack([np.full(8000, 0.5, np.float32), np.full(8000, -0.1, np.float32)], axis=1)
    sf.write(str(p), data, 8000, subtype="FLOAT")
    mono = load_audio(p)
    assert mono.samples.shape == (8000,) and mono.sample_rate_hz == 8000
    assert mono.samples[100] == pytest.approx(0.2, abs=1e-6)
    both = load_audio(p, mono=False)
    assert both.samples.shape == (2, 8000)
    assert load_audio(p, sample_rate_hz=16000).samples.shape == (16000,)


def test_mel_filterbank_shape():
    fb = mel_filterbank(22050, 1024, 64, 50.0, 11025.0)
    assert fb.shape == (64, 513) and fb.dtype == np.float32
    assert (fb >= 0).all()


def test_spectrograms_shape_and_standardisation():
    pre = AudioPreprocessing(sample_rate_hz=8000, window_s=1.0, hop_s=1.0, min_tail_s=0.5, n_fft=256, hop_length=64,
                             n_mels=32, fmin_hz=50.0, fmax_hz=4000.0)
    t = np.arange(20000) / 8000  # 2.5 s
    audio = Audio((0.3 * np.sin(2 * np.pi * 700 * t)).astype(np.float32), 8000)
    bounds, windows = pre.windows(audio)
    assert bounds == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    assert windows.shape == (3, 8000)
    spec = pre.spectrograms(windows)
    assert spec.shape == (3, 32, 1 + 8000 // 64) and spec.dtype == np.float32
    assert np.isfinite(spec).all()
    assert np.abs(spec[0].mean()) < 1e-4
    assert spec[0].std(ddof=1) == pytest.approx(1.0, abs=0.01)


def test_silent_window_is_all_zeros_not_nan():
    pre = AudioPreprocessing()
    spec = pre.spectrograms(np.zeros((2, 66150), np.float32))
    assert spec.shape == (2, 64, 130)
    assert (spec == 0).all()


def test_no_windows_gives_an_empty_batch():
    pre = AudioPreprocessing()
    assert pre.spectrograms(np.zeros((0, 66150), np.float32)).shape == (0, 64, 130)


def test_levels_dbfs_hand_computed():
    from models.media.audio import levels_dbfs

    t = np.arange(8000) / 8000
    full_sine = np.sin(2 * np.pi * 100 * t)  # RMS 1/sqrt(2) -> 20*log10(0.7071) = -3.01 dBFS
    quiet = 0.001 * np.ones(8000)  # RMS 0.001 -> -60 dBFS
    levels = levels_dbfs(np.stack([full_sine, quiet, np.zeros(8000)]))
    assert np.allclose(levels[:2], [-3.0103, -60.0], atol=1e-3)
    assert levels[2] == -200.0
    pre = AudioPreprocessing(silence_dbfs=-70.0)
    assert pre.silent(np.stack([quiet, np.zeros(8000), 1e-4 * np.ones(8000)])).tolist() == [False, True, True]
