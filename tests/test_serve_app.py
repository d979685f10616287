"""App factory, settings, health, startup behaviour, OpenAPI and the ``python -m serve`` entry point."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from typer.testing import CliRunner

from models.media.errors import BiodivError
from serve import __main__ as entry
from serve.app import create_app
from serve.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_settings_defaults_and_env_prefix(monkeypatch):
    for key in ("DATABASE_URL", "MEDIA_ROOT", "TOP_K", "MAX_UPLOAD_BYTES", "PAGE_SIZE_MAX"):
        monkeypatch.delenv(f"BIODIV_{key}", raising=False)
    s = Settings()
    assert s.database_url == "sqlite:///var/biodiv.db"
    assert (s.image_bundle, s.audio_bundle, s.media_root) == (
        Path("artifacts/image_model_onnx"), Path("artifacts/audio_model_onnx"), Path("var/media"))
    assert (s.max_upload_bytes, s.top_k, s.page_size_max) == (50 * 1024 * 1024, 3, 500)
    monkeypatch.setenv("BIODIV_TOP_K", "2")
    monkeypatch.setenv("BIODIV_MEDIA_ROOT", "/srv/biodiv/media")
    s = Settings()
    assert s.top_k == 2 and s.media_root == Path("/srv/biodiv/media")
    monkeypatch.setenv("BIODIV_TOP_K", "0")
    with pytest.raises(ValueError):
        Settings()


def test_importing_creates_nothing(tmp_path):
    """No engine, settings, database file or model is made at import time."""
    code = ("import serve, serve.app, serve.deps, serve.schemas, serve.uploads, serve.__main__; "
            "from serve.routers import detections, health, media, species, stations")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, env={"PYTHONPATH": str(ROOT)})
    assert list(tmp_path.iterdir()) == []


def test_create_app_is_lazy(tmp_path, bundles):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sub' / 'x.db'}", media_root=tmp_path / "m",
                        image_bundle=bundles["image"][0], audio_bundle=bundles["audio"][0])
    app = create_app(settings)
    assert not (tmp_path / "sub").exists()  # the lifespan, not the factory, opens the database
    with TestClient(app):
        assert (tmp_path / "sub" / "x.db").is_file()


def test_models_never_import_serve():
    for path in (ROOT / "models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "serve" or n.startswith(("serve.", "fastapi", "starlette")) for n in names), path


def test_health_reports_database_and_model_versions(client, bundles):
    body = client.get("/health").json()
    assert body == {"status": "ok", "database": True, "models": {
        "image": bundles["image"][1].model_version, "audio": bundles["audio"][1].model_version}}
    assert body["models"]["image"].startswith("local-")


def test_health_without_bundles(settings):
    none = settings.model_copy(update={"image_bundle": Path("/nonexistent/i"), "audio_bundle": Path("/nonexistent/a")})
    with TestClient(create_app(none)) as c:
        assert c.get("/health").json() == {"status": "ok", "database": True, "models": {"image": None, "audio": None}}


def test_health_when_database_is_gone(client):
    client.app.state.sessions.configure(bind=create_engine("sqlite:////nonexistent-dir/for/sure/db.sqlite"))
    body = client.get("/health").json()
    assert body["database"] is False and body["status"] == "degraded"


def test_invalid_bundle_folder_fails_startup(settings, tmp_path):
    empty = tmp_path / "not_a_bundle"
    empty.mkdir()
    with pytest.raises(BiodivError, match="not a model bundle"):
        with TestClient(create_app(settings.model_copy(update={"image_bundle": empty}))):
            pass


def test_bundle_of_the_wrong_modality_fails_startup(settings, bundles):
    swapped = settings.model_copy(update={"image_bundle": bundles["audio"][0]})
    with pytest.raises(BiodivError, match="expected image"):
        with TestClient(create_app(swapped)):
            pass


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/health", "/v1/detections", "/v1/species", "/v1/stations", "/v1/media", "/v1/events",
            "/v1/deployments", "/v1/stations/{stationID}/stats/counts"} <= set(spec["paths"])
    assert {"201", "200", "413", "415", "422", "503"} <= set(spec["paths"]["/v1/media"]["post"]["responses"])
    params = {p["name"] for p in spec["paths"]["/v1/detections"]["get"]["parameters"]}
    assert {"stationID", "scientificName", "invasive", "modality", "start", "end", "min_probability",
            "limit", "cursor", "sort", "include_total", "format"} <= params
    assert client.get("/docs").status_code == 200


def test_cli_runs_uvicorn_factory(monkeypatch):
    calls = []
    monkeypatch.setattr(entry.uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    result = CliRunner().invoke(entry.cli, [])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(entry.cli, ["--host", "0.0.0.0", "--port", "9000"])
    assert result.exit_code == 0, result.output
    assert calls == [
        (("serve.app:create_app",), {"factory": True, "host": "127.0.0.1", "port": 8000, "reload": False}),
        (("serve.app:create_app",), {"factory": True, "host": "0.0.0.0", "port": 9000, "reload": False}),
    ]
    assert CliRunner().invoke(entry.cli, ["--port", "0"]).exit_code != 0
