"""Imported results become out-of-sample calibration pairs (api/import_pairs.py), on SQLite and PostgreSQL.

The synthetic set imitates a user's past fine-tunes on a 4-class task: a model's capability sets the level
a fine-tune reaches, examples × epochs how much of it is learned, and each accuracy carries the sampling
noise of 400 evaluation examples plus run-to-run noise (sd 0.02).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import api.import_pairs as import_pairs_module
from api.calibration import conformal_from_pairs
from api.candidates import candidate_key
from storage.db import session_scope
from storage.models import PredictionRow
from storage.repositories import measurements as measurements_repo
from storage.settings import Settings

TASK = {"name": "ticket-routing", "kind": "classification", "n_choices": 4, "train_examples": 5000}
CAPABILITY = {  # a hand-set order of the models' capability (bigger and newer is better)
    "smollm2-360m": 0.25,
    "qwen2.5-0.5b": 0.35,
    "llama-3.2-1b": 0.4,
    "qwen2.5-1.5b": 0.5,
    "gemma-2-2b": 0.5,
    "llama-3.2-3b": 0.6,
    "mistral-7b-v0.1": 0.7,
    "llama-3.1-8b": 0.78,
    "qwen2.5-7b": 0.8,
}
METHODS: tuple[dict[str, Any], ...] = (
    {"name": "zero_shot"},
    {"name": "icl", "shots": 4},
    {"name": "lora", "rank": 8},
    {"name": "lora", "rank": 16},
    {"name": "qlora", "rank": 16},
    {"name": "ia3"},
    {"name": "full"},
)


def true_accuracy(model: str, method: dict[str, Any], examples: int, epochs: int) -> float:
    chance, cap = 0.25, CAPABILITY[model]
    if method["name"] == "zero_shot":
        return chance + 0.3 * cap * (1 - chance)
    if method["name"] == "icl":
        return chance + 0.45 * cap * (1 - chance)
    learned = 1 - math.exp(-examples * epochs / 800)
    strength = {"ia3": 0.8, "qlora": 0.93}.get(method["name"], 1.0)
    return chance + (0.97 - chance) * math.sqrt(cap) * learned * strength


def past_finetunes(n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` imported results of TASK on random models, methods, data sizes and epochs."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        model = list(CAPABILITY)[int(rng.integers(len(CAPABILITY)))]
        method = METHODS[int(rng.integers(len(METHODS)))]
        examples, epochs = int(rng.choice([100, 300, 1000, 5000])), int(rng.choice([1, 2, 3]))
        truth = true_accuracy(model, method, examples, epochs)
        measured = rng.binomial(400, min(1.0, truth)) / 400 + rng.normal(0.0, 0.02)
        candidate: dict[str, Any] = {"model": model, "method": dict(method)}
        if method["name"] not in ("zero_shot", "icl"):
            candidate["training"] = {"train_examples": examples, "epochs": epochs}
        rows.append(
            {
                "task": TASK["name"],
                "candidate": candidate,
                "accuracy": float(np.clip(measured, 0.0, 1.0)),
                "eval_examples": 400,
                "seed": i,
                "source": "import:our past fine-tunes",
            }
        )
    return rows


def import_pairs(settings: Settings) -> list[PredictionRow]:
    with session_scope(settings.database_url) as session:
        rows = session.scalars(select(PredictionRow).where(PredictionRow.measurement_id.is_not(None))).all()
        session.expunge_all()
        return list(rows)


def test_an_import_stores_each_result_with_the_forecast_a_plan_made_before_it(
    client: TestClient, settings: Settings
) -> None:
    assert client.post("/v1/tasks", json=TASK).status_code == 201
    rows = past_finetunes(12, seed=1)
    rows.append({**rows[0], "seed": 99})  # the same candidate again: its forecast must not see the first
    unaskable = {**rows[1], "candidate": {"model": "my-private-model", "method": {"name": "lora"}}}
    plan = client.post("/v1/plans", json={"task": TASK["name"], "candidates": [r["candidate"] for r in rows]})
    assert plan.status_code == 201, plan.text
    before = {candidate_key(c["candidate"]): c["accuracy"] for c in plan.json()["candidates"]}

    imported = client.post("/v1/measurements", json=[*rows, unaskable])
    assert imported.status_code == 201, imported.text

    pairs = import_pairs(settings)
    assert len(pairs) == len(rows)  # the unknown model is stored, but no plan could have forecast it
    assert {p.measurement_id for p in pairs} == {m["id"] for m in imported.json()[:-1]}
    for pair in pairs:
        planned = before[pair.candidate_key]  # what the plan said before the import, to the digit
        assert pair.tier == planned["tier"] != "measured"
        assert pair.accuracy_mean == pytest.approx(planned["mean"], abs=1e-12)
        lower, upper = planned.get("raw_interval") or (planned["lower"], planned["upper"])
        assert (pair.accuracy_lower, pair.accuracy_upper) == pytest.approx((lower, upper), abs=1e-12)
    after = client.post("/v1/plans", json={"task": TASK["name"], "candidates": [rows[0]["candidate"]]}).json()
    assert after["candidates"][0]["accuracy"]["tier"] == "measured"  # the import is evidence only from now on


def test_importing_the_same_results_again_adds_no_pairs(client: TestClient, settings: Settings) -> None:
    assert client.post("/v1/tasks", json=TASK).status_code == 201
    rows = past_finetunes(6, seed=2)
    headers = {"Idempotency-Key": "past-finetunes-1"}
    assert client.post("/v1/measurements", json=rows, headers=headers).status_code == 201
    assert client.post("/v1/measurements", json=rows, headers=headers).status_code == 201  # the first answer
    assert client.post("/v1/measurements", json=rows).status_code == 201  # stored again, no second pair
    for row in rows:  # one at a time, as a single result posted without a run
        assert client.post("/v1/measurements", json=[row]).status_code == 201
    assert len(import_pairs(settings)) == 6
    assert client.post("/v1/measurements", json=[{**rows[0], "seed": 7}]).status_code == 201  # a new result
    assert len(import_pairs(settings)) == 7


def test_calibration_reports_imported_pairs_and_their_conformal_coverage(
    client: TestClient, settings: Settings
) -> None:
    """240 imported results: /v1/calibration counts them as imports; intervals recalibrated at 0.9 on a random
    half of the pairs cover about 90 % of the other half (binomial sd over 120 held-out rows: 0.027)."""
    assert client.post("/v1/tasks", json=TASK).status_code == 201
    assert client.post("/v1/measurements", json=past_finetunes(240, seed=3)).status_code == 201

    body = client.get("/v1/calibration").json()
    sources = {s["source"]: s for s in body["sources"]}
    assert sources["import"]["n"] == 240 and sources["import"]["n_interval"] == 240 and sources["run"]["n"] == 0
    assert body["overall"]["n"] == 240
    (prior,) = body["conformal"]  # no evidence of the task before: the prior forecast every row
    assert prior["tier"] == "prior" and prior["n_interval_imports"] == 240 and prior["n_interval_runs"] == 0
    assert 0.84 <= prior["coverage_after_held_out"] <= 0.96, prior

    with session_scope(settings.database_url) as session:
        pairs = [p for p in measurements_repo.calibration_pairs(session=session) if p.source == "import"]
        pairs.sort(key=lambda p: p.measurement.seed or 0)  # the rows' own order: the split is the same every run
        order = np.random.default_rng(0).permutation(len(pairs))
        calibration, held_out = [pairs[i] for i in order[:120]], [pairs[i] for i in order[120:]]
        conformal = conformal_from_pairs(calibration)
        lower, upper = conformal.transform(
            [p.prediction.accuracy_mean for p in held_out],
            [p.prediction.accuracy_lower for p in held_out],
            [p.prediction.accuracy_upper for p in held_out],
            [p.prediction.tier for p in held_out],
            0.9,
        )
        measured = np.array([p.measurement.accuracy for p in held_out])
    coverage = float(np.mean((lower <= measured) & (measured <= upper)))
    assert 0.84 <= coverage <= 0.96, coverage


def test_an_import_forecasts_its_first_rows_up_to_the_bound(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_pairs_module, "MAX_FORECASTS_PER_IMPORT", 3)
    assert client.post("/v1/tasks", json=TASK).status_code == 201
    stored = client.post("/v1/measurements", json=past_finetunes(5, seed=4)).json()
    assert len(stored) == 5
    assert {p.measurement_id for p in import_pairs(settings)} == {m["id"] for m in stored[:3]}
