"""Classification metrics: per-class precision/recall/F1, macro-F1, confusion matrix, invasive recall.

Definitions follow scikit-learn's ``precision_recall_fscore_support`` (zero when undefined) and
``confusion_matrix`` (rows = true class, columns = predicted class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


@dataclass(frozen=True)
class ClassMetrics:
    """Scores of one class; ``support`` is the number of true items."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    """Evaluation of a classifier on labelled items.

    ``macro_f1`` averages F1 over the classes present in the true labels (classes the model knows
    but the test set lacks would add undefined zeros). ``confusion`` is ``(C, C)`` over ``labels``.
    """

    per_class: list[ClassMetrics]
    macro_f1: float
    accuracy: float
    confusion: np.ndarray
    labels: list[str]
    n: int


def evaluate(y_true: list[str], y_pred: list[str], labels: list[str]) -> Report:
    """Score predictions against truth.

    Args:
        y_true, y_pred: label strings of equal length.
        labels: all class labels in display order (the model's ordered labels).

    Raises:
        ValueError: lengths differ.
    """
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    present = [lb for lb in labels if lb in set(y_true)]
    if present:
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    else:  # no test items (or none with a known label): scikit-learn rejects empty input
        p = r = f = s = np.zeros(0)
    per = [ClassMetrics(lb, float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i, lb in enumerate(present)]
    macro = float(np.mean(f)) if present else 0.0
    acc = float(np.mean([a == b for a, b in zip(y_true, y_pred, strict=True)])) if y_true else 0.0
    cm = confusion_matrix(y_true, y_pred, labels=labels) if present else np.zeros((len(labels),) * 2, int)
    return Report(per, macro, acc, cm, labels, len(y_true))


def recall_of(y_true: list[str], y_pred: list[str], positive: set[str]) -> float | None:
    """Recall of a group of labels treated as one class (e.g. all invasive species).

    Returns None when no true item belongs to ``positive``.
    """
    hits = [p in positive for t, p in zip(y_true, y_pred, strict=True) if t in positive]
    return float(np.mean(hits)) if hits else None


def binary_scores(y_true: list[bool], y_pred: list[bool]) -> dict:
    """Precision and recall of a yes/no decision (e.g. "this frame is blank").

    Returns:
        ``{"precision", "recall", "support", "predicted"}``: ``support`` counts true positives
        plus false negatives, ``predicted`` true plus false positives; precision (recall) is None
        when ``predicted`` (``support``) is 0.
    """
    tp = sum(t and p for t, p in zip(y_true, y_pred, strict=True))
    support, predicted = sum(y_true), sum(y_pred)
    return {"precision": round(tp / predicted, 4) if predicted else None,
            "recall": round(tp / support, 4) if support else None, "support": support, "predicted": predicted}


def reliability_bins(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> list[dict]:
    """The reliability diagram of the top-1 confidence (DeGroot & Fienberg 1983; Guo et al. 2017, Fig. 1):
    ``n_bins`` equal-width confidence bins, bin ``b`` holding confidences in ``[b / n_bins, (b + 1) / n_bins)``
    (1.0 in the last one).

    Args:
        probs: ``(N, K)`` probabilities.
        y_true: ``(N,)`` true class indices.
        n_bins: number of bins (15 as in Guo et al.).

    Returns:
        One dict per bin: ``bin_lower``, ``bin_upper``, ``n`` (items), ``confidence`` (mean top-1 probability)
        and ``accuracy`` (share correct); the last two are None for an empty bin.

    Raises:
        ValueError: mismatched shapes or ``n_bins < 1``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if probs.ndim != 2 or y_true.shape != (probs.shape[0],) or n_bins < 1:
        raise ValueError(f"probs must be (N, K) and y_true (N,), got {probs.shape} and {y_true.shape}")
    conf = probs.max(1) if len(probs) else np.zeros(0)
    correct = probs.argmax(1) == y_true if len(probs) else np.zeros(0, dtype=bool)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = bins == b
        n = int(sel.sum())
        out.append({"bin_lower": round(b / n_bins, 4), "bin_upper": round((b + 1) / n_bins, 4), "n": n,
                    "confidence": float(conf[sel].mean()) if n else None,
                    "accuracy": float(correct[sel].mean()) if n else None})
    return out


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence (Guo et al. 2017, "On calibration of modern neural
    networks", ICML, eq. 3): ``sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` over the bins of
    :func:`reliability_bins`.

    Args:
        probs: ``(N, K)`` probabilities.
        y_true: ``(N,)`` true class indices.
        n_bins: number of bins (15 as in Guo et al.).

    Returns:
        ECE in [0, 1]; 0.0 for ``N == 0``.

    Raises:
        ValueError: mismatched shapes or ``n_bins < 1``.
    """
    rows = reliability_bins(probs, y_true, n_bins)
    total = sum(r["n"] for r in rows)
    if not total:
        return 0.0
    return float(sum(r["n"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows if r["n"]))
