"""Classification metrics against a hand-computed example."""

from __future__ import annotations

import numpy as np
import pytest

from models.learning.metrics import evaluate, recall_of

Y_TRUE = ["a", "a", "a", "b", "b", "c"]
Y_PRED = ["a", "a", "b", "b", "c", "c"]
LABELS = ["a", "b", "c", "d"]


def test_evaluate_hand_computed():
    rep = evaluate(Y_TRUE, Y_PRED, LABELS)
    per = {c.label: c for c in rep.per_class}
    assert list(per) == ["a", "b", "c"]  # "d" has no true items: left out of the macro average
    # a: TP 2, FP 0, FN 1 -> P 1, R 2/3, F1 0.8
    assert (per["a"].precision, per["a"].recall, per["a"].f1, per["a"].support) == pytest.approx((1.0, 2 / 3, 0.8, 3))
    # b: TP 1, FP 1, FN 1 -> 0.5, 0.5, 0.5
    assert (per["b"].precision, per["b"].recall, per["b"].f1, per["b"].support) == pytest.approx((0.5, 0.5, 0.5, 2))
    # c: TP 1, FP 1, FN 0 -> 0.5, 1, 2/3
    assert (per["c"].precision, per["c"].recall, per["c"].f1, per["c"].support) == pytest.approx((0.5, 1.0, 2 / 3, 1))
    assert rep.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert rep.accuracy == pytest.approx(4 / 6)
    assert rep.n == 6 and rep.labels == LABELS
    np.testing.assert_array_equal(rep.confusion, [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])


def test_evaluate_empty_and_mismatched():
    rep = evaluate([], [], ["a", "b"])
    assert (rep.macro_f1, rep.accuracy, rep.n, rep.per_class) == (0.0, 0.0, 0, [])
    assert rep.confusion.shape == (2, 2) and rep.confusion.sum() == 0
    with pytest.raises(ValueError):
        evaluate(["a"], [], ["a"])


def test_evaluate_truth_outside_the_label_set():
    rep = evaluate(["x"], ["a"], ["a", "b"])
    assert (rep.per_class, rep.macro_f1, rep.accuracy, rep.n) == ([], 0.0, 0.0, 1)
    np.testing.assert_array_equal(rep.confusion, [[0, 0], [0, 0]])


def test_precision_zero_when_never_predicted():
    rep = evaluate(["a", "b"], ["a", "a"], ["a", "b"])
    per = {c.label: c for c in rep.per_class}
    assert (per["b"].precision, per["b"].recall, per["b"].f1) == (0.0, 0.0, 0.0)
    assert per["a"].precision == 0.5 and per["a"].recall == 1.0


def test_recall_of_a_group_of_labels():
    # true members of {a, c}: items 0, 1, 2 (a) and 5 (c); predicted inside the group: a, a, (b), c -> 3/4
    assert recall_of(Y_TRUE, Y_PRED, {"a", "c"}) == pytest.approx(0.75)
    assert recall_of(Y_TRUE, Y_PRED, {"b"}) == pytest.approx(0.5)
    assert recall_of(Y_TRUE, Y_PRED, {"d"}) is None


def test_reliability_bins_and_ece_agree():
    import numpy as np

    from models.learning.metrics import expected_calibration_error, reliability_bins

    # 4 items: two at 0.95 confidence (one right), two at 0.55 (both right)
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.45, 0.55], [0.45, 0.55]])
    y = np.array([0, 1, 1, 1])
    rows = reliability_bins(probs, y, n_bins=10)
    assert [r["n"] for r in rows] == [0, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert rows[5]["confidence"] == 0.55 and rows[5]["accuracy"] == 1.0
    assert rows[9]["confidence"] == 0.95 and rows[9]["accuracy"] == 0.5
    assert rows[0]["confidence"] is None and (rows[0]["bin_lower"], rows[0]["bin_upper"]) == (0.0, 0.1)
    # ECE = 0.5 * |1 - 0.55| + 0.5 * |0.5 - 0.95| = 0.45
    assert abs(expected_calibration_error(probs, y, n_bins=10) - 0.45) < 1e-9
