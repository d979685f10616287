"""Acoustic (soundscape) indices per fixed segment of a recording, with scikit-maad.

Long-term observation uses indices of the whole soundscape next to species detections. Every
recording is cut into ``segment_s`` segments (a last, shorter one when at least ``min_segment_s``
long; a recording shorter than a segment is one segment) from the same block stream that feeds
the classifier, so recordings of any length take bounded memory. Per segment, from the mono
signal at the model's sample rate and a Hann-windowed spectrogram (``maad.sound.spectrogram``,
512 samples, no overlap):

- ``ACI``: Acoustic Complexity Index, sum over frequency bins (Pieretti, Farina & Morri 2011,
  Ecological Indicators 11: 868-873; ``maad.features.acoustic_complexity_index`` on the amplitude
  spectrogram);
- ``NDSI``: Normalized Difference Soundscape Index, (biophony - anthropophony) / (sum), biophony
  2-11 kHz, anthropophony 1-2 kHz as in soundecology (Kasten et al. 2012, Ecological Informatics
  12: 50-67; ``maad.features.soundscape_index`` on the power spectrogram);
- ``ADI`` / ``AEI``: Acoustic Diversity (Shannon) and Evenness (Gini) of the share of each 1 kHz
  band above -50 dBFS (Villanueva-Rivera et al. 2011, Landscape Ecology 26: 1233-1246;
  ``maad.features.acoustic_diversity_index`` / ``acoustic_eveness_index``);
- ``BI``: Bioacoustic Index, area of the mean dB spectrum above its minimum in 2-8 kHz (Boelman
  et al. 2007, Ecological Applications 17: 2137-2144; ``maad.features.bioacoustics_index``);
- ``H`` = ``Ht`` x ``Hf``: acoustic entropy, product of the temporal entropy of the envelope and
  the spectral entropy of the mean spectrum (Sueur et al. 2008, PLoS ONE 3: e4065;
  ``maad.features.temporal_entropy`` / ``frequency_entropy``).

An index that is undefined for a segment (digital silence divides by zero) is None, never NaN or inf.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from models.media.audio_stream import WindowCutter

log = logging.getLogger(__name__)

INDEX_NAMES = ("ACI", "NDSI", "ADI", "AEI", "BI", "H", "Ht", "Hf")
#: Columns of the predict_audio stage's ``indices.csv`` (and the ``acoustic_indices`` table).
INDEX_FIELDS = ["indexID", "mediaID", "deploymentID", "stationID", "start_s", "end_s", "segmentStart",
                "sample_rate_hz", *INDEX_NAMES]

NPERSEG = 512
ANTHROPHONY_HZ = (1000.0, 2000.0)
BIOPHONY_HZ = (2000.0, 11000.0)
BI_BAND_HZ = (2000.0, 8000.0)
ADI_STEP_HZ = 1000.0
ADI_DB_THRESHOLD = -50.0


def _finite(x: float) -> float | None:
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None


def compute_indices(samples: np.ndarray, sample_rate_hz: int) -> dict[str, float | None]:
    """The indices of ``INDEX_NAMES`` for one mono segment.

    Args:
        samples: ``(n,)`` float in ``[-1, 1]``; at least ``NPERSEG`` samples give a spectrogram
            (shorter segments are zero-padded to one frame).
        sample_rate_hz: its rate; bands above Nyquist are clipped to it.

    Returns:
        ``{name: value or None}`` (None where the index is undefined, e.g. digital silence).
    """
    import maad.features as mf  # imported lazily: scikit-maad pulls in matplotlib/skimage
    import maad.sound as ms

    x = np.asarray(samples, dtype=np.float64)
    if x.shape[0] < NPERSEG:
        x = np.pad(x, (0, NPERSEG - x.shape[0]))
    nyq = sample_rate_hz / 2
    out: dict[str, float | None] = dict.fromkeys(INDEX_NAMES)
    if not np.any(x):
        return out  # digital silence: every index divides by zero
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        power, _tn, fn, _ext = ms.spectrogram(x, sample_rate_hz, window="hann", nperseg=NPERSEG, noverlap=0,
                                              mode="psd")
        amp = np.sqrt(power)
        out["ACI"] = _finite(mf.acoustic_complexity_index(amp)[2])
        out["NDSI"] = _finite(mf.soundscape_index(power, fn, flim_bioPh=(BIOPHONY_HZ[0], min(BIOPHONY_HZ[1], nyq)),
                                                  flim_antroPh=ANTHROPHONY_HZ)[0])
        out["ADI"] = _finite(mf.acoustic_diversity_index(amp, fn, fmax=nyq, bin_step=ADI_STEP_HZ,
                                                         dB_threshold=ADI_DB_THRESHOLD))
        out["AEI"] = _finite(mf.acoustic_eveness_index(amp, fn, fmax=nyq, bin_step=ADI_STEP_HZ,
                                                       dB_threshold=ADI_DB_THRESHOLD))
        out["BI"] = _finite(mf.bioacoustics_index(amp, fn, flim=(BI_BAND_HZ[0], min(BI_BAND_HZ[1], nyq))))
        ht = _finite(mf.temporal_entropy(x))
        hf = _finite(mf.frequency_entropy(power.mean(axis=1))[0])
        out["Ht"], out["Hf"] = ht, hf
        out["H"] = _finite(ht * hf) if ht is not None and hf is not None else None
    return out


@dataclass(frozen=True)
class SegmentIndices:
    """Indices of one segment: offsets ``start_s``/``end_s`` (s) and ``values`` by index name."""

    start_s: float
    end_s: float
    sample_rate_hz: int
    values: dict[str, float | None]

    def row(self, media: dict) -> dict:
        """Row of ``indices.csv`` for the recording ``media`` (a media index row): deterministic
        ``indexID``, absolute ``segmentStart`` when the recording's ``timestamp`` is known."""
        mid = media["mediaID"]
        stamp = media.get("timestamp", "")
        start = (datetime.fromisoformat(stamp) + timedelta(seconds=self.start_s)).isoformat() if stamp else ""
        return {"indexID": hashlib.sha256(f"{mid}|{self.start_s:.3f}|{self.end_s:.3f}".encode()).hexdigest()[:32],
                "mediaID": mid, "deploymentID": media.get("deploymentID", ""), "stationID": media.get("stationID", ""),
                "start_s": self.start_s, "end_s": self.end_s, "segmentStart": start,
                "sample_rate_hz": self.sample_rate_hz, **self.values}


