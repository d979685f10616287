"""Figures for the pages, drawn on the server with matplotlib (Agg backend; imported on first use, so
importing this module stays free): spectrogram PNGs of detections, SVG charts of statistics.

Colours: matplotlib's ``viridis`` (perceptually uniform, readable in greyscale and by colour-blind readers;
van der Walt & Smith 2015) for spectrograms.
"""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def spectrogram_png(db: np.ndarray, sample_rate_hz: int, start_s: float, hop_length: int,
                    window: tuple[float, float] | None = None, width_px: int = 900, height_px: int = 320) -> bytes:
    """A PNG of a spectrogram with a time axis (s from the recording's start) and a frequency axis (kHz), the
    detected window outlined.

    Args:
        db: ``(frequency bins, frames)`` in dB (:func:`models.media.derivatives.spectrogram_db`).
        sample_rate_hz: sample rate of the analysed audio (Hz); the top row is its Nyquist frequency.
        start_s: time of the first frame (s from the start of the recording).
        hop_length: samples between frames.
        window: ``(start_s, end_s)`` of the detection, outlined in white; None draws no outline.
        width_px, height_px: image size in pixels (at 100 dpi).

    Returns:
        The PNG bytes.
    """
    plt = _pyplot()
    frames = db.shape[1]
    end_s = start_s + frames * hop_length / sample_rate_hz
    fig, ax = plt.subplots(figsize=(width_px / 100, height_px / 100), dpi=100)
    try:
        ax.imshow(db, origin="lower", aspect="auto", cmap="viridis", vmin=-80, vmax=0,
                  extent=(start_s, end_s, 0, sample_rate_hz / 2000))
        if window is not None:
            lo, hi = window
            ax.add_patch(plt.Rectangle((lo, 0), hi - lo, sample_rate_hz / 2000, fill=False, edgecolor="white",
                                       linewidth=2, linestyle="--"))
        ax.set_xlabel("s")
        ax.set_ylabel("kHz")
        fig.tight_layout(pad=0.4)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
