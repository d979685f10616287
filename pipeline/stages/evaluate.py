"""Stages ``evaluate_images`` / ``evaluate_audio``: test-split scores of the saved bundle.

Writes ``reports/eval_<modality>.json`` (DVC metrics: accuracy, macro-F1, invasive-species
recall, expected calibration error ``ece``, and ``decision``: the outcome shares of the one decision
path on the test split, ``models.inference.decision.score_decisions``),
``reports/eval_<modality>_per_class.json`` (precision / recall / F1 / support per class, accuracy and the most
predicted label per data source, the labels whose training items all come from one source, and for audio the
confusion between taxonomic classes, e.g. birds called frogs)
``reports/confusion_<modality>.csv`` (``actual,predicted`` rows, a DVC confusion plot) and
``reports/reliability_<modality>.csv`` (the reliability diagram behind the ECE: per confidence bin the mean
confidence, the accuracy and the count; a DVC plot). Audio is scored per window and per recording (window
probabilities averaged).

The scores are also logged to the MLflow run that trained the bundle (its ID is in
``reports/train_<modality>.json``): metrics ``test_macro_f1``, ``test_accuracy``, ``test_ece``, the decision
outcome shares as ``test_decision_<outcome>``, and the report files as artifacts under ``evaluation/``. When
that run cannot be found (another tracking store), a new run named ``evaluate_<modality>`` holds them, tagged
with the model version; the fallback is logged.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import typer

from models.inference.decision import policy_for, score_decisions
from models.learning.bundle import Classifier
from models.learning.metrics import (
    Report,
    binary_scores,
    evaluate,
    expected_calibration_error,
    recall_of,
    reliability_bins,
)
from models.media.tables import read_csv
from models.taxonomy.catalogue import BLANK, Catalogue
from pipeline.common import PROCESSED, setup_logging, write_json
from pipeline.params import TrackingParams, load_params

log = logging.getLogger(__name__)


def _report_dict(rep: Report) -> dict:
    return {"n": rep.n, "accuracy": round(rep.accuracy, 4), "macro_f1": round(rep.macro_f1, 4),
            "per_class": {c.label: {"precision": round(c.precision, 4), "recall": round(c.recall, 4),
                                    "f1": round(c.f1, 4), "support": c.support} for c in rep.per_class}}


#: Detail tables kept out of the headline metrics file (``dvc metrics show`` stays readable).
DETAIL_KEYS = ("per_source", "single_source_labels", "class_confusion")


def split_metrics(metrics: dict) -> tuple[dict, dict]:
    """Headline numbers (for ``dvc metrics``) and the detail tables (per class, per source), as two dicts."""
    head, per_class = {}, {}
    for key, value in metrics.items():
        if key in DETAIL_KEYS:
            per_class[key] = value
        elif isinstance(value, dict) and "per_class" in value:
            per_class[key] = value["per_class"]
            head[key] = {k: v for k, v in value.items() if k != "per_class"}
        else:
            head[key] = value
    return head, per_class


def blank_metrics(y_true: list[str], y_pred: list[str], groups: list[str]) -> dict:
    """Blank (empty frame) detection scores, per image and per event.

    Per image: a frame is predicted blank when its top-1 is ``blank``. Per event (the split's
    sequence groups): an event is blank when all its frames are, for the labels and for the
    predictions alike (the rule of ``models.inference.events.aggregate``).
    """
    per_image = binary_scores([t == BLANK for t in y_true], [p == BLANK for p in y_pred])
    events: dict[str, list[tuple[str, str]]] = {}
    for t, p, g in zip(y_true, y_pred, groups, strict=True):
        events.setdefault(g or f"#{len(events)}", []).append((t, p))
    ev = list(events.values())
    per_event = binary_scores([all(t == BLANK for t, _ in e) for e in ev], [all(p == BLANK for _, p in e) for e in ev])
    return {"per_image": per_image, "per_event": {**per_event, "events": len(ev)}}


def per_source(y_true: list[str], y_pred: list[str], sources: list[str]) -> dict:
    """Test items, accuracy and the most frequent predicted label per data source (``source`` of the media
    index: the repository or camera network the images came from), so that a model good on one source and
    poor on another, or one that names a source rather than a species, shows."""
    out: dict[str, dict] = {}
    for src in sorted(set(sources)):
        idx = [i for i, s in enumerate(sources) if s == src]
        preds = [y_pred[i] for i in idx]
        top = min(set(preds), key=lambda lb: (-preds.count(lb), lb)) if preds else ""  # ties: first by name
        right = sum(y_true[i] == y_pred[i] for i in idx)
        out[src or "(unknown)"] = {"n": len(idx), "accuracy": round(right / len(idx), 4), "most_predicted": top,
                                   "most_predicted_share": round(preds.count(top) / len(idx), 4)}
    return out


def class_confusion(y_true: list[str], y_pred: list[str], catalogue: Catalogue) -> dict:
    """Confusion between taxonomic classes (catalogue ``class``, e.g. Aves vs Amphibia for the recorders'
    birds and frogs): for each true class, how many items and the share predicted as each class (top-1)."""
    def cls(name: str) -> str:
        sp = catalogue.get(name)
        return (sp.class_ if sp is not None else "") or name

    out: dict[str, dict] = {}
    for t, p in zip(y_true, y_pred, strict=True):
        row = out.setdefault(cls(t), {"n": 0, "predicted": {}})
        row["n"] += 1
        row["predicted"][cls(p)] = row["predicted"].get(cls(p), 0) + 1
    for row in out.values():
        row["predicted"] = {k: round(v / row["n"], 4) for k, v in sorted(row["predicted"].items())}
    return out


def run(modality: str, bundle: Path, processed: Path, catalogue: Catalogue,
        sources: dict[str, str] | None = None) -> tuple[dict, list[tuple[str, str]]]:
    """Score the bundle on the test split.

    ``sources`` maps ``mediaID`` to its data source (the ``source`` column of the labelled set's media index,
    ``data/interim/<dataset>/media.csv``) for the per-source results.

    Returns:
        ``(metrics, pairs)`` where ``pairs`` are ``(actual, predicted)`` labels per test item.
    """
    clf = Classifier.load(bundle)
    folder, array = PROCESSED[modality]
    index = read_csv(processed / folder / "index.csv")
    split_rows = read_csv(processed / "splits" / f"{folder}.csv")
    split_of = {r["mediaID"]: r["split"] for r in split_rows}
    x = np.load(processed / folder / array, mmap_mode="r")
    known = set(clf.labels)
    keep = [i for i, r in enumerate(index) if split_of.get(r["mediaID"]) == "test" and r["label"] in known]
    xs = np.asarray(x[keep])
    if modality == "image":
        batch = clf.meta.image_preprocessing().normalise(xs)
    else:
        batch = xs.astype(np.float32)[:, None]
    probs = clf.predict(batch) if len(keep) else np.zeros((0, len(clf.labels)))
    y_true = [index[i]["label"] for i in keep]
    y_pred = [clf.labels[j] for j in probs.argmax(1)] if len(keep) else []
    invasive = {lb for lb in clf.labels if catalogue.is_invasive(lb)}
    rep = evaluate(y_true, y_pred, clf.labels)
    metrics = {"model_version": clf.meta.model_version, "test": _report_dict(rep),
               "invasive_recall": recall_of(y_true, y_pred, invasive), "invasive_labels": sorted(invasive),
               "ece": round(expected_calibration_error(probs, np.array([clf.labels.index(t) for t in y_true],
                                                                       dtype=int)), 4),
               # what users see: the one decision path (thresholds, roll-up, unknown, blank, privacy)
               "decision": score_decisions(policy_for(clf, catalogue), probs, y_true),
               "reliability": reliability_bins(probs, np.array([clf.labels.index(t) for t in y_true], dtype=int))}
    source_of = sources or {}
    metrics["per_source"] = per_source(y_true, y_pred, [source_of.get(index[i]["mediaID"], "") for i in keep])
    train_sources: dict[str, set[str]] = {}
    for r in index:
        if split_of.get(r["mediaID"]) == "train":
            train_sources.setdefault(r["label"], set()).add(source_of.get(r["mediaID"], ""))
    # a class learnt from one source only may be learnt as "that source's camera" (a confound)
    metrics["single_source_labels"] = sorted(lb for lb, src in train_sources.items() if len(src) == 1)
    if modality == "image":
        group_of = {r["mediaID"]: r["group"] for r in split_rows}
        metrics["blank"] = blank_metrics(y_true, y_pred, [group_of.get(index[i]["mediaID"], "") for i in keep])
    if modality == "audio":
        metrics["class_confusion"] = class_confusion(y_true, y_pred, catalogue)  # e.g. birds called frogs
    if modality == "audio" and keep:
        rec_ids = [index[i]["mediaID"] for i in keep]
        order = sorted(set(rec_ids))
        mean = np.stack([probs[[j for j, m in enumerate(rec_ids) if m == rid]].mean(0) for rid in order])
        truth = {index[i]["mediaID"]: index[i]["label"] for i in keep}
        rt = [truth[r] for r in order]
        rp = [clf.labels[j] for j in mean.argmax(1)]
        metrics["test_per_recording"] = _report_dict(evaluate(rt, rp, clf.labels))
    return metrics, list(zip(y_true, y_pred, strict=True))


def _mlflow_metrics(metrics: dict) -> dict[str, float]:
    """The headline scores as MLflow metrics (``test_macro_f1``, ``test_accuracy``, ``test_ece``,
    ``test_decision_<outcome>``, and for audio ``test_recording_macro_f1``)."""
    out = {"test_macro_f1": metrics["test"]["macro_f1"], "test_accuracy": metrics["test"]["accuracy"],
           "test_ece": metrics["ece"]}
    if "test_per_recording" in metrics:
        out["test_recording_macro_f1"] = metrics["test_per_recording"]["macro_f1"]
    for key, value in (metrics.get("decision") or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[f"test_decision_{key}"] = value
    return {k: float(v) for k, v in out.items() if v is not None}


def log_to_mlflow(tracking: TrackingParams, run_id: str | None, modality: str, metrics: dict,
                  files: list[Path]) -> str:
    """Log the test scores and report ``files`` to the training run ``run_id`` (or, when it is not in this
    tracking store, to a new run ``evaluate_<modality>``). Returns the run ID used."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking.uri)
    mlflow.set_experiment(tracking.experiment)
    try:
        if not run_id:
            raise MlflowException("no training run ID")
        mlflow.get_run(run_id)
        active = mlflow.start_run(run_id=run_id)
    except MlflowException as exc:
        log.warning("training run %s not found in %s (%s): evaluation logged to a new run", run_id, tracking.uri, exc)
        active = mlflow.start_run(run_name=f"evaluate_{modality}",
                                  tags={"model_version": str(metrics.get("model_version", ""))})
    with active as run:
        mlflow.log_metrics(_mlflow_metrics(metrics))
        for f in files:
            mlflow.log_artifact(str(f), "evaluation")
        return run.info.run_id


