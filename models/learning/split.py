"""Leak-free train/validation/test splits: whole groups (sequences, recordings) go to one split.

Frames of one burst or windows of one recording are near-duplicates; splitting them across train
and test inflates scores (zamba's site-specific splits, Beery et al. 2018 "Recognition in Terra
Incognita"). Groups are formed per deployment and never span deployments.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from datetime import datetime

_FRAME_NO = re.compile(r"(\d+)(?!.*\d)")


def sequence_groups(items: list[dict], gap_s: float, gap_frames: int) -> list[str]:
    """Group camera-trap frames into sequences, per deployment.

    Frames are ordered by timestamp when every frame of the deployment has one (a new sequence
    starts when the gap to the previous frame exceeds ``gap_s``), else by the last number in the
    file name (a new sequence starts when frame numbers jump by more than ``gap_frames``). With
    labelled items a change of ``label`` also starts a new group (a run of one class). Frames
    without a deployment each form their own group.

    Args:
        items: dicts with ``deploymentID``, ``timestamp`` (ISO 8601 or empty), ``fileName`` and
            optionally ``label``.

    Returns:
        One group key per item, ``<deploymentID>#<n>``.
    """
    keys = [""] * len(items)
    by_dep: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        if it.get("deploymentID"):
            by_dep[it["deploymentID"]].append(i)
        else:
            keys[i] = f"#single-{i}"
    for dep, idx in by_dep.items():
        stamps = [items[i].get("timestamp") or "" for i in idx]
        if all(stamps):
            pos = {i: datetime.fromisoformat(s).timestamp() for i, s in zip(idx, stamps, strict=True)}
            gap = gap_s
        else:
            pos = {}
            for i in idx:
                m = _FRAME_NO.search(items[i].get("fileName", ""))
                pos[i] = float(m.group(1)) if m else float("nan")
            gap = gap_frames
        order = sorted(idx, key=lambda i: (pos[i] != pos[i], pos[i]))
        n, prev = 0, None
        for i in order:
            label = items[i].get("label", "")
            if prev is not None and (not (pos[i] - prev[0] <= gap) or label != prev[1]):
                n += 1
            keys[i] = f"{dep}#{n}"
            prev = (pos[i], label)
    return keys


def grouped_split(groups: list[str], labels: list[str], val_frac: float, test_frac: float,
                  seed: int) -> list[str]:
    """Assign ``train``/``val``/``test`` per group, stratified by each group's majority label.

    Per label, groups are shuffled and taken in turn for test until ``test_frac`` of the label's
    items is reached, then for validation up to ``val_frac``, the rest for training; with at least
    3 groups, test and validation get at least one group each and train keeps at least one. Labels
    with fewer than 3 groups stay in train (they cannot be evaluated without leaking).
    Deterministic for a seed.

    Returns:
        One split name per item.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    majority = {g: Counter(labels[i] for i in idx).most_common(1)[0][0] for g, idx in members.items()}
    by_label: dict[str, list[str]] = defaultdict(list)
    for g in sorted(members):
        by_label[majority[g]].append(g)
    rng = random.Random(seed)
    split_of: dict[str, str] = {}
    for label in sorted(by_label):
        gs = by_label[label]
        rng.shuffle(gs)
        if len(gs) < 3:
            split_of.update({g: "train" for g in gs})
            continue
        total = sum(len(members[g]) for g in gs)
        taken = {"test": 0, "val": 0}
        for j, g in enumerate(gs):
            left = len(gs) - j
            if not taken["test"] or (taken["test"] + len(members[g]) / 2 <= test_frac * total and left > 2):
                split = "test"
            elif not taken["val"] or (taken["val"] + len(members[g]) / 2 <= val_frac * total and left > 1):
                split = "val"
            else:
                split = "train"
            if split in taken:
                taken[split] += len(members[g])
            split_of[g] = split
    return [split_of[g] for g in groups]
