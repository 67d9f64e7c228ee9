"""POST/GET /v1/plans: costed, forecast candidates, a recommendation under budget, re-prediction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storage.db import session_scope
from storage.repositories.measurements import create_measurements
from storage.settings import Settings

TASK = {"name": "support-intent", "kind": "classification", "n_choices": 4, "train_examples": 5000}


def grid(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": TASK,
        "grid": {
            "models": ["qwen2.5-0.5b", "llama-3.1-8b"],
            "methods": [{"name": "lora", "rank": 16}, {"name": "icl", "shots": 8}, {"name": "zero_shot"}],
            "hardware": [{"gpu": "H100-SXM", "count": 1}],
            "training": [{"micro_batch_size": 4, "seq_len": 512, "epochs": 2}],
        },
    }
    body.update(overrides)
    return body


def test_create_and_read_a_plan(client: TestClient) -> None:
    response = client.post("/v1/plans", json=grid())
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["n_candidates"] == 6 and len(plan["candidates"]) == 6
    for row in plan["candidates"]:
        accuracy = row["accuracy"]
        assert accuracy["tier"] in {"prior", "probe", "measured"} and accuracy["predictor"]
        assert 0 <= accuracy["lower"] <= accuracy["mean"] <= accuracy["upper"] <= 1
        assert row["total_usd"] >= 0
    recommended = plan["recommendation"]
    best = max(r["accuracy"]["mean"] for r in plan["candidates"] if r["fits"])
    assert recommended["accuracy"]["mean"] == best
    assert recommended["expected_regret"] >= 0
    beaten = max((p["probability_beats_recommendation"] for p in plan["probes_to_buy"]), default=0.0)
    assert 0 < recommended["probability_best"] <= 1 - beaten + 1e-9  # no rival beats it more often than it wins
    frontier_costs = [plan["candidates"][i]["total_usd"] for i in plan["frontier"]]
    assert frontier_costs == sorted(frontier_costs)
    assert plan["exhaustive_cost_usd"] > 0
    again = client.get(f"/v1/plans/{plan['id']}").json()
    assert again["recommendation"]["index"] == recommended["index"]
    listed = client.get("/v1/plans").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == plan["id"]


def test_budget_moves_the_recommendation(client: TestClient) -> None:
    open_plan = client.post("/v1/plans", json=grid()).json()
    cheapest = min(r["total_usd"] for r in open_plan["candidates"])
    tight = client.post("/v1/plans", json=grid(budget={"max_usd": cheapest * 1.0001})).json()
    assert tight["recommendation"]["total_usd"] <= cheapest * 1.0001


def test_budget_picks_give_the_pick_under_any_budget_a_client_tries(client: TestClient) -> None:
    """What the UI's budget slider shows, from the plan alone: under a max_usd budget B the pick is the last
    step with from_usd <= B; each is the recommendation a plan with that budget makes."""
    body = grid()
    body["grid"]["hardware"] = [{"gpu": "H100-SXM"}, {"gpu": "L4"}]
    plan = client.post("/v1/plans", json=body).json()
    rows = {r["index"]: r for r in plan["candidates"]}
    steps = plan["budget_picks"]
    assert steps and [s["from_usd"] for s in steps] == sorted(s["from_usd"] for s in steps)
    assert steps[-1]["index"] == plan["recommendation"]["index"]  # no budget: the top step is the pick
    for step in steps:
        assert rows[step["index"]]["fits"] and rows[step["index"]]["total_usd"] == step["from_usd"]
        budgeted = client.post("/v1/plans", json={**body, "budget": {"max_usd": step["from_usd"]}}).json()
        assert budgeted["recommendation"]["index"] == step["index"]
        # its runner-up: the most accurate other strategy (not the pick on other hardware) within the budget
        pick = rows[step["index"]]["candidate"]
        for runner in step["runners_up"]:
            others = [
                r
                for r in plan["candidates"]
                if r["fits"]
                and r["total_usd"] <= runner["from_usd"]
                and (r["candidate"]["method"], r["candidate"]["model"]) != (pick["method"], pick["model"])
            ]
            best = min(others, key=lambda r: (-r["accuracy"]["mean"], r["total_usd"], r["index"]))
            assert runner["index"] == best["index"] and step["from_usd"] <= runner["from_usd"]


def test_budget_below_every_candidate_makes_a_plan_that_says_so(client: TestClient) -> None:
    response = client.post("/v1/plans", json=grid(budget={"max_usd": 1e-9}))
    assert response.status_code == 201
    plan = response.json()
    assert plan["recommendation"] is None and plan["probes_to_buy"] == []
    cheapest = min(r["total_usd"] for r in plan["candidates"] if r["fits"])
    infeasible = plan["infeasible"]
    assert infeasible["field"] == "budget.max_usd" and infeasible["max_usd"] == 1e-9
    assert infeasible["cheapest_fitting_usd"] == cheapest
    assert infeasible["detail"] == f"nothing fits under $1e-09; the cheapest that fits costs ${cheapest:.4g}"
    unlimited = client.post("/v1/plans", json=grid()).json()
    assert plan["bands"] == unlimited["bands"] and unlimited["infeasible"] is None
    assert client.get(f"/v1/plans/{plan['id']}").json()["infeasible"] == infeasible


def test_no_candidate_fitting_its_hardware_makes_a_plan_that_says_so(client: TestClient) -> None:
    body = grid(budget={"max_usd": 5})
    body["grid"].update(models=["llama-3.1-8b"], methods=[{"name": "full"}], hardware=[{"gpu": "L4", "count": 1}])
    response = client.post("/v1/plans", json=body)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["recommendation"] is None and not any(r["fits"] for r in plan["candidates"])
    infeasible = plan["infeasible"]
    assert infeasible["field"] == "grid.candidates" and infeasible["cheapest_fitting_usd"] is None
    assert infeasible["detail"].startswith("nothing fits under $5: no candidate fits its hardware's memory")
    assert "llama-3.1-8b full on L4" in infeasible["detail"]


def test_unknown_model_in_grid(client: TestClient) -> None:
    body = grid()
    body["grid"]["models"] = ["gpt-7"]
    response = client.post("/v1/plans", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/grid/models/0"


def test_candidates_and_grid_are_exclusive(client: TestClient) -> None:
    both = grid(candidates=[{"model": "qwen2.5-0.5b", "method": {"name": "zero_shot"}}])
    assert client.post("/v1/plans", json=both).status_code == 422
    neither = {"task": TASK}
    assert "exactly one" in client.post("/v1/plans", json=neither).json()["detail"]


def test_empty_grid_is_rejected(client: TestClient) -> None:
    body = grid()
    body["grid"]["methods"] = []
    response = client.post("/v1/plans", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/grid/methods"


def test_plan_is_repredicted_when_a_measurement_arrives(client: TestClient, settings: Settings) -> None:
    plan = client.post("/v1/plans", json=grid()).json()
    target = next(r for r in plan["candidates"] if r["candidate"]["method"]["name"] == "zero_shot")
    assert target["accuracy"]["tier"] != "measured"
    with session_scope(settings.database_url) as session:
        create_measurements(
            session=session,
            values=[
                {
                    "task": TASK["name"],
                    "model_id": target["candidate"]["model"],
                    "method_name": "zero_shot",
                    "candidate": target["candidate"],
                    "accuracy": 0.4321,
                    "source": "import:test",
                }
            ],
        )
    updated = client.get(f"/v1/plans/{plan['id']}").json()
    row = next(r for r in updated["candidates"] if r["index"] == target["index"])
    assert row["accuracy"]["tier"] == "measured"
    assert row["accuracy"]["mean"] == 0.4321


def test_plan_with_a_stored_task(client: TestClient) -> None:
    task = client.post("/v1/tasks", json={"name": "stored-task", "kind": "multiple_choice", "chance_accuracy": 0.25})
    assert task.status_code == 201, task.text
    plan = client.post("/v1/plans", json=grid(task=task.json()["id"]))
    assert plan.status_code == 201, plan.text
    assert plan.json()["task"]["name"] == "stored-task"
    missing = client.post("/v1/plans", json=grid(task="no-such-task"))
    assert missing.status_code == 404


def test_plan_with_an_inline_model(client: TestClient) -> None:
    from tests.factories import llama_config

    body = {
        "task": TASK,
        "candidates": [
            {"model": {"id": "my-llama", "architecture": llama_config()}, "method": {"name": "lora", "rank": 8}},
            {"model": "llama-2-7b", "method": {"name": "lora", "rank": 8}},
        ],
    }
    plan = client.post("/v1/plans", json=body)
    assert plan.status_code == 201, plan.text
    inline, catalog = plan.json()["candidates"]
    assert inline["cost"]["trainable_params"] == catalog["cost"]["trainable_params"]
    assert inline["accuracy"]["tier"] == "prior"


def test_every_listed_candidate_has_a_stored_prediction(client: TestClient, settings: Settings) -> None:
    from storage.models import PredictionRow

    plan = client.post("/v1/plans", json=grid()).json()
    ids = [row["prediction_id"] for row in plan["candidates"]]
    assert len(set(ids)) == len(ids) == plan["n_candidates"]
    assert plan["recommendation"]["prediction_id"] in ids
    with session_scope(settings.database_url) as session:
        stored = session.get(PredictionRow, ids[0])
        assert stored is not None and stored.plan_id == plan["id"]
        assert stored.accuracy_mean == plan["candidates"][0]["accuracy"]["mean"]


# ---------------------------------------------------------------- one task, joined by id and by name


def _icl_probes(client: TestClient, task: str, model: str = "qwen2.5-0.5b") -> None:
    """0/1/16-shot probes of one model on ``task`` (an id or a name), imported as a user would."""
    rows = [
        {
            "task": task,
            "candidate": {
                "model": model,
                "method": {"name": "zero_shot"} if shots == 0 else {"name": "icl", "shots": shots},
            },
            "accuracy": accuracy,
            "source": "import:probes",
        }
        for shots, accuracy in ((0, 0.31), (1, 0.52), (16, 0.64))
    ]
    assert client.post("/v1/measurements", json=rows).status_code == 201


def _icl_forecast(plan: dict[str, Any], model: str = "qwen2.5-0.5b") -> dict[str, Any]:
    row = next(
        r for r in plan["candidates"] if r["candidate"]["model"] == model and r["candidate"]["method"]["name"] == "icl"
    )
    return dict(row["accuracy"])


def test_measurements_named_by_task_id_reach_a_plan_of_that_task(client: TestClient) -> None:
    task = client.post("/v1/tasks", json={"name": "support-intent", "kind": "classification", "n_choices": 4}).json()
    _icl_probes(client, task["id"])
    for reference in (task["id"], task["name"]):
        forecast = _icl_forecast(client.post("/v1/plans", json=grid(task=reference)).json())
        assert forecast["tier"] == "probe" and forecast["predictor"].startswith("icl_shots"), (reference, forecast)
    inline = _icl_forecast(client.post("/v1/plans", json=grid()).json())  # the same name, given inline
    assert inline["tier"] == "probe"


def test_measurements_named_by_task_name_reach_a_plan_by_task_id(client: TestClient) -> None:
    task = client.post("/v1/tasks", json={"name": "support-intent", "kind": "classification", "n_choices": 4}).json()
    _icl_probes(client, "support-intent")
    stored = client.get("/v1/measurements", params={"task": task["id"]}).json()
    assert stored["total"] == 3 and {m["task_id"] for m in stored["items"]} == {task["id"]}
    assert _icl_forecast(client.post("/v1/plans", json=grid(task=task["id"])).json())["tier"] == "probe"


def test_another_task_of_the_same_name_keeps_its_own_measurements(client: TestClient) -> None:
    first = client.post("/v1/tasks", json={"name": "intent", "kind": "classification", "n_choices": 4}).json()
    second = client.post("/v1/tasks", json={"name": "intent", "kind": "classification", "n_choices": 4}).json()
    _icl_probes(client, first["id"])
    assert _icl_forecast(client.post("/v1/plans", json=grid(task=first["id"])).json())["tier"] == "probe"
    assert _icl_forecast(client.post("/v1/plans", json=grid(task=second["id"])).json())["tier"] == "prior"
    ambiguous = client.post("/v1/plans", json=grid(task="intent"))  # two tasks share the name: only ids tell
    assert ambiguous.status_code == 404 and ambiguous.json()["errors"][0]["pointer"] == "#/task"


def test_the_tasks_training_set_size_reaches_the_cost_model(client: TestClient) -> None:
    body = {
        "task": TASK,  # train_examples 5000
        "candidates": [
            {"model": "qwen2.5-0.5b", "method": {"name": "lora"}, "training": {"micro_batch_size": 8}},
            {
                "model": "qwen2.5-0.5b",
                "method": {"name": "lora"},
                "training": {"micro_batch_size": 8, "train_examples": 800},
            },
            {
                "model": "qwen2.5-0.5b",
                "method": {"name": "lora"},
                "training": {"micro_batch_size": 8, "data_fraction": 0.1},
            },
        ],
    }
    rows = client.post("/v1/plans", json=body).json()["candidates"]
    assert [r["cost"]["train_steps"] for r in rows] == [625, 100, 63]
    assert rows[0]["candidate"]["training"]["train_examples"] == 5000
    assert not any("train_examples not given" in a for a in rows[0]["cost"]["assumptions"])
    stored = client.post("/v1/tasks", json={"name": "sized", "kind": "classification", "train_examples": 2000}).json()
    steps = client.post("/v1/plans", json={**body, "task": stored["id"]}).json()["candidates"][0]["cost"]["train_steps"]
    assert steps == 250


# ---------------------------------------------------------------- canonical candidates


def test_a_methods_defaults_make_equal_configurations_one_candidate(client: TestClient) -> None:
    body = grid()
    body["grid"]["methods"] = [
        {"name": "icl"},
        {"name": "icl", "shots": 8},
        {"name": "lora"},
        {"name": "lora", "rank": 16},
    ]
    plan = client.post("/v1/plans", json=body).json()
    assert plan["n_candidates"] == 4  # two models x {icl 8 shots, lora r16}
    listed = client.post(
        "/v1/plans",
        json={
            "task": TASK,
            "candidates": [
                {"model": "qwen2.5-0.5b", "method": {"name": "icl"}},
                {"model": "qwen2.5-0.5b", "method": {"name": "icl", "shots": 8}},
            ],
        },
    ).json()
    first, second = listed["candidates"]
    assert first["candidate"] == second["candidate"] and first["candidate"]["method"]["shots"] == 8
    assert first["accuracy"] == second["accuracy"]


# ---------------------------------------------------------------- versions, and calibration that lasts


def test_every_re_prediction_is_a_version_saying_what_triggered_it(client: TestClient) -> None:
    plan = client.post("/v1/plans", json=grid()).json()
    assert (plan["version"], plan["latest_version"]) == (1, 1)
    assert [v["trigger"] for v in plan["versions"]] == [{"reason": "created"}]
    before = _icl_forecast(plan)
    _icl_probes(client, TASK["name"])
    updated = client.get(f"/v1/plans/{plan['id']}").json()
    assert updated["version"] == 2 and len(updated["versions"]) == 2
    latest = updated["versions"][-1]
    assert latest["trigger"]["reason"] == "new measurements" and latest["trigger"]["n_measurements"] == 3
    assert {m["method"] for m in latest["trigger"]["measurements"]} == {"zero_shot", "icl"}
    moved = {m["label"]: m for m in latest["changed"]["moved"]}
    icl = moved["qwen2.5-0.5b · icl shots 8 · 1× H100-SXM"]
    assert icl["from"]["mean"] == before["mean"] and icl["to"]["tier"] == "probe"
    assert latest["changed"]["n_moved"] >= 1
    again = client.get(f"/v1/plans/{plan['id']}").json()
    assert again["version"] == 2  # nothing new: no new version
    first = client.get(f"/v1/plans/{plan['id']}", params={"version": 1}).json()
    assert first["version"] == 1 and first["latest_version"] == 2 and _icl_forecast(first) == before
    missing = client.get(f"/v1/plans/{plan['id']}", params={"version": 9})
    assert missing.status_code == 404 and missing.json()["errors"][0]["parameter"] == "version"


def _probe(client: TestClient, task: str, shots: int, accuracy: float, model: str = "qwen2.5-0.5b") -> str:
    """One few-shot probe of ``model`` on ``task``, imported; its measurement id."""
    method = {"name": "zero_shot"} if shots == 0 else {"name": "icl", "shots": shots}
    row = {
        "task": task,
        "candidate": {"model": model, "method": method},
        "accuracy": accuracy,
        "source": "import:probes",
    }
    response = client.post("/v1/measurements", json=[row])
    assert response.status_code == 201, response.text
    return str(response.json()[0]["id"])


def test_a_new_probe_of_the_task_is_named_by_the_forecast_it_moved(client: TestClient) -> None:
    """Issue #12 item 6: a version says which evidence moved which forecast."""
    old = [_probe(client, TASK["name"], shots, accuracy) for shots, accuracy in ((0, 0.31), (1, 0.52), (16, 0.64))]
    plan = client.post("/v1/plans", json=grid()).json()
    forecast = _icl_forecast(plan)
    assert forecast["tier"] == "probe" and set(forecast["evidence"]) == set(old) and forecast["n_evidence"] == 3
    new = _probe(client, TASK["name"], 4, 0.70)
    latest = client.get(f"/v1/plans/{plan['id']}").json()["versions"][-1]
    moved = {m["label"]: m for m in latest["changed"]["moved"]}
    because = moved["qwen2.5-0.5b · icl shots 8 · 1× H100-SXM"]["because"]
    assert because["kind"] == "evidence" and [m["id"] for m in because["measurements"]] == [new]
    brief = because["measurements"][0]
    assert brief == {
        "id": new,
        "task": TASK["name"],
        "model": "qwen2.5-0.5b",
        "method": "icl",
        "source": "import:probes",
        "setting": "icl shots 4",
        "new": True,
    }
    assert because["text"] == f"because of probe {new} (icl shots 4, qwen2.5-0.5b, import:probes)"
    for other in latest["changed"]["moved"]:  # the other model's forecasts rest on none of qwen's probes
        if not other["label"].startswith("qwen2.5-0.5b"):
            assert new not in [m["id"] for m in other["because"]["measurements"]]


