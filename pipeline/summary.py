"""``python -m pipeline.summary``: what a pipeline run gave, in a few readable lines (``make run`` ends with it).

Reads the reports the stages wrote (``reports/*.json``); ``dvc metrics show`` prints the same figures and
more as one wide table.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def summary_lines(reports: Path) -> list[str]:
    """The summary (module docstring) as lines; a missing report is named, not an error."""
    lines = []
    for modality in ("image", "audio"):
        ev = _load(reports / f"eval_{modality}.json")
        if not ev:
            lines.append(f"{modality} model: no reports/eval_{modality}.json (run `dvc repro`)")
            continue
        t = ev.get("test", {})
        line = (f"{modality} model {ev.get('model_version', '?')}: test macro-F1 {t.get('macro_f1', 0):.3f}, "
                f"accuracy {t.get('accuracy', 0):.3f} (n={t.get('n', 0)}), calibration error {ev.get('ece', 0):.3f}")
        rec = ev.get("test_per_recording")
        if rec:
            line += f"; per recording macro-F1 {rec.get('macro_f1', 0):.3f} (n={rec.get('n', 0)})"
        lines.append(line)
        d = ev.get("decision") or {}
        if d:
            lines.append(f"  answers: species right {_pct(d.get('species_correct'))}, wrong "
                         f"{_pct(d.get('species_wrong'))}; rolled up right {_pct(d.get('rollup_correct'))}, wrong "
                         f"{_pct(d.get('rollup_wrong'))}; unknown {_pct(d.get('unknown'))}; "
                         f"blank {_pct(d.get('blank'))}; "
                         f"precision of the answers {d.get('precision_accepted') or 0:.3f}")
    pred, audio, pub = (_load(reports / n) for n in ("predict.json", "predict_audio.json", "publish.json"))
    if pred:
        lines.append(f"station camera media: {pred.get('predictions', 0)} classified, {pred.get('rejected', 0)} "
                     f"rejected, {pred.get('events', 0)} events, {pred.get('invasive', 0)} invasive"
                     + (f", {pred['private']} people or vehicles (private)" if pred.get("private") else ""))
    if audio:
        lines.append(f"station recordings: {audio.get('recordings', 0)} analysed, {audio.get('windows', 0)} windows, "
                     f"{audio.get('detections', 0)} detections in {audio.get('events', 0)} events, "
                     f"{audio.get('rejected', 0)} rejected")
    if pub:
        w = pub.get("written", {})
        lines.append(f"published: {w.get('detections', 0)} image and {w.get('audio_detections', 0)} audio "
                     "detections to the database (`make serve` to browse them)")
    return lines


def main(reports: Path = typer.Option(Path("reports"), help="the reports folder")) -> None:
    """Print the summary of the last pipeline run."""
    for line in summary_lines(reports):
        typer.echo(line)


if __name__ == "__main__":
    typer.run(main)
