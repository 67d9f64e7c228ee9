"""Every operation of the OpenAPI schema, fuzzed by schemathesis on SQLite and on PostgreSQL: valid and
invalid requests, each answer checked against its declaration (status documented, content type, body
schema, headers) and none a 5xx.

One app per backend on a throw-away database serves the whole module, so what one operation stores (a
task, a run) is there for the next. Examples are bounded so both backends finish in a few minutes on two
cores, and derandomized so a run fails only for a change in the app; ``TUNECAST_SCHEMATHESIS_EXAMPLES=500``
explores further, with fresh random examples each time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from storage.settings import Settings
from tests.conftest import _fresh_postgres_database
from tests.factories import embedded_settings

EXPLORE = os.environ.get("TUNECAST_SCHEMATHESIS_EXAMPLES")
MAX_EXAMPLES = int(EXPLORE or "20")
EVENTS_PATH = "/v1/runs/{run_id}/events"
STREAM_CUT_S = 1.0  # an event stream of a run no worker runs never ends: keep what it sent within this
REQUEST_TIMEOUT_S = 60.0  # anything else that takes this long is a hang, not a slow answer
# Every default check runs but this one: valid by the schema is not valid by design. A model, task or law
# is named by id (an unknown one is a 404 or 422 naming it), text may not hold NUL (PostgreSQL cannot store
# it), and cross-field rules (exactly one of candidates or grid, two examples at least) have no JSON Schema.
EXCLUDED_CHECKS = [positive_data_acceptance]


def _settings(root: Path, database_url: str) -> Settings:
    return embedded_settings(root, database_url, max_request_bytes=256 * 1024)


# The schema the app serves at /openapi.json; it does not depend on the database, so one app built
# without a database answers it at collection time, and each backend's app below is checked to agree.
SCHEMA_DOCUMENT = create_app(_settings(Path("/nonexistent"), "sqlite://"), prepare=False).openapi()
# Explicit, so a schemathesis.toml found on the way up from the working directory changes nothing. Invalid
# input may be refused with any 4xx: a too-large one is a 413 before anything reads it.
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": ["4xx"]}}})
schema = schemathesis.openapi.from_dict(SCHEMA_DOCUMENT, config=CONFIG)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def backend_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app on a fresh database of one backend; schemathesis runs its lifespan (migrate + seed) on the
    first request and this fixture ends it before the database is dropped."""
    root = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    urls = (
        iter([f"sqlite:///{(root / 'tunecast.db').as_posix()}"])
        if request.param == "sqlite"
        else _fresh_postgres_database()
    )
    app = create_app(_settings(root, next(urls)))
    assert app.openapi() == SCHEMA_DOCUMENT
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()
        next(urls, None)  # drops the PostgreSQL database


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    derandomize=not EXPLORE,
    print_blob=False,
)
def test_every_operation_answers_as_declared(case: schemathesis.Case, backend_app: Any) -> None:
    timeout = STREAM_CUT_S if case.path == EVENTS_PATH else REQUEST_TIMEOUT_S
    case.call_and_validate(app=backend_app, timeout=timeout, excluded_checks=EXCLUDED_CHECKS)
