"""Which weights a run loads, and that they are the model it claims: resolved under the model roots,
refused outside them, checked against the catalog before training; the measurement says what really ran."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from storage.migrate import upgrade
from storage.settings import Settings
from tests.factories import embedded_settings
from tests.workers.conftest import classification_rows
from tests.workers.test_run_kinds import load, make_run
from workers.finetune import run_finetune
from workers.runtime import execute_run


@pytest.fixture
def rooted(tmp_path: Path, tiny_model_dir: Path) -> Settings:
    """A migrated SQLite database and a single model root holding the tiny model as ``tiny-root/``."""
    root = tmp_path / "root"
    shutil.copytree(tiny_model_dir, root / "tiny-root")
    settings = embedded_settings(tmp_path, model_dirs=str(root))
    upgrade(settings.database_url)
    return settings


def test_a_model_id_resolves_under_the_roots_and_the_measurement_says_what_ran(rooted: Settings) -> None:
    run_id = make_run(rooted, Path("unused"), classification_rows(), model="tiny-root")
    assert execute_run(None, run_id, "finetune", run_finetune, settings=rooted) == "succeeded"
    run, measurements, _ = load(rooted, run_id)
    assert run.result["model"]["path"] == str(rooted.model_roots[0] / "tiny-root")
    assert run.result["model"]["source"] == f"root:{rooted.model_roots[0]}"
    (measurement,) = measurements
    assert measurement.model_id == "tiny-root" and measurement.task == "t" and measurement.task_id == run.task_id
    assert measurement.candidate["hardware"]["device"] == "cpu" and measurement.candidate["hardware"]["gpu"] is None
    assert measurement.candidate["training"]["train_examples"] == 30  # the split it trained on (40 rows, 10 test)


def test_a_model_id_no_root_holds_fails_the_run_saying_where_it_looked(rooted: Settings) -> None:
    run_id = make_run(rooted, Path("unused"), classification_rows(), model="not-here")
    assert execute_run(None, run_id, "finetune", run_finetune, settings=rooted) == "failed"
    run, measurements, _ = load(rooted, run_id)
    assert run.error is not None and run.error.startswith("candidate.model: model 'not-here' is not on this worker")
    assert str(rooted.model_roots[0]) in run.error and measurements == []


def test_a_path_outside_the_roots_is_never_opened(rooted: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(rooted, tiny_model_dir, classification_rows())  # the tiny model's own directory: outside
    assert execute_run(None, run_id, "finetune", run_finetune, settings=rooted) == "failed"
    run, measurements, _ = load(rooted, run_id)
    assert run.error is not None and run.error.startswith("candidate.model.path:"), run.error
    assert "outside the model roots" in run.error and measurements == []


def test_a_symlink_out_of_a_root_is_refused(rooted: Settings, tiny_model_dir: Path) -> None:
    link = rooted.model_roots[0] / "sneaky"
    os.symlink(tiny_model_dir, link)
    run_id = make_run(rooted, link, classification_rows())
    assert execute_run(None, run_id, "finetune", run_finetune, settings=rooted) == "failed"
    assert "outside the model roots" in (load(rooted, run_id)[0].error or "")


def test_weights_that_are_not_the_claimed_catalog_model_fail_before_training(rooted: Settings) -> None:
    """The tiny test model presented as qwen2.5-0.5b: no measurement of qwen2.5-0.5b is recorded."""
    path = rooted.model_roots[0] / "tiny-root"
    run_id = make_run(rooted, path, classification_rows(), model={"id": "qwen2.5-0.5b", "path": str(path)})
    assert execute_run(None, run_id, "finetune", run_finetune, settings=rooted) == "failed"
    run, measurements, events = load(rooted, run_id)
    assert run.error is not None and run.error.startswith("candidate.model: the weights at"), run.error
    assert "are not 'qwen2.5-0.5b'" in run.error and "hidden_size 32, not 896" in run.error
    assert "parameters, not 494,032,768" in run.error
    assert measurements == [] and not [e for e in events if e["kind"] == "progress"]


def test_weights_that_match_a_given_architecture_run(rooted: Settings, tiny_model_dir: Path) -> None:
    import json

    config = json.loads((tiny_model_dir / "config.json").read_text())
    path = rooted.model_roots[0] / "tiny-root"
    model = {"id": "my-tiny", "path": str(path), "architecture": config}
    run_id = make_run(rooted, path, classification_rows(), model=model)
    assert execute_run(None, run_id, "finetune", run_finetune, settings=rooted) == "succeeded"


def test_a_model_another_live_worker_has_is_handed_back_to_the_queue(rooted: Settings) -> None:
    from storage.db import session_scope
    from storage.repositories import workers as workers_repo

    with session_scope(rooted.database_url) as session:
        workers_repo.register_worker(
            session=session,
            name="tunecast-gpu@big-box",
            values={
                "boot_id": "b",
                "hostname": "big-box",
                "pid": 1,
                "queues": ["gpu"],
                "versions": {},
                "model_roots": ["/models"],
                "models": [
                    {"id": "llama-3.1-8b", "path": "/models/llama-3.1-8b", "format": "hf", "source": "root:/models"}
                ],
                "hardware": {"device": "cuda"},
            },
        )
    run_id = make_run(rooted, Path("unused"), classification_rows(), model="llama-3.1-8b")
    assert execute_run(None, run_id, "finetune", run_finetune, settings=rooted) == "queued"
    run, measurements, events = load(rooted, run_id)
    assert run.status == "queued" and run.handoffs == 1 and measurements == []
    assert "'llama-3.1-8b' is not on this worker" in events[-1]["handed_off"]
