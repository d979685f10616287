"""Decision thresholds chosen on validation data: per-class for a target precision, and the blank threshold.

The rule these thresholds are meant for (applied by the decision path, ``models.inference.decision``):

- a frame is **blank** when ``p[blank] >= blank_threshold``;
- otherwise its top-1 label ``k`` is accepted when ``p[k] >= thresholds[k]``; below it, the
  decision path rolls up the taxonomy or answers "unknown".

Both are pure functions of calibrated validation probabilities ``(N, K)`` and integer labels
``(N,)``, stored in the bundle's ``bundle.json`` under ``"decision"`` (:func:`decision_block`):

``{"target_precision": float, "thresholds": {label: float}, "blank_threshold": float,
"blank_max_animal_loss": float, "privacy_threshold": float, "privacy_others_hidden": float | None}``.

Per-class threshold (the usual "operating point for a target precision" of a precision/recall curve,
e.g. scikit-learn's ``precision_recall_curve``): among the validation items whose top-1 is ``k``,
the smallest score ``t`` such that the items with ``p[k] >= t`` reach precision ``>= target``
(maximum recall at that precision). Blank threshold: the smallest value such that at most
``max_animal_loss`` of the non-blank validation items (animals, people, vehicles) have
``p[blank] >= t``; Wildlife Insights hides frames as blank only at 0.95, the issue asks for at
most 5 % of animals lost.
"""

from __future__ import annotations

import math

import numpy as np

#: Threshold of a class the validation data cannot set (no validation item predicted as it).
DEFAULT_THRESHOLD = 0.5
#: Threshold when no operating point reaches the target precision: only certainty is accepted.
UNREACHABLE = 1.0


