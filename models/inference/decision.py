"""The one decision path: calibrated probabilities -> the label a user sees, and why.

Every entry point (station drops in ``predict`` / ``predict_audio``, uploads and upload jobs in the
service, ``biodiv classify``, camera-trap events, audio windows) turns a model's probability vector
into an observation with :meth:`DecisionPolicy.decide`, so thresholds, roll-up, the regional list, the
privacy rule and the invasive flag (hence alerts) are decided in this module only.

Rules, in order (the first that applies wins); each result records its rule in
``classificationSource``:

1. ``silence``: an audio window below the silence level is ``blank`` (nothing to classify).
   ``speech``: an audio window in which Silero VAD hears people talking (``models.inference.speech``) is
   ``human``, so the recording is never public.
2. ``privacy``/``model``: when the summed probability of the person and vehicle classes (catalogue
   ``private_kind``: ``Homo sapiens``, ``vehicle``, ...) reaches ``privacy_threshold`` (chosen on validation
   data to catch every person and vehicle there, ``models.learning.thresholds.privacy_threshold``; 0.25
   for a bundle without it) the observation is ``human`` / ``vehicle`` (Camtrap DP, the more likely of
   the two) with that summed probability, so its media are never public, even when another class is more
   likely: a missed person is a privacy breach, a hidden animal frame only a delay until review.
   ``model`` when that class is also the top-1 at or above its own threshold.
3. ``model``: ``blank`` when ``p[blank] >= blank_threshold`` (chosen on validation data so that at most
   5 % of animals are lost, ``models.learning.thresholds``).
4. ``model``: the top-1 animal class ``k`` (blank, people and vehicles set aside) is accepted when it is
   allowed in the region and ``p[k] >= threshold(k)``.
5. ``region``: when ``k`` cannot occur in the deployment's region (``models.taxonomy.regions``) it is replaced by
   its nearest ancestor that can (genus -> family -> order -> class) whose summed probability (all
   classes under that ancestor) clears ``threshold(k)`` (SpeciesNet's geofence roll-up). Invasive species
   are always allowed: they are exactly what is not expected.
6. ``rollup``: below its threshold, ``k`` rolls up the catalogue's taxonomy (ancestors allowed in the
   region only) while the summed probability of the classes under the ancestor stays below
   ``threshold(k)``; the first ancestor that clears it is the answer (``taxonRank`` genus, family,
   order or class).
7. ``threshold-unknown``: nothing clears, the observation is ``unknown`` (Camtrap DP) with the top-1
   class kept in ``topK``.

``threshold(k)`` is the catalogue's ``detectionThreshold`` for ``k`` when set (a curator's decision
wins), else the per-class threshold stored in the bundle (``bundle.json`` ``decision``, chosen on
validation data for a target precision), else ``default_threshold``. The invasive flag (and so an
alert) is only ever set on an accepted invasive species: a window or frame below its threshold is
rolled up or unknown and never raises an alert.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models.taxonomy.catalogue import (
    BLANK,
    DEFAULT_DETECTION_THRESHOLD,
    Catalogue,
    Species,
    private_kind,
)
from models.taxonomy.regions import RegionList, RegionMap

#: Default of a class threshold when neither the catalogue nor the bundle gives one.
DEFAULT_THRESHOLD = DEFAULT_DETECTION_THRESHOLD
#: Default probability of a person / vehicle class that makes an observation private.
PRIVACY_THRESHOLD = 0.25
#: Rank names of the roll-up, nearest first.
ROLLUP_RANKS = ("genus", "family", "order", "class")
#: Every ``classificationSource`` value this module writes (``human`` is written by a reviewer).
SOURCES = ("model", "privacy", "rollup", "region", "threshold-unknown", "silence", "speech", "human")


@functools.cache
def packaged_regions() -> RegionMap:
    """The packaged ``models/taxonomy/data/regions.csv`` (read once per process)."""
    return RegionMap.load()


def region_of(media: Mapping, regions: RegionMap | None = None) -> RegionList | None:
    """The regional list of a media row's deployment (else station), from ``regions`` or the packaged map.

    Raises:
        CatalogueError: the packaged map is malformed (``RegionMap.load``).
    """
    regions = packaged_regions() if regions is None else regions
    return regions.region_for(media.get("deploymentID", ""), media.get("stationID", ""))


@dataclass(frozen=True)
class Decision:
    """The observation decided for one probability vector.

    Attributes:
        observationType: Camtrap DP ``animal``, ``human``, ``vehicle``, ``blank`` or ``unknown``.
        scientificName: accepted taxon (species or higher); ``''`` for human, vehicle, blank and
            unknown (Camtrap DP: those observation types carry no taxon; the review path keeps the same rule).
        taxonRank: Darwin Core rank of ``scientificName`` (``species``, ``genus``, ...), ``''`` when none.
        classificationProbability: probability of the answer in [0, 1] (summed over the classes under
            a rolled-up taxon; for ``unknown`` the top-1 class's probability).
        classificationSource: the rule that produced it (:data:`SOURCES`).
        isInvasive: an accepted invasive species (raises an alert).
        threshold: the threshold the top-1 class had to clear.
        top_label: the model's top-1 label (blank included) before any rule.
    """

    observationType: str
    scientificName: str
    taxonRank: str
    classificationProbability: float
    classificationSource: str
    isInvasive: bool
    threshold: float
    top_label: str


def lineage(sp: Species | None, label: str) -> list[tuple[str, str]]:
    """``[(rank, name), ...]`` of the ancestors of ``label``, nearest first (genus, family, order, class).

    The genus is the first word of a species (or ``sp.``/``spp.``) name; ranks the catalogue leaves empty
    are skipped. A label not in the catalogue has no ancestors.
    """
    if sp is None:
        return []
    out = []
    words = sp.scientificName.split()
    if sp.taxonRank in ("species", "subspecies", "speciesComplex") or (len(words) == 2 and words[1] in ("sp.", "spp.")):
        out.append(("genus", words[0]))
    for rank, name in (("family", sp.family), ("order", sp.order), ("class", sp.class_)):
        if name and name != sp.scientificName:
            out.append((rank, name))
    return out


class DecisionPolicy:
    """Thresholds, roll-up, region and privacy rules for one classifier (see the module docstring).

    Args:
        labels: the classifier's ordered labels (``K``).
        catalogue: taxonomy, invasive status and curator thresholds.
        decision: the bundle's ``decision`` block (``models.learning.thresholds.decision_block``);
            empty for an old bundle (then blank needs ``blank_threshold`` 0.5 and classes ``default_threshold``).
        default_threshold: class threshold when neither catalogue nor bundle sets one.
        privacy_threshold: probability of a person / vehicle class that makes the observation private.

    Raises:
        ValueError: thresholds outside [0, 1].
    """

    def __init__(self, labels: list[str], catalogue: Catalogue, decision: dict | None = None,
                 default_threshold: float = DEFAULT_THRESHOLD, privacy_threshold: float = PRIVACY_THRESHOLD) -> None:
        if not (0 <= default_threshold <= 1 and 0 <= privacy_threshold <= 1):
            raise ValueError("default_threshold and privacy_threshold must be in [0, 1]")
        decision = decision or {}
        self.labels = list(labels)
        self.catalogue = catalogue
        # chosen on validation data when the bundle has it (models.learning.thresholds.privacy_threshold)
        self.privacy_threshold = float(decision.get("privacy_threshold", privacy_threshold))
        self.blank_index = self.labels.index(BLANK) if BLANK in self.labels else -1
        self.blank_threshold = float(decision.get("blank_threshold", 0.5))
        bundle_thr = decision.get("thresholds", {})
        self.species = [catalogue.get(lab) if lab != BLANK else None for lab in self.labels]
        self.thresholds = np.empty(len(self.labels))
        for i, lab in enumerate(self.labels):
            sp = self.species[i]
            if sp is not None and sp.detectionThreshold is not None:
                self.thresholds[i] = sp.detectionThreshold
            else:
                self.thresholds[i] = float(bundle_thr.get(lab, default_threshold))
        if not np.all((self.thresholds >= 0) & (self.thresholds <= 1)):
            raise ValueError("class thresholds must be in [0, 1]")
        self.private = [private_kind(lab) for lab in self.labels]
        self.invasive = [lab != BLANK and catalogue.is_invasive(lab) for lab in self.labels]
        self.lineages = [lineage(sp, lab) for sp, lab in zip(self.species, self.labels, strict=True)]
        self.animal = np.array([i != self.blank_index and not self.private[i] for i in range(len(self.labels))])
        self._under_cache: dict[str, np.ndarray] = {}

    def threshold(self, label: str) -> float:
        """The threshold of ``label`` (module docstring); ``default`` rules for a label not in the model.

        Raises:
            KeyError: ``label`` is not one of the classifier's labels.
        """
        return float(self.thresholds[self.labels.index(label)])

    def _listed(self, i: int, region: RegionList) -> bool:
        # the label or one of its ancestors is on the list (a listed family admits all its species)
        return self.labels[i] in region or any(name in region for _, name in self.lineages[i])

    def _allowed(self, i: int, region: RegionList | None) -> bool:
        return region is None or self.invasive[i] or self._listed(i, region)

    def _ancestor_allowed(self, name: str, region: RegionList | None) -> bool:
        # an ancestor is a possible answer when listed itself or above a listed class (an invasive
        # class is always allowed itself but does not open its genus or family to others)
        if region is None or name in region:
            return True
        return any(self._listed(j, region) and any(a == name for _, a in self.lineages[j])
                   for j in np.flatnonzero(self.animal))

    def _under(self, name: str) -> np.ndarray:
        if name not in self._under_cache:
            self._under_cache[name] = np.array([bool(self.animal[j]) and any(a == name for _, a in self.lineages[j])
                                                for j in range(len(self.labels))])
        return self._under_cache[name]

    def _rank(self, i: int) -> str:
        sp = self.species[i]
        return (sp.taxonRank if sp is not None else "") or "species"

    def decide(self, probs: np.ndarray, region: RegionList | None = None, silent: bool = False,
               speech: float = 0.0) -> Decision:
        """Decide one ``(K,)`` probability vector (module docstring).

        Args:
            probs: calibrated probabilities in label order (sum 1).
            region: the deployment's regional list, or None for no restriction.
            silent: the audio window is silent (rule 1).
            speech: the window's speech score from ``models.inference.speech`` (0 = no speech); above 0 the
                window is ``human`` (``classificationSource`` ``speech``, rule 1b) with that probability.

        Raises:
            ValueError: ``probs`` is not a finite vector of length ``K``.
        """
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (len(self.labels),) or not np.all(np.isfinite(p)):
            raise ValueError(f"probs must be a finite vector of {len(self.labels)} probabilities, got shape {p.shape}")
        top = int(p.argmax())
        top_label = self.labels[top]
        if silent:
            return Decision("blank", "", "", 1.0, "silence", False, self.blank_threshold, top_label)
        if speech > 0:
            return Decision("human", "", "", round(float(min(speech, 1.0)), 6), "speech", False,
                            self.privacy_threshold, top_label)
        private = [i for i in range(len(p)) if self.private[i]]
        mass = float(p[private].sum()) if private else 0.0
        if private and mass >= self.privacy_threshold:
            i = max(private, key=lambda j: p[j])
            kind = self.private[i]
            src = "model" if i == top and p[i] >= self.thresholds[i] else "privacy"
            return Decision(kind, "", "", round(min(mass, 1.0), 6), src, False, float(self.thresholds[i]), top_label)
        if self.blank_index >= 0 and p[self.blank_index] >= self.blank_threshold:
            return Decision("blank", "", "", round(float(p[self.blank_index]), 6), "model", False,
                            self.blank_threshold, top_label)
        if not self.animal.any():
            return Decision("unknown", "", "", round(float(p[top]), 6), "threshold-unknown", False, 1.0, top_label)
        masked = np.where(self.animal, p, -1.0)
        k = int(masked.argmax())
        thr = float(self.thresholds[k])
        if self._allowed(k, region):
            if p[k] >= thr:
                return Decision("animal", self.labels[k], self._rank(k), round(float(p[k]), 6), "model",
                                self.invasive[k], thr, top_label)
            source = "rollup"
        else:
            source = "region"
        for rank, name in self.lineages[k]:
            if not self._ancestor_allowed(name, region):
                continue
            mass = float(p[self._under(name)].sum())
            if mass >= thr:
                return Decision("animal", name, rank, round(min(mass, 1.0), 6), source,
                                self.catalogue.is_invasive(name), thr, top_label)
        return Decision("unknown", "", "", round(float(p[k]), 6), "threshold-unknown", False, thr, top_label)

    def decide_many(self, probs: np.ndarray, region: RegionList | None = None,
                    silent: np.ndarray | None = None) -> list[Decision]:
        """:meth:`decide` for each row of ``(N, K)`` probabilities (``silent``: optional ``(N,)`` bool)."""
        return [self.decide(row, region, bool(silent[i]) if silent is not None else False)
                for i, row in enumerate(np.asarray(probs))]


def policy_for(classifier, catalogue: Catalogue, default_threshold: float | None = None) -> DecisionPolicy:
    """The :class:`DecisionPolicy` of a loaded classifier (PyTorch or ONNX bundle): its labels and the
    ``decision`` block of its ``bundle.json``, cached on the classifier per catalogue and default.

    Args:
        classifier: anything with ``labels`` and ``meta.decision`` (``models.learning.bundle.Classifier``,
            ``models.learning.onnx_bundle.OnnxClassifier``).
        catalogue: taxonomy, invasive status, curator thresholds.
        default_threshold: threshold of a class neither catalogue nor bundle sets; None =
            :data:`DEFAULT_THRESHOLD`.

    Raises:
        ValueError: a threshold outside [0, 1].
    """
    default = DEFAULT_THRESHOLD if default_threshold is None else float(default_threshold)
    cache = classifier.__dict__.setdefault("_decision_policies", {})
    key = (id(catalogue), default)
    hit = cache.get(key)
    if hit is None or hit.catalogue is not catalogue:
        hit = cache[key] = DecisionPolicy(list(classifier.labels), catalogue,
                                          getattr(classifier.meta, "decision", None) or {}, default)
    return hit


def score_decisions(policy: DecisionPolicy, probs: np.ndarray, y_true: list[str]) -> dict:
    """What users will see on labelled data: the decision path applied to ``(N, K)`` test probabilities.

    Outcome shares (of ``N``): ``species_correct`` / ``species_wrong`` (a species or person / vehicle
    answer), ``rollup_correct`` / ``rollup_wrong`` (a higher taxon that is / is not an ancestor of the
    true label), ``unknown``, and blank answers. ``precision_accepted``: correct share of the answers
    that name a species or higher taxon. ``animals_lost_as_blank``: share of non-blank items decided
    blank (the blank threshold's target is at most 5 %). ``blank_recall``/``blank_precision`` of the
    decided blanks. ``private_recall``: share of true person / vehicle items decided ``human`` /
    ``vehicle`` (their media are never public). Keys with no items are None.

    Raises:
        ValueError: ``probs`` rows do not match ``y_true`` or the policy's labels.
    """
    probs = np.asarray(probs)
    if probs.shape[0] != len(y_true):
        raise ValueError(f"{probs.shape[0]} probability rows for {len(y_true)} labels")
    counts = dict.fromkeys(("species_correct", "species_wrong", "rollup_correct", "rollup_wrong", "unknown",
                            "blank_correct", "blank_wrong"), 0)
    private_total = private_hit = animals = lost = 0
    for row, truth in zip(probs, y_true, strict=True):
        d = policy.decide(row)
        kind = private_kind(truth)
        if d.observationType == "blank":
            counts["blank_correct" if truth == BLANK else "blank_wrong"] += 1
        elif d.observationType == "unknown":
            counts["unknown"] += 1
        elif d.observationType in ("human", "vehicle"):
            counts["species_correct" if d.observationType == kind else "species_wrong"] += 1
        elif d.classificationSource in ("rollup", "region"):
            anc = policy.lineages[policy.labels.index(truth)] if truth in policy.labels else []
            counts["rollup_correct" if any(n == d.scientificName for _, n in anc) else "rollup_wrong"] += 1
        else:
            counts["species_correct" if d.scientificName == truth else "species_wrong"] += 1
        if kind:
            private_total += 1
            private_hit += d.observationType == kind
        if truth != BLANK:
            animals += 1
            lost += d.observationType == "blank"
    n = len(y_true)
    blank_true = sum(t == BLANK for t in y_true)
    decided_blank = counts["blank_correct"] + counts["blank_wrong"]
    accepted = sum(counts[k] for k in ("species_correct", "species_wrong", "rollup_correct", "rollup_wrong"))

    def share(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {"n": n, **{k: share(v, n) for k, v in counts.items() if not k.startswith("blank_")},
            "blank": share(decided_blank, n),
            "precision_accepted": share(counts["species_correct"] + counts["rollup_correct"], accepted),
            "animals_lost_as_blank": share(lost, animals), "blank_recall": share(counts["blank_correct"], blank_true),
            "blank_precision": share(counts["blank_correct"], decided_blank),
            "private_recall": share(private_hit, private_total)}
