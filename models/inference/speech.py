"""Human speech in audio windows: Silero VAD on ONNX Runtime, so windows with people talking are never public.

Silero VAD (``silero-vad`` on PyPI, MIT licence; https://github.com/snakers4/silero-vad) is a small
recurrent voice-activity model. Its wheel carries ``silero_vad/data/silero_vad.onnx``; the package
itself imports torch, so this module only locates that file (``importlib.util.find_spec``, no import)
and runs it on ONNX Runtime, keeping torch out of inference (install with ``pip install --no-deps
silero-vad`` where torch must stay out).

Protocol (the package's ``OnnxWrapper``): mono 16 kHz audio in chunks of 512 samples (32 ms), each
prefixed by the previous chunk's last 64 samples (zeros at the start), with a recurrent state
``(2, batch, 128)`` carried from chunk to chunk; the output is a speech probability per chunk. Here
each analysis window is one row of a batch with its own fresh state, so windows are independent.

A window is **speech** when at least ``min_speech_s`` (0.25 s: the package's
``min_speech_duration_ms`` default) of its chunks have probability ``>= threshold`` (0.5, the package's
default). Such windows become ``observationType`` ``human`` (``classificationSource`` ``speech``) in the
decision path (``models.inference.decision``), which hides the recording from the public
(``models.store.privacy``), as BirdNET-Go's privacy filter does.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

import numpy as np
import soxr

log = logging.getLogger(__name__)

#: Sample rate the model runs at (Hz) and its chunk / context lengths (samples), from ``silero_vad.utils_vad``.
VAD_RATE_HZ = 16_000
CHUNK = 512
CONTEXT = 64
#: Package defaults of ``get_speech_timestamps``: speech probability threshold, shortest speech (s).
THRESHOLD = 0.5
MIN_SPEECH_S = 0.25


def silero_model_path() -> Path | None:
    """Path of ``silero_vad/data/silero_vad.onnx`` in the installed ``silero-vad`` package (without
    importing it, since it imports torch), or None when it is not installed."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "data" / "silero_vad.onnx"
        if path.is_file():
            return path
    return None


class SpeechDetector:
    """Silero VAD over batches of analysis windows (module docstring).

    Args:
        model_path: the ONNX file; None = the installed package's.
        threshold: chunk speech probability threshold in (0, 1).
        min_speech_s: seconds of speech chunks that make a window speech.
        threads: ONNX Runtime intra-op threads.

    Raises:
        FileNotFoundError: no model file (``silero-vad`` not installed and no path given).
        ValueError: a threshold outside (0, 1) or a negative ``min_speech_s``.
    """

    def __init__(self, model_path: str | Path | None = None, threshold: float = THRESHOLD,
                 min_speech_s: float = MIN_SPEECH_S, threads: int = 1) -> None:
        import onnxruntime as ort

        path = Path(model_path) if model_path else silero_model_path()
        if path is None or not path.is_file():
            raise FileNotFoundError(f"Silero VAD model not found ({path or 'silero-vad is not installed'}); "
                                    "pip install --no-deps silero-vad==6.2.3")
        if not 0 < threshold < 1 or min_speech_s < 0:
            raise ValueError("threshold must be in (0, 1) and min_speech_s >= 0")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.path, self.threshold, self.min_speech_s = path, float(threshold), float(min_speech_s)

    @classmethod
    def available(cls, **kwargs) -> SpeechDetector | None:
        """A detector, or None with a warning when Silero VAD cannot be loaded (speech is then not detected)."""
        try:
            return cls(**kwargs)
        except (FileNotFoundError, ImportError, OSError) as exc:
            log.warning("human speech detection off: %s", exc)
            return None

    def chunk_probabilities(self, windows: np.ndarray, sample_rate_hz: int) -> np.ndarray:
        """Speech probability per 32 ms chunk.

        Args:
            windows: ``(N, samples)`` float mono windows at ``sample_rate_hz`` (any rate; resampled to 16 kHz
                with libsoxr).
            sample_rate_hz: their rate in Hz.

        Returns:
            ``(N, chunks)`` float32 probabilities in [0, 1] (``chunks = samples_16k // 512``; 0 columns for
            windows shorter than one chunk).

        Raises:
            ValueError: ``windows`` is not 2-D or the rate is not positive.
        """
        w = np.asarray(windows, dtype=np.float32)
        if w.ndim != 2 or sample_rate_hz <= 0:
            raise ValueError(f"windows must be (N, samples) at a positive rate, got {w.shape} at {sample_rate_hz}")
        if sample_rate_hz != VAD_RATE_HZ and w.shape[1]:
            w = np.stack([soxr.resample(row, sample_rate_hz, VAD_RATE_HZ) for row in w]).astype(np.float32)
        n, chunks = w.shape[0], w.shape[1] // CHUNK
        out = np.zeros((n, chunks), np.float32)
        if n == 0 or chunks == 0:
            return out
        state = np.zeros((2, n, 128), np.float32)
        context = np.zeros((n, CONTEXT), np.float32)
        sr = np.array(VAD_RATE_HZ, dtype=np.int64)
        for c in range(chunks):
            x = np.concatenate([context, w[:, c * CHUNK:(c + 1) * CHUNK]], axis=1)
            prob, state = self.session.run(None, {"input": x, "state": state, "sr": sr})
            out[:, c] = prob[:, 0]
            context = x[:, -CONTEXT:]
        return out

    def scores(self, windows: np.ndarray, sample_rate_hz: int) -> np.ndarray:
        """``(N,)`` speech score per window: the mean probability of its speech chunks when it holds at least
        ``min_speech_s`` of them (module docstring), else 0.

        Raises:
            ValueError: as :meth:`chunk_probabilities`.
        """
        probs = self.chunk_probabilities(windows, sample_rate_hz)
        needed = max(1, int(np.ceil(self.min_speech_s * VAD_RATE_HZ / CHUNK)))
        hit = probs >= self.threshold
        count = hit.sum(1)
        mean = np.where(hit, probs, 0.0).sum(1) / np.maximum(count, 1)
        return np.where(count >= needed, mean, 0.0).astype(np.float32)


@functools.cache
def default_detector() -> SpeechDetector | None:
    """The process-wide detector from the installed ``silero-vad`` (None, with one warning, when missing)."""
    return SpeechDetector.available()