def _check(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.ndim != 1 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probs must be (N, K) and labels (N,), got {probs.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError("labels must be class indices in [0, K)")
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs must be finite")
    return probs, labels.astype(int)


def class_threshold(scores: np.ndarray, correct: np.ndarray, target_precision: float) -> float:
    """The smallest score ``t`` with precision ``mean(correct[scores >= t]) >= target_precision``.

    Args:
        scores: ``(M,)`` top-1 probabilities of the items predicted as the class.
        correct: ``(M,)`` bool, the prediction was right.
        target_precision: in ``(0, 1]``.

    Returns:
        ``t`` (one of ``scores``); :data:`DEFAULT_THRESHOLD` when ``M == 0``; :data:`UNREACHABLE`
        when no ``t`` reaches the target.
    """
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if scores.size == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-scores, kind="stable")
    s, c = scores[order], correct[order]
    best = UNREACHABLE
    hits = np.cumsum(c)
    for i in range(len(s)):
        if i + 1 < len(s) and s[i + 1] == s[i]:
            continue  # ties: a threshold admits all items of equal score
        if hits[i] / (i + 1) >= target_precision - 1e-12:
            best = float(s[i])
    return best


def per_class_thresholds(probs: np.ndarray, labels: np.ndarray, target_precision: float) -> np.ndarray:
    """Per-class thresholds ``(K,)`` for ``target_precision`` (module docstring).

    Args:
        probs: ``(N, K)`` calibrated validation probabilities.
        labels: ``(N,)`` true class indices.
        target_precision: in ``(0, 1]``.

    Raises:
        ValueError: bad shapes, labels out of range, non-finite values or a target outside ``(0, 1]``.
    """
    if not 0 < target_precision <= 1:
        raise ValueError("target_precision must be in (0, 1]")
    probs, labels = _check(probs, labels)
    top = probs.argmax(1) if len(probs) else np.zeros(0, int)
    out = np.empty(probs.shape[1])
    for k in range(probs.shape[1]):
        sel = top == k
        out[k] = class_threshold(probs[sel, k], labels[sel] == k, target_precision)
    return out


def blank_threshold(probs: np.ndarray, labels: np.ndarray, blank_index: int, max_animal_loss: float = 0.05,
                    floor: float = 0.5) -> float:
    """The smallest blank threshold losing at most ``max_animal_loss`` of the non-blank items.

    An item is called blank when ``p[blank] >= t``. With ``n`` non-blank validation items, at most
    ``floor(max_animal_loss * n)`` of them may have ``p[blank] >= t``; ``t`` is therefore just above
    (``math.nextafter``) the ``(L + 1)``-th largest non-blank ``p[blank]``, and at least ``floor``
    (blank must be the more likely answer; 0.5 by default).

    Raises:
        ValueError: bad shapes, ``blank_index`` out of range or ``max_animal_loss`` outside ``[0, 1)``.
    """
    probs, labels = _check(probs, labels)
    if not 0 <= blank_index < probs.shape[1]:
        raise ValueError("blank_index out of range")
    if not 0 <= max_animal_loss < 1:
        raise ValueError("max_animal_loss must be in [0, 1)")
    animal = np.sort(probs[labels != blank_index, blank_index])[::-1]
    allowed = math.floor(max_animal_loss * len(animal) + 1e-9)
    if allowed >= len(animal):
        return float(floor)
    return float(max(floor, math.nextafter(float(animal[allowed]), math.inf)))


#: Privacy threshold bounds: never above the default (a person at 25 % already hides the frame), never below
#: the floor (below it nearly every frame would be hidden).
PRIVACY_DEFAULT = 0.25
PRIVACY_FLOOR = 0.05


def privacy_threshold(probs: np.ndarray, labels: np.ndarray, private_indices: list[int],
                      default: float = PRIVACY_DEFAULT, floor: float = PRIVACY_FLOOR) -> tuple[float, float | None]:
    """The summed person + vehicle probability above which a frame is private, chosen so that every
    validation item of a person or vehicle is caught (a missed person is a privacy breach; a hidden animal
    frame only waits for review): the smallest such mass over those items, clipped to ``[floor, default]``.

    Returns:
        ``(threshold, share of the other validation items it hides)``; ``(default, None)`` without private
        classes or items.

    Raises:
        ValueError: bad shapes or indices (see :func:`per_class_thresholds`).
    """
    probs, labels = _check(probs, labels)
    idx = [i for i in private_indices if 0 <= i < probs.shape[1]]
    if len(idx) != len(private_indices):
        raise ValueError("private_indices out of range")
    is_private = np.isin(labels, idx)
    if not idx or not is_private.any():
        return float(default), None
    mass = probs[:, idx].sum(1)
    t = float(min(default, max(floor, float(mass[is_private].min()))))
    others = mass[~is_private]
    return t, (float((others >= t).mean()) if others.size else None)


def decision_block(probs: np.ndarray, labels: np.ndarray, class_names: list[str], target_precision: float,
                   blank_label: str | None = "blank", max_animal_loss: float = 0.05,
                   private_labels: tuple[str, ...] = ()) -> dict:
    """The bundle's ``"decision"`` entry (module docstring) from validation probabilities.

    ``blank_threshold`` is 1.0 (never blank) when ``blank_label`` is not a class (e.g. audio);
    ``thresholds[blank_label]`` equals ``blank_threshold``. ``privacy_threshold`` (and the share of other
    items it hides, ``privacy_others_hidden``) comes from :func:`privacy_threshold` over the classes in
    ``private_labels`` (people, vehicles).

    Raises:
        ValueError: ``class_names`` does not match ``K``, or the errors of the functions above.
    """
    probs, labels = _check(probs, labels)
    if len(class_names) != probs.shape[1]:
        raise ValueError("class_names must have one name per column of probs")
    thr = per_class_thresholds(probs, labels, target_precision)
    out = {name: float(t) for name, t in zip(class_names, thr, strict=True)}
    b = UNREACHABLE
    if blank_label is not None and blank_label in class_names:
        b = blank_threshold(probs, labels, class_names.index(blank_label), max_animal_loss)
        out[blank_label] = b
    priv, hidden = privacy_threshold(probs, labels, [class_names.index(n) for n in private_labels
                                                     if n in class_names])
    return {"target_precision": float(target_precision), "thresholds": out, "blank_threshold": float(b),
            "blank_max_animal_loss": float(max_animal_loss), "privacy_threshold": priv,
            "privacy_others_hidden": hidden}
