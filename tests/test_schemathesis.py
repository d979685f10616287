"""Property-based robustness: schemathesis generates requests from the OpenAPI schema and every
operation must answer without a server error (5xx other than the documented 503), in-process over ASGI."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from models.store.db import make_engine
from models.store.keys import create_key
from serve.app import create_app
from serve.settings import Settings
from tests.serve_helpers import make_bundle, seed_database

#: Generated examples per operation (bounded so CI stays fast; raise locally for a deeper run).
EXAMPLES = 30


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory):
    """A started app on a seeded database, and an admin key (so protected operations are exercised too)."""
    from sqlalchemy.orm import Session

    root = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{root / 'biodiv.db'}"
    seed_database(url)
    engine = make_engine(url)
    with Session(engine) as session:
        token = create_key(session, "admin", "schemathesis").token
    engine.dispose()
    for modality in ("image", "audio"):
        make_bundle(root / f"{modality}_model", modality)
    app = create_app(Settings(database_url=url, media_root=root / "media", image_bundle=root / "image_model",
                              audio_bundle=root / "audio_model"))
    with TestClient(app):  # runs the lifespan (database, models, job runner) for the whole module
        yield app, token


def test_no_server_errors(app_and_key):
    """Every operation, with and without an admin key, over ``EXAMPLES`` generated requests each."""
    app, token = app_and_key
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case):
            for headers in ({}, {"X-API-Key": token}):
                try:  # an unhandled exception in the app propagates from the in-process client: a server error too
                    response = case.call(headers=headers)
                    calls.append(response.status_code)
                    case.validate_response(response, checks=[not_a_server_error])
                except Exception as exc:
                    failures.append(f"{case.method} {case.formatted_path} with {sorted(headers)}: "
                                    f"{type(exc).__name__}: {str(exc)[:300]}")
                    raise

        try:
            check()
        except Exception:  # noqa: BLE001 - hypothesis re-raises the minimal failing example; already recorded
            pass
    assert operations >= 10 and len(calls) >= 10 * operations
    print(f"{operations} operations, {len(calls)} calls, status codes {sorted(set(calls))}")
    assert failures == []