def test_measurements_of_another_task_are_attributed_to_the_retrained_prior(
    client: TestClient, settings: Settings
) -> None:
    from api.priors import PRIORS
    from tests.factories import unrelated_task

    plan = client.post("/v1/plans", json=grid()).json()
    rows = [
        {
            "task": o.task,
            "candidate": {
                "model": o.model_id,
                "method": dict(o.method),
                "training": {"train_examples": o.train_examples},
            },
            "accuracy": o.accuracy,
            "source": o.source,
        }
        for o in unrelated_task(3, n=30)
    ]
    assert client.post("/v1/measurements", json=rows).status_code == 201
    with session_scope(settings.database_url) as session:
        PRIORS.current(session)  # starts the refit on the changed corpus
    PRIORS.wait(120)
    updated = client.get(f"/v1/plans/{plan['id']}").json()
    moved = updated["versions"][-1]["changed"]["moved"] if updated["version"] == 2 else []
    assert moved, "30 measurements of another task retrain the prior: some prior forecast moves, if slightly"
    for forecast in moved:
        because = forecast["because"]
        assert because["kind"] in {"prior", "calibration"} and because["measurements"] == [], forecast
        assert "(30 measurements of other tasks)" in because["text"]
    assert any(f["because"]["text"].startswith("prior retrained on a changed corpus") for f in moved)