class SegmentIndexer:
    """Consumes a recording's resampled ``(C, n)`` blocks (channels averaged) and computes the
    indices of each complete segment as it arrives; :meth:`finish` adds the last segment.

    Args:
        sample_rate_hz: rate of the blocks.
        segment_s: segment length (s).
        min_segment_s: a shorter last segment is kept when at least this long.
    """

    def __init__(self, sample_rate_hz: int, segment_s: float = 60.0, min_segment_s: float = 10.0) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._cutter = WindowCutter(sample_rate_hz, segment_s, segment_s, min_segment_s)
        self._done: list[SegmentIndices] = []

    def _add(self, bounds: list[tuple[float, float]], segments: np.ndarray) -> None:
        for (start, end), seg in zip(bounds, segments[0], strict=True):
            n = round((end - start) * self.sample_rate_hz)
            self._done.append(SegmentIndices(start, end, self.sample_rate_hz,
                                             compute_indices(seg[:n], self.sample_rate_hz)))

    def push(self, block: np.ndarray) -> None:
        """Add a ``(C, n)`` block."""
        self._add(*self._cutter.push(block.mean(axis=0, keepdims=True, dtype=np.float32)))

    def finish(self) -> list[SegmentIndices]:
        """End of the recording: every segment's indices, in time order."""
        self._add(*self._cutter.finish())
        return list(self._done)
