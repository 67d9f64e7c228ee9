"""/v1/calibration: error and interval coverage from predictions verified by runs.

The numbers here are hand-checked; a real worker run changing it is in
``tests/workers/test_runs_end_to_end.py``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from storage.db import session_scope
from storage.models import MeasurementRow, PredictionRow, RunRow
from storage.repositories import runs as runs_repo
from storage.settings import Settings


def verified_prediction(
    settings: Settings,
    *,
    tier: str,
    method: str,
    mean: float,
    lower: float,
    upper: float,
    measured: float,
    predicted_memory: int | None = None,
    measured_memory: int | None = None,
    ran_on: dict[str, object] | None = None,
) -> None:
    """A prediction, a run that verifies it, and the run's measurement (as a worker would finish it)."""
    with session_scope(settings.database_url) as session:
        prediction = PredictionRow(
            candidate_key=method,
            candidate={"method": {"name": method}, "hardware": {"gpu": "H100-SXM", "count": 1}},
            tier=tier,
            predictor="test",
            accuracy_mean=mean,
            accuracy_lower=lower,
            accuracy_upper=upper,
            cost={"peak_memory_bytes": predicted_memory} if predicted_memory else {},
        )
        session.add(prediction)
        session.commit()
        run, _ = runs_repo.create_run(
            session=session,
            values={"kind": "finetune", "candidate": {}, "prediction_id": prediction.id, "options": {}},
            idempotency_key=None,
        )
        runs_repo.finish_run(
            session=session,
            run_id=run.id,
            status=runs_repo.SUCCEEDED,
            result={},
            measurement={
                "task": "t",
                "model_id": "m",
                "method_name": method,
                "candidate": {"hardware": ran_on or {"gpu": "H100-SXM", "count": 1, "device": "cuda"}},
                "accuracy": measured,
                "peak_memory_bytes": measured_memory,
            },
        )


def test_calibration_is_empty_without_verified_predictions(client: TestClient) -> None:
    body = client.get("/v1/calibration").json()
    assert body["overall"]["n"] == 0 and body["overall"]["accuracy_mae"] is None and body["groups"] == []
    assert body["interval_level"] == 0.9 and body["conformal"] == []


def test_calibration_groups_error_and_coverage_by_tier_and_method(client: TestClient, settings: Settings) -> None:
    verified_prediction(
        settings,
        tier="prior",
        method="lora",
        mean=0.8,
        lower=0.7,
        upper=0.9,
        measured=0.75,
        predicted_memory=1200,
        measured_memory=1000,
    )
    verified_prediction(settings, tier="prior", method="lora", mean=0.6, lower=0.55, upper=0.65, measured=0.7)
    verified_prediction(settings, tier="probe", method="full", mean=0.9, lower=0.85, upper=0.95, measured=0.9)
    body = client.get("/v1/calibration").json()
    assert body["overall"]["n"] == 3
    groups = {(g["tier"], g["method"]): g for g in body["groups"]}
    lora = groups[("prior", "lora")]
    assert lora["n"] == 2
    assert lora["accuracy_mae"] == pytest.approx((0.05 + 0.1) / 2)
    assert lora["accuracy_bias"] == pytest.approx((0.05 - 0.1) / 2)
    assert lora["interval_coverage"] == pytest.approx(0.5)
    assert lora["peak_memory_relative_error"] == pytest.approx(0.2) and lora["n_memory"] == 1
    full = groups[("probe", "full")]
    assert full["accuracy_mae"] == pytest.approx(0.0) and full["interval_coverage"] == 1.0
    assert body["overall"]["interval_coverage"] == pytest.approx(2 / 3)


def test_a_cpu_run_checks_accuracy_but_not_the_gpu_memory_prediction(client: TestClient, settings: Settings) -> None:
    cpu = {"gpu": None, "count": 0, "device": "cpu", "device_name": "x86_64"}
    verified_prediction(
        settings,
        tier="prior",
        method="lora",
        mean=0.8,
        lower=0.7,
        upper=0.9,
        measured=0.75,
        predicted_memory=1200,
        measured_memory=900_000_000,  # the CPU worker's resident set, not an H100's allocation
        ran_on=cpu,
    )
    lora = client.get("/v1/calibration").json()["groups"][0]
    assert lora["n_accuracy"] == 1 and lora["accuracy_mae"] == pytest.approx(0.05)
    assert lora["n_memory"] == 0 and lora["peak_memory_relative_error"] is None


def test_finish_run_writes_one_measurement_even_when_repeated(client: TestClient, settings: Settings) -> None:
    verified_prediction(settings, tier="prior", method="lora", mean=0.8, lower=0.7, upper=0.9, measured=0.75)
    with session_scope(settings.database_url) as session:
        run = session.scalars(select(RunRow)).one()
        again = runs_repo.finish_run(
            session=session,
            run_id=run.id,
            status=runs_repo.FAILED,
            result={"late": True},
            measurement={"task": "t", "model_id": "m", "method_name": "lora", "candidate": {}, "accuracy": 0.1},
        )
        assert again.status == runs_repo.SUCCEEDED and "late" not in again.result
    assert client.get("/v1/calibration").json()["overall"]["n"] == 1
    assert client.get("/v1/measurements").json()["total"] == 1


def test_calibration_of_one_task_by_its_id_or_its_name(client: TestClient, settings: Settings) -> None:
    task = client.post("/v1/tasks", json={"name": "t", "kind": "classification"}).json()
    verified_prediction(settings, tier="prior", method="lora", mean=0.8, lower=0.7, upper=0.9, measured=0.75)
    with session_scope(settings.database_url) as session:
        (measurement,) = session.scalars(select(MeasurementRow)).all()
        measurement.task_id = task["id"]
        session.commit()
    for reference in (task["id"], "t"):
        assert client.get("/v1/calibration", params={"task": reference}).json()["overall"]["n"] == 1, reference
    assert client.get("/v1/calibration", params={"task": "another"}).json()["overall"]["n"] == 0


def test_calibration_shows_coverage_before_and_after_conformal_calibration(
    client: TestClient, settings: Settings
) -> None:
    """30 prior forecasts with ±0.02 intervals for errors of ±0.05 (none inside): held out 5 folds at a
    time, intervals rescaled from the other pairs cover them all; the probe tier has too few pairs."""
    for i in range(30):
        mean = 0.4 + 0.01 * i
        error = 0.05 if i % 2 else -0.05
        verified_prediction(
            settings,
            tier="prior",
            method="lora",
            mean=mean,
            lower=mean - 0.02,
            upper=mean + 0.02,
            measured=mean + error,
        )
    verified_prediction(settings, tier="probe", method="full", mean=0.9, lower=0.85, upper=0.95, measured=0.9)
    conformal = {row["tier"]: row for row in client.get("/v1/calibration").json()["conformal"]}
    prior = conformal["prior"]
    assert prior["n_interval"] == 30 and prior["coverage_before"] == 0.0
    assert prior["coverage_after_held_out"] == 1.0
    assert prior["half_width_scale"] == pytest.approx(0.05 / 0.02)
    assert conformal["probe"]["coverage_before"] == 1.0 and conformal["probe"]["half_width_scale"] is None
    assert conformal["probe"]["coverage_after_held_out"] == 1.0  # below 10 pairs: left as predicted