def test_a_verified_prediction_survives_re_prediction(client: TestClient, settings: Settings) -> None:
    from storage.models import PredictionRow
    from storage.repositories import runs as runs_repo

    plan = client.post("/v1/plans", json=grid()).json()
    row = next(r for r in plan["candidates"] if r["candidate"]["method"]["name"] == "lora")
    with session_scope(settings.database_url) as session:
        run, _ = runs_repo.create_run(
            session=session,
            values={
                "kind": "finetune",
                "candidate": row["candidate"],
                "prediction_id": row["prediction_id"],
                "plan_id": plan["id"],
            },
            idempotency_key=None,
        )
        runs_repo.finish_run(
            session=session,
            run_id=run.id,
            status=runs_repo.SUCCEEDED,
            result={},
            measurement={
                "task": TASK["name"],
                "model_id": row["candidate"]["model"],
                "method_name": "lora",
                "candidate": row["candidate"],
                "accuracy": 0.7,
            },
        )
    assert client.get("/v1/calibration").json()["overall"]["n"] == 1
    reopened = client.get(f"/v1/plans/{plan['id']}").json()
    assert reopened["version"] == 2
    verified = next(r for r in reopened["candidates"] if r["candidate"] == row["candidate"])
    assert verified["accuracy"]["tier"] == "measured" and verified["prediction_id"] != row["prediction_id"]
    with session_scope(settings.database_url) as session:
        assert session.get(PredictionRow, row["prediction_id"]) is not None
    calibration = client.get("/v1/calibration").json()
    assert calibration["overall"]["n"] == 1 and calibration["overall"]["accuracy_mae"] is not None


