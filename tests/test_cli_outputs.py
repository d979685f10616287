"""Raven selection tables and Audacity labels (``models.inference.audio_outputs``); progress (``pipeline.common``)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from models.inference.audio_events import AudioWindow
from models.inference.audio_outputs import (
    RAVEN_FIELDS,
    RAVEN_SUFFIX,
    Selection,
    read_raven_table,
    selections_from_windows,
    selections_to_windows,
    write_audacity_labels,
    write_raven_table,
    write_recording_tables,
)
from models.inference.detect import Prediction
from models.media.errors import BiodivError, CatalogueError
from models.taxonomy.catalogue import Catalogue
from pipeline import common


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def window(start: float, name: str, p: float, detected: bool, channel: int | None = None) -> AudioWindow:
    pred = Prediction("m1", "d", "s", "rec/a.wav", "audio", start, start + 3.0, "", name,
                      "animal" if name else "blank", p, False, "[]", "v1")
    return AudioWindow(pred, channel, 0.5, detected)


def test_raven_table_round_trip(tmp_path, catalogue):
    """A table written by the product loads back with the same selections (BirdNET-Analyzer's columns)."""
    windows = [window(6.0, "Lithobates catesbeianus", 0.91, True), window(0.0, "Sus scrofa", 0.7, True, 1),
               window(3.0, "", 0.99, False), window(9.0, "Sus scrofa", 0.4, False)]
    sels = selections_from_windows(windows, catalogue, 50.0, 11025.0)
    assert [(s.selection, s.channel, s.begin_s, s.label) for s in sels] == [
        (1, 2, 0.0, "Sus scrofa"), (2, 1, 6.0, "Lithobates catesbeianus")]
    path = write_raven_table(tmp_path / "a.wav.biodiv.selection.table.txt", sels, catalogue, "/data/a.wav")
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    assert header.split("\t") == RAVEN_FIELDS
    assert rows[1].split("\t")[:10] == ["2", "Spectrogram 1", "1", "6.000", "9.000", "50.0", "11025.0",
                                        "American bullfrog", "Lithobates catesbeianus", "0.9100"]
    assert read_raven_table(path) == [dataclasses.replace(s, begin_path="/data/a.wav") for s in sels]
    labels = write_audacity_labels(tmp_path / "a.txt", sels, catalogue).read_text().splitlines()
    assert labels == ["0.000\t3.000\tWild boar, 0.7000", "6.000\t9.000\tAmerican bullfrog, 0.9100"]


def test_reads_hand_annotated_raven_tables(tmp_path):
    """Raven's own export: Waveform and Spectrogram rows per selection, an Annotation column, no confidence."""
    p = tmp_path / "hand.txt"
    p.write_text("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\n"
                 "1\tWaveform 1\t1\t1.5\t2.25\t0\t11025\tbullfrog\n"
                 "1\tSpectrogram 1\t1\t1.5\t2.25\t200\t800\tbullfrog\n"
                 "2\tSpectrogram 1\t1\t4\t10\t\t\tSus scrofa\n", encoding="utf-8")
    sels = read_raven_table(p)
    assert sels == [Selection(1, 1, 1.5, 2.25, 0.0, 11025.0, "bullfrog", None),
                    Selection(2, 1, 4.0, 10.0, None, None, "Sus scrofa", None)]
    (tmp_path / "bad.txt").write_text("Begin\tEnd\n1\t2\n")
    with pytest.raises(BiodivError, match="not a Raven selection table"):
        read_raven_table(tmp_path / "bad.txt")
    (tmp_path / "neg.txt").write_text("Selection\tBegin Time (s)\tEnd Time (s)\n1\t5\t4\n")
    with pytest.raises(BiodivError, match="neg.txt line 2: End Time"):
        read_raven_table(tmp_path / "neg.txt")


def test_selections_cut_into_labelled_windows(catalogue):
    sels = [Selection(1, 1, 1.0, 2.0, None, None, "American bullfrog"),
            Selection(2, 1, 4.0, 10.0, None, None, "Sus scrofa")]
    out = selections_to_windows(sels, 12.0, 3.0, 3.0, catalogue)
    # 0-3 holds the whole 1 s call; 3-6 is 2 s of boar (>= 1.5 s); 6-9 boar; 9-12 only 1 s of boar (< 1.5 s)
    assert [(w.start_s, w.end_s, w.label) for w in out] == [
        (0.0, 3.0, "Lithobates catesbeianus"), (3.0, 6.0, "Sus scrofa"), (6.0, 9.0, "Sus scrofa")]
    with pytest.raises(CatalogueError):
        selections_to_windows([Selection(1, 1, 0, 1, None, None, "Unicornus")], 3.0, 3.0, 3.0, catalogue)


def test_one_table_per_recording(tmp_path, catalogue):
    recs = [{"filePath": "rec/a.wav"}, {"filePath": "rec/quiet.wav"}, {"filePath": "rec/broken.wav"}]
    n = write_recording_tables(tmp_path, recs, [window(0.0, "Sus scrofa", 0.8, True)], catalogue, 50, 8000,
                               skip={"rec/broken.wav"})
    assert n == 2
    assert len(read_raven_table(tmp_path / ("rec/a.wav" + RAVEN_SUFFIX))) == 1
    assert read_raven_table(tmp_path / ("rec/quiet.wav" + RAVEN_SUFFIX)) == []  # header only
    assert not (tmp_path / ("rec/broken.wav" + RAVEN_SUFFIX)).exists()


def test_progress_modes(monkeypatch):
    monkeypatch.setattr(common.sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.delenv("BIODIV_PROGRESS", raising=False)
    assert common.progress_mode() == "lines"
    monkeypatch.setattr(common.sys.stderr, "isatty", lambda: True, raising=False)
    assert common.progress_mode() == "bar"
    for value, mode in (("0", "off"), ("lines", "lines"), ("bar", "bar"), ("1", "bar")):
        monkeypatch.setenv("BIODIV_PROGRESS", value)
        assert common.progress_mode() == mode
    monkeypatch.setenv("BIODIV_PROGRESS", "0")
    items = [1, 2, 3]
    assert common.progress(items, "x") is items


def test_progress_lines_are_periodic(caplog):
    ticks = iter(range(0, 1000, 10))  # every call of the clock is 10 s later
    with caplog.at_level(logging.INFO, logger="biodiv.progress"):
        out = list(common._lines(list(range(10)), "images", 25.0, clock=lambda: next(ticks)))
    assert out == list(range(10))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1].startswith("images: 10/10 (100 %) done")
    assert 2 <= len(lines) - 1 <= 4  # periodic, not one per item
    assert all("/10 (" in x for x in lines)


def test_raven_tables_become_labelled_training_clips(tmp_path, media):
    """biodiv import raven: an annotated recording -> labelled WAV clips that the labelled-dataset ingest reads."""
    from typer.testing import CliRunner

    from models.ingest import ingest_labelled
    from pipeline import cli

    rec = media.wav(tmp_path / "field" / "REC_1.wav", 9.0, sample_rate_hz=16000, freq_hz=441.7)  # no repeating clip
    (tmp_path / "field" / "REC_1.Table.1.selections.txt").write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
        "1\tSpectrogram 1\t1\t0.5\t2.0\t300\t900\tAmerican bullfrog\n"
        "2\tSpectrogram 1\t1\t6.0\t9.0\t300\t900\tSus scrofa\n")
    (tmp_path / "orphan.selections.txt").write_text("Selection\tBegin Time (s)\tEnd Time (s)\n1\t0\t1\n")
    labels = tmp_path / "acoustic" / "imported" / "raven-2024"
    res = CliRunner().invoke(cli.app, ["import", "raven", str(tmp_path / "field" / "REC_1.Table.1.selections.txt"),
                                       str(tmp_path / "orphan.selections.txt"), "--labels", str(labels)])
    assert res.exit_code == cli.EXIT_REJECTED, res.output
    assert "2 clips" in res.output and "missing_file" in res.output
    records, rejected = ingest_labelled(labels, Catalogue.load())
    assert rejected == []
    got = sorted((r.label, r.duration_s) for r in records)
    assert got == [("Lithobates catesbeianus", 3.0), ("Sus scrofa", 3.0)]
    assert rec.is_file()
    # the ingest stage adds imported label sets to the labelled dataset
    from pipeline.stages.ingest import with_reviewed

    merged, _ = with_reviewed(tmp_path / "acoustic", [], [], Catalogue.load(), 10**8)
    assert sorted((r.filePath.split("/")[:2], r.label) for r in merged) == [
        (["imported", "raven-2024"], "Lithobates catesbeianus"), (["imported", "raven-2024"], "Sus scrofa")]
