"""dvc.yaml declares exactly the code each stage runs, so DVC re-runs the right stages and nothing else."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
import yaml

from pipeline.params import load_params

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("models", "pipeline", "serve")


def _module_files(graph, module: str) -> set[str]:
    files = set()
    for m in {module} | graph.find_upstream_modules(module):
        path = Path(*m.split("."))
        if (ROOT / path.with_suffix(".py")).is_file():
            files.add(path.with_suffix(".py").as_posix())
    return files


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_code_deps_are_exactly_the_imported_modules(graph, stage):
    spec = STAGES[stage]
    module = spec["cmd"].split()[2]
    assert spec["cmd"].startswith("python -m pipeline.stages.")
    declared = {d for d in spec["deps"] if d.endswith(".py")}
    assert declared == _module_files(graph, module)
    upstream = graph.find_upstream_modules(module)
    # data files read at run time by the modules they belong to
    assert ("models/taxonomy/data/species.csv" in spec["deps"]) == ("models.taxonomy.catalogue" in upstream)
    assert ("models/store/migrations" in spec["deps"]) == ("models.store.db" in upstream)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_declared_params_exist(stage):
    params = load_params(ROOT / "params.yaml").model_dump()
    for key in STAGES[stage].get("params", []):
        node = params
        for part in key.split("."):
            assert part in node, f"{stage}: params key {key} not in params.yaml"
            node = node[part]


def test_every_declared_dependency_path_exists_or_is_produced():
    produced = {next(iter(o)) if isinstance(o, dict) else o
                for s in STAGES.values() for o in s.get("outs", [])}
    for name, spec in STAGES.items():
        for dep in spec["deps"]:
            if any(dep == p or dep.startswith(p + "/") for p in produced):
                continue  # another stage's output (absent in a fresh clone until `dvc repro`)
            if dep.startswith("data/") and Path(dep + ".dvc").is_file() is False and not Path(dep).is_file():
                # raw data, or pulled from the team remote like it (data/weights.dvc), or a tracked card
                assert dep.startswith("data/raw/"), f"{name}: {dep} is neither raw data nor another stage's output"
            else:
                assert (ROOT / dep).exists(), f"{name}: {dep} does not exist"
