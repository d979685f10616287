"""``python -m pipeline.summary`` reads the reports a run wrote and says what it gave."""

from __future__ import annotations

import json

from pipeline.summary import summary_lines


def test_summary_names_the_figures_and_the_missing_reports(tmp_path):
    (tmp_path / "eval_image.json").write_text(json.dumps({
        "model_version": "biodiv-image-classifier/1", "test": {"macro_f1": 0.677, "accuracy": 0.779, "n": 272},
        "ece": 0.055, "decision": {"species_correct": 0.621, "species_wrong": 0.129, "rollup_correct": 0.088,
                                   "rollup_wrong": 0.033, "unknown": 0.044, "blank": 0.085,
                                   "precision_accepted": 0.814}}))
    (tmp_path / "predict.json").write_text(json.dumps({"predictions": 33, "rejected": 1, "events": 30, "invasive": 0}))
    lines = summary_lines(tmp_path)
    assert lines[0] == ("image model biodiv-image-classifier/1: test macro-F1 0.677, accuracy 0.779 (n=272), "
                        "calibration error 0.055")
    assert "species right 62.1 %" in lines[1] and "precision of the answers 0.814" in lines[1]
    assert lines[2] == "audio model: no reports/eval_audio.json (run `dvc repro`)"
    assert lines[3] == "station camera media: 33 classified, 1 rejected, 30 events, 0 invasive"