def main(modality: str = typer.Argument(..., help="image or audio"), artifacts: Path = Path("artifacts"),
         processed: Path = Path("data/processed"), reports: Path = Path("reports"),
         interim: Path = Path("data/interim"), params: Path = Path("params.yaml")) -> None:
    """Evaluate the ``image`` or ``audio`` bundle on its test split."""
    setup_logging()
    index = interim / ("camera_traps" if modality == "image" else "acoustic") / "media.csv"
    sources = {r["mediaID"]: r.get("source", "") for r in read_csv(index)} if index.is_file() else None
    metrics, pairs = run(modality, artifacts / f"{modality}_model", processed, Catalogue.load(), sources)
    reliability = metrics.pop("reliability")
    head, per_class = split_metrics(metrics)
    write_json(reports / f"eval_{modality}.json", head)
    with open(reports / f"reliability_{modality}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["bin_lower", "bin_upper", "n", "confidence", "accuracy"])
        w.writeheader()
        w.writerows({k: ("" if v is None else round(v, 4)) for k, v in row.items()} for row in reliability)
    write_json(reports / f"eval_{modality}_per_class.json", per_class)
    with open(reports / f"confusion_{modality}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["actual", "predicted"])
        w.writerows(pairs)
    log.info("%s test macro-F1 %.3f accuracy %.3f (n=%d)", modality, metrics["test"]["macro_f1"],
             metrics["test"]["accuracy"], metrics["test"]["n"])
    train_report = reports / f"train_{modality}.json"
    run_id = json.loads(train_report.read_text()).get("mlflow_run_id") if train_report.is_file() else None
    files = [reports / f"{name}_{modality}{ext}" for name, ext in
             (("eval", ".json"), ("eval", "_per_class.json"), ("confusion", ".csv"), ("reliability", ".csv"))]
    used = log_to_mlflow(load_params(params).tracking, run_id, modality, metrics, files)
    log.info("%s evaluation logged to MLflow run %s", modality, used)


if __name__ == "__main__":
    typer.run(main)
