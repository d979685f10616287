"""Audio detections in the files bioacousticians open: Raven selection tables and Audacity label tracks.

- **Raven selection table** (Raven Pro / Raven Lite, the ``--rtype table`` output of BirdNET-Analyzer):
  tab-separated text, one row per selection, columns ``Selection``, ``View``, ``Channel``,
  ``Begin Time (s)``, ``End Time (s)``, ``Low Freq (Hz)``, ``High Freq (Hz)``, then BirdNET-Analyzer's
  annotation columns ``Common Name``, ``Species Code``, ``Confidence``, ``Begin Path``, ``File Offset (s)``,
  and ours: ``Scientific Name``. One table per recording, one selection per detected window (as
  BirdNET-Analyzer writes them). We have no eBird codes: ``Species Code`` holds the scientific name.
  Channels are 1-based (Raven); the mix-down is channel 1.
- **Audacity label track**: ``start<TAB>end<TAB>label`` per line, times in s (Audacity's
  *Import > Labels*), the label ``Common name, confidence`` as BirdNET-Analyzer writes it.

Reading goes the other way: :func:`read_raven_table` loads any Raven selection table (ours, BirdNET's or
one annotated by hand in Raven, which has an ``Annotation`` or ``Species`` column), and
:func:`selections_to_windows` cuts labelled time-frequency boxes into labelled analysis windows for training.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from models.inference.audio_events import AudioWindow
from models.media.audio import window_bounds
from models.media.errors import BiodivError, CatalogueError
from models.taxonomy.catalogue import Catalogue

#: Columns of a Raven selection table as BirdNET-Analyzer 2.x writes it, plus ``Scientific Name``.
RAVEN_FIELDS = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)",
                "High Freq (Hz)", "Common Name", "Species Code", "Confidence", "Begin Path", "File Offset (s)",
                "Scientific Name"]
#: The columns every Raven selection table has (Raven's own measurement set).
RAVEN_REQUIRED = ["Selection", "Begin Time (s)", "End Time (s)"]
#: Columns that may hold the label of a hand-annotated table, in the order they are tried.
LABEL_COLUMNS = ("Scientific Name", "Species", "Annotation", "Species Code", "Common Name", "Label")
#: Suffixes of the written files (BirdNET-Analyzer writes ``<name>.BirdNET.selection.table.txt``).
RAVEN_SUFFIX = ".biodiv.selection.table.txt"
AUDACITY_SUFFIX = ".biodiv.labels.txt"


@dataclass(frozen=True)
class Selection:
    """One Raven selection: a time-frequency box (times in s from the file start, frequencies in Hz).

    ``channel`` is 1-based; ``label`` is the annotation as written (resolve it with the catalogue);
    ``confidence`` is None for hand annotations.
    """

    selection: int
    channel: int
    begin_s: float
    end_s: float
    low_hz: float | None
    high_hz: float | None
    label: str
    confidence: float | None = None
    begin_path: str = ""


def selections_from_windows(windows: Iterable[AudioWindow], catalogue: Catalogue, low_hz: float = 0.0,
                            high_hz: float | None = None) -> list[Selection]:
    """The detected windows of one recording as Raven selections (numbered 1.. in time order).

    Args:
        windows: the recording's windows (``predict_audio``); only ``detected`` ones become selections.
        catalogue: common names (``vernacularNameEN``; the scientific name when it has none).
        low_hz, high_hz: the band the model looks at (the bundle's ``fmin_hz``/``fmax_hz``).
        begin_path: not used for the selection; kept for symmetry with :func:`write_raven_table`.
    """
    det = sorted((w for w in windows if w.detected), key=lambda w: (w.prediction.start_s, w.channel or 0))
    return [Selection(i, (w.channel or 0) + 1, w.prediction.start_s, w.prediction.end_s, low_hz, high_hz,
                      w.prediction.scientificName, w.prediction.classificationProbability)
            for i, w in enumerate(det, start=1)]


def _common(catalogue: Catalogue, name: str) -> str:
    sp = catalogue.get(name)
    return (sp.vernacularNameEN if sp is not None and sp.vernacularNameEN else name) or name


def write_raven_table(path: str | Path, selections: Iterable[Selection], catalogue: Catalogue,
                      begin_path: str = "") -> Path:
    """Write a Raven selection table (``RAVEN_FIELDS``, tab-separated, UTF-8); parent folders are created.
    The file is written to a temporary name and renamed, so a failure never leaves half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(RAVEN_FIELDS)
        for s in selections:
            w.writerow([s.selection, "Spectrogram 1", s.channel, f"{s.begin_s:.3f}", f"{s.end_s:.3f}",
                        "" if s.low_hz is None else f"{s.low_hz:.1f}", "" if s.high_hz is None else f"{s.high_hz:.1f}",
                        _common(catalogue, s.label), s.label,
                        "" if s.confidence is None else f"{s.confidence:.4f}", begin_path, f"{s.begin_s:.3f}",
                        s.label])
    tmp.replace(path)
    return path


def write_audacity_labels(path: str | Path, selections: Iterable[Selection], catalogue: Catalogue) -> Path:
    """Write an Audacity label track (``start<TAB>end<TAB>Common name, confidence``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        for s in selections:
            conf = "" if s.confidence is None else f", {s.confidence:.4f}"
            fh.write(f"{s.begin_s:.3f}\t{s.end_s:.3f}\t{_common(catalogue, s.label)}{conf}\n")
    tmp.replace(path)
    return path


def _float(row: dict, key: str, where: str, required: bool = True) -> float | None:
    raw = (row.get(key) or "").strip()
    if not raw:
        if required:
            raise BiodivError(f"{where}: empty {key!r}")
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise BiodivError(f"{where}: {key!r} is not a number: {raw!r}") from exc


def read_raven_table(path: str | Path) -> list[Selection]:
    """Read a Raven selection table (tab-separated; ours, BirdNET-Analyzer's or annotated in Raven).

    The label is the first non-empty column of ``LABEL_COLUMNS``. A table with both a ``Waveform`` and a
    ``Spectrogram`` row per selection (Raven's default when both views are open) gives one selection each.

    Raises:
        BiodivError: not a selection table (a required column is missing), a time that is not a number,
            or a selection whose end is not after its begin; the message names the file and line.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = [c for c in RAVEN_REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise BiodivError(f"{path}: not a Raven selection table (no column {', '.join(missing)})")
        out: dict[int, Selection] = {}
        for line, row in enumerate(reader, start=2):
            where = f"{path.name} line {line}"
            try:
                sel = int(row["Selection"])
            except ValueError as exc:
                raise BiodivError(f"{where}: Selection is not a number: {row['Selection']!r}") from exc
            if sel in out:  # the Waveform row of a selection also shown in a spectrogram view
                continue
            begin, end = _float(row, "Begin Time (s)", where), _float(row, "End Time (s)", where)
            if end <= begin:
                raise BiodivError(f"{where}: End Time (s) {end} is not after Begin Time (s) {begin}")
            label = next((row[c].strip() for c in LABEL_COLUMNS if (row.get(c) or "").strip()), "")
            low, high = _float(row, "Low Freq (Hz)", where, False), _float(row, "High Freq (Hz)", where, False)
            out[sel] = Selection(sel, int(_float(row, "Channel", where, False) or 1), begin, end, low, high,
                                 label, _float(row, "Confidence", where, False), (row.get("Begin Path") or "").strip())
    return sorted(out.values(), key=lambda s: s.selection)


def resolve_label(catalogue: Catalogue, label: str, where: str = "") -> str:
    """An annotation's label as a training label: ``Catalogue.resolve`` (scientific names, ``blank``), else a
    case-insensitive match of ``vernacularNameEN`` or ``vernacularNameZH`` (how annotators often write them).

    Raises:
        CatalogueError: neither (the message names the label and ``where``).
    """
    try:
        return catalogue.resolve(label, where)
    except CatalogueError:
        key = label.strip().casefold()
        for sp in catalogue:
            if key and key in (sp.vernacularNameEN.casefold(), sp.vernacularNameZH.casefold()):
                return sp.scientificName
        raise


@dataclass(frozen=True)
class LabelledWindow:
    """An analysis window cut from a recording with the label of the selections covering it (s)."""

    start_s: float
    end_s: float
    label: str
    overlap_s: float


def selections_to_windows(selections: Iterable[Selection], duration_s: float, window_s: float, hop_s: float,
                          catalogue: Catalogue, min_overlap_s: float | None = None, min_tail_s: float = 1.0,
                          where: str = "") -> list[LabelledWindow]:
    """Cut annotated boxes into labelled training windows, as the acoustic training set uses them.

    Windows follow ``models.media.audio.window_bounds`` (the same grid as inference). A window takes the
    label of the selection that overlaps it most, when that overlap is at least ``min_overlap_s``
    (default: half a window, or the whole selection when it is shorter); windows that no selection
    reaches are not returned (an annotated table says where calls are, not that the rest is silent).
    Labels resolve with :func:`resolve_label` (scientific or English/Chinese common name; one that is not in
    the catalogue raises ``CatalogueError`` naming ``where``). Frequency bounds are not used here.
    """
    sels = [dataclasses.replace(s, label=resolve_label(catalogue, s.label, where or f"selection {s.selection}"))
            for s in selections]
    out = []
    for start, end in window_bounds(duration_s, window_s, hop_s, min_tail_s):
        best, best_ov = None, 0.0
        for s in sels:
            ov = min(end, s.end_s) - max(start, s.begin_s)
            if ov > best_ov:
                best, best_ov = s, ov
        if best is None:
            continue
        need = min_overlap_s if min_overlap_s is not None else min(window_s / 2, best.end_s - best.begin_s)
        if best_ov + 1e-9 >= need:
            out.append(LabelledWindow(round(start, 3), round(end, 3), best.label, round(best_ov, 3)))
    return out


def write_recording_tables(folder: str | Path, recordings: Iterable[dict], windows: Iterable[AudioWindow],
                           catalogue: Catalogue, low_hz: float = 0.0, high_hz: float | None = None,
                           root: str | Path | None = None, skip: Iterable[str] = ()) -> int:
    """One Raven selection table and one Audacity label track per recording, under ``folder`` at the
    recording's ``filePath`` plus ``RAVEN_SUFFIX`` / ``AUDACITY_SUFFIX`` (a recording without detections
    gets a table with the header only, as BirdNET-Analyzer writes it).

    Args:
        recordings: media rows (``filePath``) of the analysed recordings.
        windows: their windows (``predict_audio``); only detected ones become selections.
        low_hz, high_hz: the model's band (bundle ``fmin_hz``/``fmax_hz``), the selections' frequency box.
        root: folder the ``filePath`` values are relative to; ``Begin Path`` is ``root/filePath`` when given.
        skip: ``filePath`` values to leave out (recordings that could not be analysed).

    Returns:
        the number of recordings written.
    """
    folder = Path(folder)
    by_file: dict[str, list[AudioWindow]] = {}
    for w in windows:
        by_file.setdefault(w.prediction.filePath, []).append(w)
    skipped = set(skip)
    n = 0
    for m in recordings:
        rel = m["filePath"]
        if rel in skipped:
            continue
        sels = selections_from_windows(by_file.get(rel, []), catalogue, low_hz, high_hz)
        begin = str(Path(root) / rel) if root is not None else rel
        write_raven_table(folder / (rel + RAVEN_SUFFIX), sels, catalogue, begin)
        write_audacity_labels(folder / (rel + AUDACITY_SUFFIX), sels, catalogue)
        n += 1
    return n


#: Name endings of selection tables, longest first: ours, BirdNET-Analyzer's, Raven's own export.
TABLE_SUFFIXES = (RAVEN_SUFFIX, ".BirdNET.selection.table.txt", ".selection.table.txt", ".Table.1.selections.txt",
                  ".selections.txt", ".txt")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".WAV", ".FLAC", ".MP3", ".OGG")


def recording_of(table: str | Path, selections: list[Selection], audio_root: str | Path | None = None) -> Path | None:
    """The recording a selection table annotates: its ``Begin Path`` when that file exists, else the table's name
    without its table suffix (``x.wav.biodiv.selection.table.txt`` -> ``x.wav``; ``x.Table.1.selections.txt``
    -> ``x.wav``/``.flac``/...) in ``audio_root`` or beside the table; None when none is found."""
    table = Path(table)
    for s in selections:
        if s.begin_path and Path(s.begin_path).is_file():
            return Path(s.begin_path)
        if s.begin_path and audio_root is not None and (Path(audio_root) / Path(s.begin_path).name).is_file():
            return Path(audio_root) / Path(s.begin_path).name
    name = table.name
    stem = next((name[: -len(suf)] for suf in TABLE_SUFFIXES if name.endswith(suf)), name)
    for folder in ([Path(audio_root)] if audio_root is not None else []) + [table.parent]:
        for cand in [stem] + [stem + ext for ext in AUDIO_SUFFIXES]:
            if Path(cand).suffix in AUDIO_SUFFIXES and (folder / cand).is_file():
                return folder / cand
    return None


def write_training_clips(recording: str | Path, selections: Iterable[Selection], catalogue: Catalogue,
                         out_dir: str | Path, window_s: float, hop_s: float, prefix: str = "",
                         min_tail_s: float = 1.0) -> list[dict]:
    """Cut an annotated recording into labelled clips (:func:`selections_to_windows`), one WAV per window at the
    recording's own rate (mixed to mono), and return their manifest rows (``file`` relative to ``out_dir``,
    ``scientific_name``: the format ``models.ingest.ingest_labelled`` reads; ``blank`` is an empty name).

    Raises:
        MediaError: the recording cannot be decoded.
        CatalogueError: a label that is not in the catalogue.
    """
    import soundfile as sf

    from models.media.audio import load_audio

    recording, out_dir = Path(recording), Path(out_dir)
    audio = load_audio(recording)
    windows = selections_to_windows(selections, audio.duration_s, window_s, hop_s, catalogue,
                                    min_tail_s=min_tail_s, where=recording.name)
    rows = []
    for w in windows:
        rel = f"{prefix}{recording.stem}_{w.start_s:09.3f}-{w.end_s:09.3f}s.wav"
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        a, b = round(w.start_s * audio.sample_rate_hz), round(w.end_s * audio.sample_rate_hz)
        sf.write(str(path), audio.samples[a:b], audio.sample_rate_hz, subtype="PCM_16")
        rows.append({"file": rel, "scientific_name": "" if w.label == "blank" else w.label,
                     "source_repo": f"raven:{recording.name}"})
    return rows
