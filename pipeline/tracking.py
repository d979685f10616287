"""MLflow run logging for training stages: params within MLflow's limits, metrics, artifacts, registry.

MLflow rejects param values over 500 characters (``MAX_PARAM_VAL_LENGTH``, mlflow/mlflow #10512);
long values are logged shortened with a visible marker and a digest, and the full value is saved
as a JSON artifact, so nothing is lost and no ``MlflowException`` escapes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.params import TrackingParams

log = logging.getLogger(__name__)

MAX_PARAM_CHARS = 500
TRUNCATION_MARKER = "...[truncated; full value in artifact {name}.json, sha256 {digest}]"


CODE_PATHS = ("models", "pipeline", "dvc.yaml", "pyproject.toml")


def code_version(repo: str | Path = ".") -> str:
    """Git commit of the code (``<sha>-dirty`` when files under :data:`CODE_PATHS` have uncommitted
    changes; ``unknown`` outside git). ``dvc.lock`` and ``reports/``, which a run rewrites, do not count."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                               cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def files_hash(paths: list[str | Path]) -> str:
    """SHA-256 over the bytes of the given files, in order (the training data's identity)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def flatten(d: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested mapping -> ``{"a.b": value}``."""
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def safe_params(params: Mapping[str, object]) -> tuple[dict[str, str], dict[str, object]]:
    """Split params into values MLflow accepts and full values to store as artifacts.

    Returns:
        ``(logged, overflow)``: every logged value is at most :data:`MAX_PARAM_CHARS` characters;
        ``overflow`` maps each shortened key to its full original value.
    """
    logged, overflow = {}, {}
    for key, value in flatten(params).items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(text) <= MAX_PARAM_CHARS:
            logged[key] = text
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        marker = TRUNCATION_MARKER.format(name=key, digest=digest)
        logged[key] = text[: MAX_PARAM_CHARS - len(marker)] + marker
        overflow[key] = value
    return logged, overflow


@contextmanager
def training_run(cfg: TrackingParams, run_name: str, params: Mapping[str, object],
                 tags: Mapping[str, str]) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run and log params (shortened where needed, full values as artifacts) and tags."""
    mlflow.set_tracking_uri(cfg.uri)
    mlflow.set_experiment(cfg.experiment)
    with mlflow.start_run(run_name=run_name) as run:
        logged, overflow = safe_params(params)
        mlflow.log_params(logged)
        for key, value in overflow.items():
            mlflow.log_dict(value, f"{key}.json")
        mlflow.set_tags(dict(tags))
        yield run


def register_bundle(run: mlflow.ActiveRun, bundle_dir: str | Path, name: str) -> str:
    """Log the bundle folder as the run's ``bundle`` artifact and register it as a new model version.

    Returns:
        The registry version (``"3"``), or ``""`` if the tracking store has no model registry.
    """
    mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
    client = MlflowClient()
    try:
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name, description="biodiv-obs species classifier bundle")
        mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/bundle", run_id=run.info.run_id)
        return str(mv.version)
    except MlflowException as exc:
        log.warning("model registry unavailable (%s); bundle stays unregistered", exc)
        return ""


def log_json(obj: object, artifact_file: str) -> None:
    """Log a JSON-serialisable object as an artifact of the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp, Path(artifact_file).name)
        p.write_text(json.dumps(obj, indent=2, ensure_ascii=False))
        mlflow.log_artifact(str(p), str(Path(artifact_file).parent) if "/" in artifact_file else None)
