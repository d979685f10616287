"""Figures for the pages, drawn on the server with matplotlib (Agg backend; imported on first use, so
importing this module stays free): spectrogram PNGs of detections, SVG charts of statistics.

Colours: matplotlib's ``viridis`` (perceptually uniform, readable in greyscale and by colour-blind readers;
van der Walt & Smith 2015) for spectrograms.
"""

from __future__ import annotations

import functools
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


# --- SVG charts of the insight pages ---------------------------------------------------------------------------

#: Okabe & Ito (2008) colour-blind-safe palette, in the order series use it.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: Fonts matplotlib measures text with; the SVG keeps text as text (``svg.fonttype: none``) so the browser
#: draws it with the page's fonts (CJK included) whatever is installed on the server.
FONTS = ["DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "sans-serif"]
_RC = {"svg.fonttype": "none", "svg.hashsalt": "biodiv-obs", "font.family": FONTS,
       "font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 10}


#: Where Debian and others install CJK fonts (fonts-wqy-microhei, fonts-noto-cjk).
CJK_FONT_GLOBS = ("/usr/share/fonts/**/wqy-*.tt[cf]", "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
                  "/usr/share/fonts/**/NotoSansSC*.[ot]tf")


@functools.cache
def _register_cjk_fonts() -> int:
    """Add installed CJK fonts that matplotlib's font cache does not know yet (a cache built before they were
    installed), so text is measured with real glyph widths; returns how many files were added."""
    import glob

    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    added = 0
    for pattern in CJK_FONT_GLOBS:
        for path in glob.glob(pattern, recursive=True):
            if path not in known:
                font_manager.fontManager.addfont(path)
                added += 1
    return added


def _figure(width_in: float, height_in: float):
    import logging
    import warnings

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # a font of FONTS that is not installed
    warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
    plt = _pyplot()
    _register_cjk_fonts()
    plt.rcParams.update(_RC)
    return plt, *plt.subplots(figsize=(width_in, height_in), dpi=100)


def _svg_text(plt, fig, prefix: str, title: str) -> str:
    """The figure as an inline ``<svg>`` element: no XML prolog, ids prefixed with ``prefix`` (several charts
    share one page), ``role="img"`` and an accessible name ``title``."""
    import html
    import re

    buf = io.StringIO()
    try:
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    text = re.sub(r'\bid="', f'id="{prefix}-', text)
    text = re.sub(r'url\(#', f'url(#{prefix}-', text)
    text = re.sub(r'xlink:href="#', f'xlink:href="#{prefix}-', text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{html.escape(title)}" ', 1)


def bar_svg(labels: list[str], series: list[tuple[str, list[float]]], *, prefix: str, title: str, ylabel: str,
            xlabel: str = "", stacked: bool = True, urls: list[str | None] | None = None, ymax: float | None = None,
            width_in: float = 8.0, height_in: float = 2.8) -> str:
    """Vertical bars, one group per label; several series are stacked (``stacked``) or side by side.

    Each bar is an SVG group ``id="{prefix}-bar-{series}-{i}"`` (tests count them); ``urls[i]`` makes the
    bars of label ``i`` links (e.g. the filtered detections list). Labels thin out when crowded.
    """
    plt, fig, ax = _figure(width_in, height_in)
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    width = 0.8 if stacked or len(series) == 1 else 0.8 / len(series)
    for k, (name, values) in enumerate(series):
        offset = 0 if stacked or len(series) == 1 else (k - (len(series) - 1) / 2) * width
        bars = ax.bar(x + offset, values, width, bottom=bottom if stacked else None, label=name,
                      color=PALETTE[k % len(PALETTE)])
        for i, bar in enumerate(bars):
            bar.set_gid(f"bar-{k}-{i}")
            if urls and urls[i]:
                bar.set_url(urls[i])
        if stacked:
            bottom = bottom + np.asarray(values, dtype=float)
    ax.set_xlim(-0.6, max(len(labels), 8) - 0.4)  # a few bars keep a bar's width, not the whole axis
    step = max(1, int(np.ceil(len(labels) / 24)))
    ax.set_xticks(x[::step], [labels[i] for i in range(0, len(labels), step)],
                  rotation=45 if max((len(s) for s in labels), default=0) > 3 else 0,
                  ha="right" if max((len(s) for s in labels), default=0) > 3 else "center")
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ymax is not None:
        ax.set_ylim(0, ymax)
    ax.yaxis.get_major_locator().set_params(integer=ymax is None)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg_text(plt, fig, prefix, title)


def hbar_svg(labels: list[str], values: list[float], *, prefix: str, title: str, xlabel: str,
             xmax: float | None = None, width_in: float = 6.0) -> str:
    """Horizontal bars, one per label, top to bottom (``id="{prefix}-bar-{i}"``)."""
    plt, fig, ax = _figure(width_in, max(1.2, 0.28 * len(labels) + 0.6))
    y = np.arange(len(labels))
    for i, bar in enumerate(ax.barh(y, values, 0.7, color=PALETTE[0])):
        bar.set_gid(f"bar-{i}")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if xmax is not None:
        ax.set_xlim(0, xmax)
    return _svg_text(plt, fig, prefix, title)


def line_svg(x: list, series: list[tuple[str, list[float | None]]], *, prefix: str, title: str, ylabel: str,
             xlabel: str = "", hlines: list[tuple[str, float]] = (), markers: bool = True,
             width_in: float = 8.0, height_in: float = 2.8) -> str:
    """Lines over ``x`` (numbers or datetimes); None values leave gaps; ``hlines`` are dashed reference levels
    (e.g. the Chao2 estimate). Each line is ``id="{prefix}-line-{k}"``."""
    plt, fig, ax = _figure(width_in, height_in)
    for k, (name, values) in enumerate(series):
        ys = [np.nan if v is None else v for v in values]
        (line,) = ax.plot(x, ys, marker="o" if markers and len(x) <= 60 else None, markersize=3, label=name,
                          color=PALETTE[k % len(PALETTE)], linewidth=1.5)
        line.set_gid(f"line-{k}")
    for k, (name, level) in enumerate(hlines):
        ax.axhline(level, linestyle="--", linewidth=1, color=PALETTE[(len(series) + k) % len(PALETTE)], label=name)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    if x and not isinstance(x[0], (int, float, np.number)):
        fig.autofmt_xdate()
    elif x and all(isinstance(v, int) for v in x):
        ax.xaxis.get_major_locator().set_params(integer=True)  # e.g. sampling days
        ax.set_xlim(min(x) - 0.5, max(max(x), min(x) + 3) + 0.5)
    if len(series) + len(hlines) > 1:
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg_text(plt, fig, prefix, title)


def timeline_svg(rows: list[tuple[str, object, object]], *, prefix: str, title: str, xlabel: str) -> str:
    """Effort: one horizontal bar per ``(label, start, end)`` (datetimes), ``id="{prefix}-bar-{i}"``; a bar
    shorter than a day is drawn one day wide so it stays visible."""
    from datetime import timedelta

    import matplotlib.dates as mdates

    plt, fig, ax = _figure(8.0, max(1.4, 0.3 * len(rows) + 0.8))
    for i, (_, start, end) in enumerate(rows):
        length = max(end - start, timedelta(days=1))
        (bar,) = ax.barh([i], [mdates.date2num(start + length) - mdates.date2num(start)], 0.6,
                         left=mdates.date2num(start), color=PALETTE[i % len(PALETTE)])
        bar.set_gid(f"bar-{i}")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.set_xlabel(xlabel)
    fig.autofmt_xdate()
    return _svg_text(plt, fig, prefix, title)


def _nice(length_km: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``length_km``."""
    import math

    power = 10 ** math.floor(math.log10(length_km))
    return max(m * power for m in (1, 2, 5) if m * power <= length_km)


def map_svg(points: list[tuple[str, float, float, bool]], *, prefix: str, title: str, generalised_label: str) -> str:
    """An offline map: ``(label, longitude, latitude, generalised)`` points in an equirectangular projection
    centred on their mean latitude (x = longitude * cos(latitude0), so distances are true near the centre),
    labelled, with a scale bar in km and a degree grid. No basemap. Points are ``id="{prefix}-point-{i}"``;
    generalised positions are hollow."""
    import math

    plt, fig, ax = _figure(6.0, 4.5)
    lat0 = sum(p[2] for p in points) / len(points)
    k = math.cos(math.radians(lat0))
    xs, ys = [p[1] * k for p in points], [p[2] for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 0.01)
    pad = span * 0.15
    for i, (name, _, _, coarse) in enumerate(points):
        (dot,) = ax.plot([xs[i]], [ys[i]], "o", markersize=7, color=PALETTE[0],
                         markerfacecolor="none" if coarse else PALETTE[0])
        dot.set_gid(f"point-{i}")
        ax.annotate(name, (xs[i], ys[i]), xytext=(5, 4), textcoords="offset points", fontsize=8)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    half = span / 2 + pad
    ax.set_xlim(cx - half, cx + half)
    ax.set_ylim(cy - half, cy + half)
    ax.set_aspect("equal")
    ax.grid(True, linewidth=0.4, color="#ccd5c8")
    from matplotlib.ticker import MaxNLocator

    digits = 2 if span > 0.05 else 3
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v / k:.{digits}f}°E" if v >= 0 else f"{-v / k:.{digits}f}°W")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.{digits}f}°N" if v >= 0 else f"{-v:.{digits}f}°S")
    ax.tick_params(labelsize=7)
    km = _nice(2 * half * 111.195 / 4)  # a quarter of the width at most
    x0, y0 = cx - half + pad * 0.3, cy - half + pad * 0.3
    ax.plot([x0, x0 + km / 111.195], [y0, y0], color="#1d2a1f", linewidth=3, solid_capstyle="butt", gid="scalebar")
    ax.annotate(f"{km:g} km", (x0, y0), xytext=(0, 5), textcoords="offset points", fontsize=8)
    if any(p[3] for p in points):
        ax.plot([], [], "o", markerfacecolor="none", color=PALETTE[0], label=generalised_label)
        ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0))
    return _svg_text(plt, fig, prefix, title)