def test_two_readers_re_predicting_at_once_store_one_version(client: TestClient, settings: Settings) -> None:
    from api import planning
    from api.schemas.plans import PlanRequest
    from storage.repositories import plans as plans_repo

    plan = client.post("/v1/plans", json=grid()).json()
    _icl_probes(client, TASK["name"])
    with session_scope(settings.database_url) as first, session_scope(settings.database_url) as second:
        rows = [plans_repo.get_plan(session=s, plan_id=plan["id"]) for s in (first, second)]
        request = PlanRequest.model_validate(rows[0].request)
        for session, row in zip((first, second), rows, strict=True):
            result, predictions = planning.compute_plan(session, request)
            stored = plans_repo.add_plan_version(
                session=session, plan=row, result=result, predictions=predictions, trigger={}, changed={}
            )
            assert stored.version == 2
        assert [v.version for v in plans_repo.list_plan_versions(session=second, plan_id=plan["id"])] == [1, 2]


def test_every_candidate_as_columns_on_request(client: TestClient) -> None:
    body = grid()
    body["grid"]["hardware"] = [{"gpu": "H100-SXM"}, {"gpu": "L4"}]
    plan = client.post("/v1/plans", params={"columns": "true"}, json=body).json()
    columns = plan["candidate_columns"]
    n = plan["n_candidates"]
    assert n == 12 and all(len(columns[k]) == n for k in ("model", "total_usd", "accuracy_mean", "tier", "fits"))
    axes = columns["axes"]
    assert axes["models"] == ["qwen2.5-0.5b", "llama-3.1-8b"] and len(axes["hardware"]) == 2
    for row in plan["candidates"]:
        i = row["index"]
        assert axes["models"][columns["model"][i]] == row["candidate"]["model"]
        assert axes["methods"][columns["method"][i]] == row["candidate"]["method"]
        assert axes["hardware"][columns["hardware"][i]] == row["candidate"]["hardware"]
        assert columns["total_usd"][i] == row["total_usd"] and columns["fits"][i] == row["fits"]
        assert columns["accuracy_mean"][i] == row["accuracy"]["mean"] and columns["tier"][i] == row["accuracy"]["tier"]
        assert columns["peak_memory_bytes"][i] == pytest.approx(row["cost"]["peak_memory_bytes"], abs=1)
    assert client.get(f"/v1/plans/{plan['id']}").json()["candidate_columns"] is None  # not stored with the plan


