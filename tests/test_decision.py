"""The one decision path (``models.inference.decision``): privacy, blank, thresholds, roll-up, region, unknown,
and its use by every entry point (frames, events, windows, the database and the exports)."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from types import SimpleNamespace

import numpy as np
import pytest

from models.inference.decision import DecisionPolicy, packaged_regions, policy_for, region_of, score_decisions
from models.inference.detect import make_predictions
from models.inference.events import build_events
from models.media.errors import CatalogueError
from models.taxonomy.catalogue import Catalogue, private_kind
from models.taxonomy.regions import RegionList, RegionMap

# Two frogs of one genus, a deer, a boar, people, vehicles and blank: all in the packaged catalogue.
LABELS = ["Homo sapiens", "Lithobates catesbeianus", "Lithobates clamitans", "Cervus canadensis", "Sus scrofa",
          "blank", "vehicle"]
H, FROG, GREEN, ELK, BOAR, BLANK_, VEH = range(len(LABELS))


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.load()


@pytest.fixture(scope="module")
def policy(catalogue):
    decision = {"thresholds": {"Cervus canadensis": 0.6, "Sus scrofa": 0.7}, "blank_threshold": 0.8}
    return DecisionPolicy(LABELS, catalogue, decision)


def vec(**p):
    out = np.zeros(len(LABELS))
    for name, value in p.items():
        out[globals()[name]] = value
    rest = 1.0 - out.sum()
    assert rest >= -1e-9
    out[out == 0] = rest / max(1, int((out == 0).sum()))
    return out


def test_private_kinds_come_from_the_catalogue_module():
    assert [private_kind(n) for n in ("Homo sapiens", " person ", "VEHICLE", "Sus scrofa", None)] == [
        "human", "human", "vehicle", "", ""]


def test_a_person_makes_the_observation_human_even_when_an_animal_is_more_likely(policy):
    d = policy.decide(vec(BOAR=0.6, H=0.3))
    assert (d.observationType, d.scientificName, d.classificationSource) == ("human", "", "privacy")
    assert d.classificationProbability == pytest.approx(0.32) and not d.isInvasive  # person + vehicle (0.02)
    d = policy.decide(vec(VEH=0.9))
    assert (d.observationType, d.classificationSource) == ("vehicle", "model")
    # below the privacy threshold (0.25 for a bundle without its own) people and vehicles do not decide
    assert policy.decide(vec(BOAR=0.75, H=0.2)).scientificName == "Sus scrofa"
    # the bundle's validation threshold replaces it
    strict = DecisionPolicy(LABELS, policy.catalogue, {"privacy_threshold": 0.1, "blank_threshold": 0.8})
    assert strict.decide(vec(BOAR=0.75, H=0.1, VEH=0.05)).observationType == "human"


def test_blank_needs_the_validation_blank_threshold(policy):
    assert policy.decide(vec(BLANK_=0.85)).observationType == "blank"
    d = policy.decide(vec(BLANK_=0.75, BOAR=0.2))  # blank is top-1 but not sure enough: not hidden
    assert (d.observationType, d.classificationSource, d.top_label) == ("unknown", "threshold-unknown", "blank")


def test_bundle_thresholds_roll_up_and_unknown(policy, catalogue):
    d = policy.decide(vec(ELK=0.65))
    assert (d.scientificName, d.taxonRank, d.classificationSource, d.threshold) == (
        "Cervus canadensis", "species", "model", 0.6)
    # 0.55 < 0.6 for the elk; its order (Artiodactyla: elk + boar) holds 0.55 + 0.3
    d = policy.decide(vec(ELK=0.55, BOAR=0.3))
    sp = catalogue.get("Cervus canadensis")
    assert (d.scientificName, d.taxonRank, d.classificationSource) == (sp.order, "order", "rollup")
    assert d.classificationProbability == pytest.approx(0.85)
    # two frogs of one genus: neither clears 0.5, the genus does (and a genus never raises an alert)
    d = policy.decide(vec(FROG=0.35, GREEN=0.3))
    assert (d.scientificName, d.taxonRank, d.classificationSource, d.isInvasive) == (
        "Lithobates", "genus", "rollup", False)
    assert d.classificationProbability == pytest.approx(0.65)
    # nothing clears anywhere: unknown with the animal top-1's probability
    d = policy.decide(np.array([0.05, 0.2, 0.05, 0.2, 0.3, 0.15, 0.05]))
    assert (d.observationType, d.scientificName, d.classificationSource) == ("unknown", "", "threshold-unknown")
    assert d.classificationProbability == pytest.approx(0.3) and d.top_label == "Sus scrofa"
    assert policy.decide(vec(FROG=0.9)).isInvasive


def test_catalogue_threshold_wins_over_the_bundle(tmp_path, catalogue):
    path = tmp_path / "species.csv"
    rows = resources.files("models.taxonomy").joinpath("data/species.csv").read_text(encoding="utf-8").splitlines()
    assert sum(r.startswith("Sus scrofa,") and r.endswith(",") for r in rows) == 1  # no threshold of its own
    rows = [r + "0.95" if r.startswith("Sus scrofa,") else r for r in rows]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    pol = DecisionPolicy(LABELS, Catalogue.load(path), {"thresholds": {"Sus scrofa": 0.3}})
    assert pol.threshold("Sus scrofa") == 0.95
    assert pol.decide(vec(BOAR=0.9)).classificationSource != "model"


def test_region_rolls_up_to_the_nearest_allowed_ancestor_and_always_allows_invasives(policy, catalogue):
    region = RegionList("test", ["Sus scrofa"])  # no deer, no frogs listed
    # an elk cannot occur here: its nearest ancestor above a listed species is the order (boar's too)
    d = policy.decide(vec(ELK=0.9), region)
    assert (d.scientificName, d.taxonRank, d.classificationSource) == ("Artiodactyla", "order", "region")
    assert d.classificationProbability == pytest.approx(0.9 + vec(ELK=0.9)[BOAR])  # elk + boar
    assert policy.decide(vec(BOAR=0.9), region).classificationSource == "model"
    d = policy.decide(vec(FROG=0.9), region)  # invasive: exactly what is not expected
    assert (d.scientificName, d.classificationSource, d.isInvasive) == ("Lithobates catesbeianus", "model", True)
    # the invasive bullfrog does not open its genus to the green frog: nothing above it is allowed
    d = policy.decide(vec(GREEN=0.9), region)
    assert (d.observationType, d.classificationSource) == ("unknown", "threshold-unknown")
    # a listed family admits every species under it
    assert policy.decide(vec(ELK=0.9), RegionList("deer", ["Cervidae"])).scientificName == "Cervus canadensis"


def test_region_map_deployment_wins_over_station(tmp_path):
    (tmp_path / "regions").mkdir()
    (tmp_path / "regions" / "a.txt").write_text("\ufeffSus scrofa\r\n\r\n  Cervidae \n", encoding="utf-8")
    (tmp_path / "regions" / "b.txt").write_text("Aves\n", encoding="utf-8")
    (tmp_path / "regions.csv").write_text("scope,id,regionList,note\nstation,S1,a.txt,\ndeployment,D9,b.txt,\n")
    regions = RegionMap.load(tmp_path / "regions.csv")
    assert "cervidae" in region_of({"deploymentID": "D1", "stationID": "S1"}, regions)
    assert "Aves" in region_of({"deploymentID": "D9", "stationID": "S1"}, regions)
    assert region_of({"deploymentID": "D2", "stationID": "S2"}, regions) is None
    (tmp_path / "regions.csv").write_text("scope,id,regionList,note\nsite,S1,a.txt,\n")
    with pytest.raises(CatalogueError, match="scope 'site'"):
        RegionMap.load(tmp_path / "regions.csv")
    (tmp_path / "regions.csv").write_text("scope,id,regionList,note\nstation,S1,missing.txt,\n")
    with pytest.raises(CatalogueError, match="missing.txt"):
        RegionMap.load(tmp_path / "regions.csv")
    assert packaged_regions().region_for("any", "any") is None  # the sample stations are not in Jiangsu


def test_invalid_probabilities_are_refused(policy):
    with pytest.raises(ValueError, match="finite vector of 7"):
        policy.decide(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="finite"):
        policy.decide(np.full(len(LABELS), np.nan))


def _clf(decision):
    return SimpleNamespace(labels=LABELS, meta=SimpleNamespace(model_version="t/1", decision=decision))


def test_frames_and_events_share_the_policy(catalogue):
    clf = _clf({"blank_threshold": 0.8})
    media = [{"mediaID": f"m{i}", "deploymentID": "d", "stationID": "s", "filePath": f"{i}.jpg", "modality": "image",
              "timestamp": f"2024-05-01T10:00:0{i}+08:00", "timestampIssues": ""} for i in range(3)]
    probs = np.stack([vec(BLANK_=0.9), vec(FROG=0.35, GREEN=0.3), vec(FROG=0.7)])
    preds = [make_predictions(m, probs[i : i + 1], [(0, 0)], clf, catalogue, 3)[0] for i, m in enumerate(media)]
    assert [(p.observationType, p.scientificName, p.classificationSource, p.isInvasive) for p in preds] == [
        ("blank", "", "model", False), ("animal", "Lithobates", "rollup", False),
        ("animal", "Lithobates catesbeianus", "model", True)]
    assert json.loads(preds[1].topK)[0][0] == "Lithobates catesbeianus"
    (event,), _ = build_events(media, ["m0", "m1", "m2"], probs, LABELS, catalogue, "t/1", 60, 3,
                               policy_for(clf, catalogue))
    # the blank frame is left out; the two frog frames average to 0.525 bullfrog, 0.06 blank, so 0.525 / 0.94
    # once blank is removed: accepted and invasive
    assert (event.observationType, event.scientificName, event.classificationSource, event.isInvasive) == (
        "animal", "Lithobates catesbeianus", "model", True)
    assert event.classificationProbability == pytest.approx(0.525 / 0.94, abs=1e-4)


def test_policy_for_caches_per_catalogue_and_default(catalogue):
    clf = _clf({})
    a, b = policy_for(clf, catalogue), policy_for(clf, catalogue, 0.4)
    assert a is policy_for(clf, catalogue) and a is not b
    assert (a.threshold("Sus scrofa"), b.threshold("Sus scrofa")) == (0.5, 0.4)


def test_score_decisions_counts_what_users_see(policy):
    probs = np.stack([vec(BOAR=0.9), vec(BOAR=0.9), vec(ELK=0.55, BOAR=0.3), vec(FROG=0.35, GREEN=0.3),
                      vec(BLANK_=0.85), vec(BLANK_=0.85), vec(H=0.3, BOAR=0.6), vec(BLANK_=0.3, BOAR=0.3)])
    truth = ["Sus scrofa", "Cervus canadensis", "Cervus canadensis", "Sus scrofa", "blank", "Sus scrofa",
             "Homo sapiens", "vehicle"]
    s = score_decisions(policy, probs, truth)
    assert s["n"] == 8
    assert (s["species_correct"], s["species_wrong"], s["rollup_correct"], s["rollup_wrong"], s["unknown"]) == (
        0.25, 0.125, 0.125, 0.125, 0.125)
    assert s["blank"] == 0.25 and s["blank_recall"] == 1.0 and s["blank_precision"] == 0.5
    assert s["animals_lost_as_blank"] == round(1 / 7, 4)
    assert s["private_recall"] == 0.5 and s["precision_accepted"] == round(3 / 5, 4)


def test_expected_calibration_error():
    from models.learning.metrics import expected_calibration_error

    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    # bin 0.9: accuracy 0.5 vs confidence 0.9; bin 0.6: accuracy 1.0 vs 0.6 -> (0.4 + 0.4) / 2
    assert expected_calibration_error(probs, np.array([0, 1, 0, 0])) == pytest.approx(0.4)
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0
    with pytest.raises(ValueError):
        expected_calibration_error(probs, np.array([0, 1]))


def test_per_source_results_show_a_model_that_names_the_camera():
    from pipeline.stages.evaluate import per_source, split_metrics

    truth = ["Sus scrofa", "Bos taurus", "Sus scrofa", "Sus scrofa", "Bos taurus"]
    pred = ["Sus scrofa", "Bos taurus", "vehicle", "vehicle", "vehicle"]
    src = ["camA", "camA", "camB", "camB", "camB"]
    out = per_source(truth, pred, src)
    assert out == {"camA": {"n": 2, "accuracy": 1.0, "most_predicted": "Bos taurus", "most_predicted_share": 0.5},
                   "camB": {"n": 3, "accuracy": 0.0, "most_predicted": "vehicle", "most_predicted_share": 1.0}}
    head, detail = split_metrics({"test": {"n": 5, "per_class": {}}, "per_source": out, "ece": 0.1})
    assert "per_source" not in head and detail["per_source"] == out and head["ece"] == 0.1


def test_cli_summary_and_megadetector_output_keep_people_and_vehicles_apart_from_blanks():
    from models.inference.detect import Prediction
    from pipeline.classify import ClassifyJob, Summary, megadetector_entries

    def pred(file, otype, name, p):
        return Prediction(mediaID=file, deploymentID="", stationID="", filePath=file, modality="image", start_s=0,
                          end_s=0, eventStart="", scientificName=name, observationType=otype,
                          classificationProbability=p, isInvasive=False,
                          topK=json.dumps([["Cervus canadensis", 0.45], ["vehicle", 0.41]]), modelVersion="v/1")

    preds = [pred("a.jpg", "vehicle", "", 0.42), pred("b.jpg", "unknown", "", 0.3), pred("c.jpg", "blank", "", 0.9),
             pred("d.jpg", "animal", "Cervus canadensis", 0.8), pred("e.jpg", "human", "", 0.6)]
    summary = Summary()
    ClassifyJob._count([dataclasses.asdict(p) for p in preds], summary)
    assert (summary.private, summary.unknown, summary.blank, dict(summary.species)) == (
        2, 1, 1, {"Cervus canadensis": 1})
    assert "people or vehicles (files, kept private): 2" in summary.text()
    md = megadetector_entries(preds, {"Cervus canadensis": "0", "vehicle": "1"})
    assert md["a.jpg"]["detections"] == [{"category": "3", "conf": 0.42, "bbox": [0.0, 0.0, 1.0, 1.0],
                                          "classifications": []}]
    assert md["e.jpg"]["detections"][0]["category"] == "2"
    assert md["b.jpg"]["detections"] == md["c.jpg"]["detections"] == []
    assert md["d.jpg"]["detections"][0]["category"] == "1"


def test_class_confusion_counts_birds_called_frogs():
    from pipeline.stages.evaluate import class_confusion

    truth = ["Passer domesticus", "Passer domesticus", "Passer domesticus", "Lithobates catesbeianus"]
    pred = ["Lithobates catesbeianus", "Lithobates clamitans", "Passer domesticus", "Lithobates catesbeianus"]
    out = class_confusion(truth, pred, Catalogue.load())
    assert out == {"Aves": {"n": 3, "predicted": {"Amphibia": 0.6667, "Aves": 0.3333}},
                   "Amphibia": {"n": 1, "predicted": {"Amphibia": 1.0}}}
