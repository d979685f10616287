"""Per-class and blank thresholds chosen on validation data (models.learning.thresholds), hand-computed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.learning.thresholds import (
    DEFAULT_THRESHOLD,
    UNREACHABLE,
    blank_threshold,
    class_threshold,
    decision_block,
    per_class_thresholds,
)


def test_class_threshold_hand_computed():
    # sorted scores 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (right), 0.5 (wrong)
    # precision at t = 0.9: 1/1, 0.8: 1/2, 0.7: 2/3, 0.6: 3/4, 0.5: 3/5
    scores = np.array([0.7, 0.9, 0.5, 0.8, 0.6])
    correct = np.array([True, True, False, False, True])
    assert class_threshold(scores, correct, 0.75) == 0.6   # lowest t with precision >= 0.75
    assert class_threshold(scores, correct, 0.7) == 0.6
    assert class_threshold(scores, correct, 0.6) == 0.5    # 3/5 = 0.6 reaches it
    assert class_threshold(scores, correct, 0.8) == 0.9    # only the top item
    assert class_threshold(scores[[3, 2]], correct[[3, 2]], 0.5) == UNREACHABLE  # all wrong
    assert class_threshold(np.zeros(0), np.zeros(0, bool), 0.9) == DEFAULT_THRESHOLD


def test_ties_are_admitted_together():
    # two items at 0.8, one right, one wrong: t = 0.8 gives 1/2, never 1/1
    assert class_threshold(np.array([0.8, 0.8]), np.array([True, False]), 0.9) == UNREACHABLE
    assert class_threshold(np.array([0.8, 0.8]), np.array([True, False]), 0.5) == 0.8


def test_per_class_thresholds_use_top1_items():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8], [0.45, 0.55]])
    labels = np.array([0, 1, 0, 1, 0])
    # class 0 predicted on rows 0,1,2 with scores 0.9 (right), 0.6 (wrong), 0.7 (right): target 0.9 -> 0.7
    # class 1 predicted on rows 3,4: 0.8 (right), 0.55 (wrong): target 0.9 -> 0.8
    assert per_class_thresholds(probs, labels, 0.9).tolist() == [0.7, 0.8]
    # target 0.6: class 0 at 0.6 has 2/3 >= 0.6; class 1 at 0.55 has 1/2 < 0.6 -> 0.8
    assert per_class_thresholds(probs, labels, 0.6).tolist() == [0.6, 0.8]


def test_blank_threshold_loses_at_most_five_percent_of_animals():
    # 20 animal items with p_blank 0.00, 0.05, ..., 0.95: 5 % of 20 = 1 may be lost, so t lies just
    # above the 2nd largest (0.90): only the item at 0.95 is called blank.
    p_blank = np.arange(20) * 0.05
    probs = np.stack([p_blank, 1 - p_blank], axis=1)
    labels = np.ones(20, int)
    t = blank_threshold(probs, labels, blank_index=0, max_animal_loss=0.05)
    assert t == math.nextafter(p_blank[18], math.inf)
    assert t > p_blank[18] and int((p_blank >= t).sum()) == 1
    # no loss allowed: just above the largest animal score
    assert blank_threshold(probs, labels, 0, 0.0) > 0.95
    # low animal scores: the floor 0.5 holds (blank must be the likelier answer)
    low = np.stack([p_blank / 10, 1 - p_blank / 10], axis=1)
    assert blank_threshold(low, labels, 0, 0.05) == 0.5
    # blank items do not count as losses
    probs2 = np.vstack([probs, [[0.99, 0.01]]])
    assert blank_threshold(probs2, np.append(labels, 0), 0, 0.05) == t


def test_decision_block_format():
    probs = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]])
    labels = np.array([0, 1, 2, 1])
    block = decision_block(probs, labels, ["blank", "Sus scrofa", "vehicle"], 0.9, "blank", 0.05)
    assert set(block) == {"target_precision", "thresholds", "blank_threshold", "blank_max_animal_loss",
                          "privacy_threshold", "privacy_others_hidden"}
    assert block["target_precision"] == 0.9 and block["blank_max_animal_loss"] == 0.05
    assert (block["privacy_threshold"], block["privacy_others_hidden"]) == (0.25, None)  # no private class named
    # 3 non-blank items, floor(0.05 * 3) = 0 losses: just above their largest p_blank 0.7
    assert block["blank_threshold"] == math.nextafter(0.7, math.inf)
    assert block["thresholds"] == {"blank": block["blank_threshold"], "Sus scrofa": 0.8, "vehicle": 0.6}
    audio = decision_block(probs, labels, ["a", "b", "c"], 0.9, "blank")
    assert audio["blank_threshold"] == UNREACHABLE


def test_privacy_threshold_catches_every_validation_person_and_vehicle():
    from models.learning.thresholds import privacy_threshold

    # columns: boar, person, vehicle; person + vehicle mass of the private items: 0.5, 0.12, 0.3
    probs = np.array([[0.5, 0.3, 0.2], [0.88, 0.1, 0.02], [0.7, 0.0, 0.3], [0.9, 0.05, 0.05], [0.85, 0.15, 0.0],
                      [0.99, 0.01, 0.0]])
    labels = np.array([1, 1, 2, 0, 0, 0])
    t, hidden = privacy_threshold(probs, labels, [1, 2])
    assert t == pytest.approx(0.12) and hidden == pytest.approx(1 / 3)  # the boar at 0.15 is hidden too
    assert privacy_threshold(probs, labels, [1, 2], floor=0.2) == (0.2, 0.0)
    assert privacy_threshold(probs * 0 + [[0.1, 0.6, 0.3]], labels, [1, 2])[0] == 0.25  # never above default
    assert privacy_threshold(probs, np.zeros(6, int), [1, 2]) == (0.25, None)
    block = decision_block(probs, labels, ["Sus scrofa", "Homo sapiens", "vehicle"], 0.9, None,
                           private_labels=("Homo sapiens", "vehicle"))
    assert block["privacy_threshold"] == pytest.approx(0.12)
    with pytest.raises(ValueError):
        privacy_threshold(probs, labels, [5])


@pytest.mark.parametrize("probs, labels", [(np.zeros((2, 2)), np.zeros(3, int)), (np.zeros(2), np.zeros(2, int)),
                                           (np.zeros((1, 2)), np.array([2])),
                                           (np.array([[np.nan, 0.5]]), np.array([0]))])
def test_bad_input_is_rejected(probs, labels):
    with pytest.raises(ValueError):
        per_class_thresholds(probs, labels, 0.9)


def test_bad_targets_are_rejected():
    with pytest.raises(ValueError):
        per_class_thresholds(np.zeros((1, 2)), np.array([0]), 0.0)
    with pytest.raises(ValueError):
        blank_threshold(np.zeros((1, 2)), np.array([0]), 5)