# ---------------------------------------------------------------- at most max_concurrent_plans at once


@dataclass
class _HeldPlans:
    """A client whose plan computations, once :meth:`hold` is called, wait for ``go_on`` (``started`` says one has)."""

    client: TestClient
    started: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)
    holding: bool = False

    def hold(self) -> None:
        self.holding = True


@contextmanager
def _held_plans(settings: Settings, monkeypatch: pytest.MonkeyPatch, **limits: Any) -> Iterator[_HeldPlans]:
    from api import planning
    from api.app import create_app

    compute = planning.compute_plan

    def held(*args: Any, **kwargs: Any) -> Any:
        if plans.holding:
            plans.started.set()
            assert plans.go_on.wait(60)
        return compute(*args, **kwargs)

    monkeypatch.setattr(planning, "compute_plan", held)
    with TestClient(create_app(settings.model_copy(update=limits)), raise_server_exceptions=False) as client:
        plans = _HeldPlans(client)
        try:
            yield plans
        finally:
            plans.go_on.set()


def test_plans_past_the_limit_get_503_with_retry_after(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.test_gate import example

    with _held_plans(settings, monkeypatch, max_concurrent_plans=1, plan_wait_s=0.0) as held:
        client = held.client
        stale = client.post("/v1/plans", json=grid()).json()
        _icl_probes(client, TASK["name"])  # the plan is now stale: reading it re-predicts
        held.hold()
        first: list[Any] = []
        holder = threading.Thread(target=lambda: first.append(client.post("/v1/plans", json=grid())))
        holder.start()
        assert held.started.wait(30)
        for refused in (
            client.post("/v1/plans", json=grid()),
            client.get(f"/v1/plans/{stale['id']}"),
            client.post("/v1/gate", json=example("gate-pass.yaml")),
        ):
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "2"
            assert refused.headers["content-type"] == "application/problem+json"
            assert "TUNECAST_MAX_CONCURRENT_PLANS" in refused.json()["detail"]
        assert (
            client.get(f"/v1/plans/{stale['id']}", params={"version": 1}).status_code == 200
        )  # a past version: no plan
        held.go_on.set()
        holder.join(60)
        assert first[0].status_code == 201
        assert client.get(f"/v1/plans/{stale['id']}").json()["version"] == 2  # the slot came back


def test_plans_past_the_limit_queue_for_a_slot_in_turn(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with _held_plans(settings, monkeypatch, max_concurrent_plans=1, plan_wait_s=60.0) as held:
        client = held.client
        client.post("/v1/plans", json=grid())  # the first prior, fitted before anything is held
        held.hold()
        answers: list[int] = []
        threads = [
            threading.Thread(target=lambda: answers.append(client.post("/v1/plans", json=grid()).status_code))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        assert held.started.wait(30)
        limit = client.app.state.plans  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while limit.n_waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (limit.active, limit.n_waiting) == (1, 2)
        held.go_on.set()
        for thread in threads:
            thread.join(60)
        assert answers == [201, 201, 201] and (limit.active, limit.n_waiting) == (0, 0)
