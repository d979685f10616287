"""MLflow helpers that need no tracking server: flattening, param limits, data hash, code version."""

from __future__ import annotations

import hashlib
import json

from pipeline.tracking import MAX_PARAM_CHARS, code_version, files_hash, flatten, safe_params


def test_flatten_nested():
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": "x"}}, "f": [1, 2]}) == {"a": 1, "b.c": 2, "b.d.e": "x",
                                                                            "f": [1, 2]}


def test_safe_params_keeps_short_values_as_text():
    logged, overflow = safe_params({"lr": 0.002, "name": "mobilenet", "flags": [1, 2], "aug": True, "n": None})
    assert logged == {"lr": "0.002", "name": "mobilenet", "flags": "[1, 2]", "aug": "true", "n": "null"}
    assert overflow == {}


def test_safe_params_shortens_long_values_with_a_marker():
    names = [f"Species number {i:03d}" for i in range(60)]
    exact = "x" * MAX_PARAM_CHARS
    logged, overflow = safe_params({"model": {"class_names": names}, "exact": exact})
    text = json.dumps(names, ensure_ascii=False)
    assert len(text) > MAX_PARAM_CHARS
    value = logged["model.class_names"]
    assert len(value) == MAX_PARAM_CHARS
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    assert value.endswith(f"...[truncated; full value in artifact model.class_names.json, sha256 {digest}]")
    assert text.startswith(value[: value.index("...[truncated")])
    assert overflow == {"model.class_names": names}
    assert logged["exact"] == exact  # exactly at the limit is kept whole


def test_files_hash_is_over_the_concatenated_bytes(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    (tmp_path / "b").write_bytes(b"def")
    assert files_hash([tmp_path / "a", tmp_path / "b"]) == hashlib.sha256(b"abcdef").hexdigest()
    assert files_hash([tmp_path / "b", tmp_path / "a"]) == hashlib.sha256(b"defabc").hexdigest()


def test_code_version_outside_git(tmp_path):
    assert code_version(tmp_path) == "unknown"


def test_evaluation_is_logged_to_the_training_run_or_a_new_one(tmp_path, monkeypatch, mlflow_store,
                                                               mlflow_uri_restored):
    import mlflow

    from pipeline.params import TrackingParams
    from pipeline.stages.evaluate import log_to_mlflow
    from pipeline.tracking import training_run

    monkeypatch.chdir(tmp_path)
    uri, artifacts = mlflow_store
    client = mlflow.MlflowClient(uri)
    client.create_experiment("evals", artifact_location=(artifacts / "evals").as_uri())
    cfg = TrackingParams(uri=uri, experiment="evals", register_model=False)
    with training_run(cfg, "train_image", {"lr": 0.001}, {}) as run:
        mlflow.log_metric("val_macro_f1", 0.7)
    report = tmp_path / "reliability_image.csv"
    report.write_text("bin_lower,bin_upper,n,confidence,accuracy\n0.9,1.0,2,0.95,0.5\n")
    metrics = {"model_version": "image-x", "test": {"macro_f1": 0.61, "accuracy": 0.8}, "ece": 0.05,
               "decision": {"species_right": 0.6, "precision_of_answers": 0.81, "note": "text is not logged"}}
    used = log_to_mlflow(cfg, run.info.run_id, "image", metrics, [report])
    assert used == run.info.run_id
    logged = client.get_run(used).data.metrics
    assert logged["test_macro_f1"] == 0.61 and logged["test_ece"] == 0.05 and logged["val_macro_f1"] == 0.7
    assert logged["test_decision_precision_of_answers"] == 0.81 and "test_decision_note" not in logged
    assert [a.path for a in client.list_artifacts(used, "evaluation")] == ["evaluation/reliability_image.csv"]
    other = log_to_mlflow(cfg, "0" * 32, "image", metrics, [])  # a run ID from another store: a new run
    assert other != used and client.get_run(other).data.tags["model_version"] == "image-x"
