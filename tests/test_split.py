"""Sequence grouping and leak-free, seeded, stratified grouped splits."""

from __future__ import annotations

from collections import Counter

import pytest

from models.learning.split import grouped_split, sequence_groups


def _item(dep: str, ts: str = "", name: str = "IMG_0001.JPG", label: str = "") -> dict:
    return {"deploymentID": dep, "timestamp": ts, "fileName": name, "label": label}


def _partition(keys: list[str]) -> set[frozenset[int]]:
    groups: dict[str, set[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, set()).add(i)
    return {frozenset(v) for v in groups.values()}


def test_groups_by_time_gap_per_deployment():
    items = [
        _item("D1", "2024-05-01T08:00:00+08:00"),
        _item("D1", "2024-05-01T08:00:50+08:00"),  # 50 s: same burst
        _item("D1", "2024-05-01T08:02:00+08:00"),  # 70 s: new sequence
        _item("D2", "2024-05-01T08:00:30+08:00"),  # inside D1's burst, other deployment
    ]
    keys = sequence_groups(items, 60, 5)
    assert _partition(keys) == {frozenset({0, 1}), frozenset({2}), frozenset({3})}
    assert keys[0].startswith("D1#") and keys[3].startswith("D2#")


def test_time_order_not_row_order_and_offsets_compared_in_utc():
    items = [
        _item("D1", "2024-05-01T09:00:30+09:00"),  # = 00:00:30Z
        _item("D1", "2024-05-01T08:00:00+08:00"),  # = 00:00:00Z
        _item("D1", "2024-05-01T00:05:00+00:00"),
    ]
    assert _partition(sequence_groups(items, 60, 5)) == {frozenset({0, 1}), frozenset({2})}


def test_frame_numbers_when_a_timestamp_is_missing():
    names = ["IMG_0001.JPG", "IMG_0003.JPG", "IMG_0008.JPG", "IMG_0020.JPG"]  # gaps 2, 5, 12
    items = [_item("D1", "2024-05-01T08:00:00" if i else "", n) for i, n in enumerate(names)]
    assert _partition(sequence_groups(items, 60, 5)) == {frozenset({0, 1, 2}), frozenset({3})}


def test_label_change_starts_a_new_group():
    items = [_item("D1", f"2024-05-01T08:00:0{i}", label=lb) for i, lb in enumerate(["a", "a", "b", "a"])]
    assert _partition(sequence_groups(items, 60, 5)) == {frozenset({0, 1}), frozenset({2}), frozenset({3})}


def test_rows_without_deployment_are_never_merged():
    items = [_item("", "2024-05-01T08:00:00"), _item("", "2024-05-01T08:00:00"), _item("D1", "2024-05-01T08:00:00")]
    keys = sequence_groups(items, 60, 5)
    assert len(set(keys)) == 3


def _groups(sizes: dict[str, list[int]]) -> tuple[list[str], list[str]]:
    """Items per label: label -> sizes of its groups."""
    groups, labels = [], []
    for label, group_sizes in sizes.items():
        for j, n in enumerate(group_sizes):
            groups += [f"{label}#{j}"] * n
            labels += [label] * n
    return groups, labels


def test_grouped_split_counts_and_no_straddling():
    groups, labels = _groups({"a": [1] * 10, "b": [1, 1, 1], "c": [2, 2]})
    splits = grouped_split(groups, labels, val_frac=0.2, test_frac=0.2, seed=7)
    per = Counter((lb, s) for lb, s in zip(labels, splits, strict=True))
    # a: 10 singleton groups -> test until 2 (0.2 * 10), then val until 2, the rest train
    assert (per["a", "test"], per["a", "val"], per["a", "train"]) == (2, 2, 6)
    # b: 3 groups -> one each
    assert (per["b", "test"], per["b", "val"], per["b", "train"]) == (1, 1, 1)
    # c: fewer than 3 groups -> all train
    assert (per["c", "test"], per["c", "val"], per["c", "train"]) == (0, 0, 4)
    for g in set(groups):
        assert len({s for gg, s in zip(groups, splits, strict=True) if gg == g}) == 1


def test_grouped_split_is_deterministic_for_a_seed():
    groups, labels = _groups({"a": [1, 2, 3, 1, 2, 3, 1, 2], "b": [4, 1, 1, 2, 1]})
    first = grouped_split(groups, labels, 0.15, 0.2, seed=42)
    assert grouped_split(groups, labels, 0.15, 0.2, seed=42) == first
    assert set(first) == {"train", "val", "test"}
    assert len({tuple(grouped_split(groups, labels, 0.15, 0.2, seed=s)) for s in range(10)}) > 1  # the seed matters


def test_group_majority_label_decides_stratum():
    # group g0 has two "a" and one "b": it counts as an "a" group; "b" alone has < 3 groups
    groups = ["g0", "g0", "g0", "g1", "g2"]
    labels = ["a", "a", "b", "a", "a"]
    splits = grouped_split(groups, labels, 0.2, 0.2, seed=0)
    assert splits[0] == splits[1] == splits[2]
    assert sorted({splits[0], splits[3], splits[4]}) == ["test", "train", "val"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_split_keeps_at_least_one_group(seed):
    groups, labels = _groups({"a": [5, 1, 1, 1]})
    splits = grouped_split(groups, labels, 0.15, 0.2, seed=seed)
    assert set(splits) == {"train", "val", "test"}
