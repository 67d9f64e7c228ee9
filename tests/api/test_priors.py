"""The prior off the request path: fitted once per corpus, refitted in the background when it changes
while the last good prior keeps answering, and equal corpora give equal priors."""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import priors
from api.priors import PRIORS
from predictors.accuracy.features import ModelInfo, Observation
from predictors.accuracy.prior import PriorPredictor
from storage.catalogs import load_models_catalog
from storage.db import get_engine
from storage.models import PredictionRow
from storage.settings import Settings
from tests.api.test_plans import grid

ELSEWHERE = [
    {
        "task": f"elsewhere-{i % 4}",
        "candidate": {"model": model, "method": {"name": "lora", "rank": 8}, "training": {"train_examples": 1000}},
        "accuracy": 0.5 + 0.01 * i,
        "source": "import:test",
    }
    for i, model in enumerate(["qwen2.5-0.5b", "llama-3.1-8b", "qwen2.5-1.5b", "llama-2-7b"] * 5)
]
"""Measurements of other tasks: they reach the support-intent plan only through the prior."""


def _forecasts(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [row["accuracy"] for row in plan["candidates"]]


def _prior_rows(plan: dict[str, Any]) -> set[int]:
    """How many rows the prior behind the plan's prior-tier forecasts was fitted on (their intervals are
    conformally recalibrated once imports have given the prior tier enough pairs)."""
    found = (
        re.fullmatch(r"lightgbm prior \((\d+) measurements\)(, conformal)?", a["predictor"]) for a in _forecasts(plan)
    )
    return {int(m.group(1)) for m in found if m}


def test_the_prior_is_refitted_off_the_request_path_only_when_its_corpus_changes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    PRIORS.wait()  # fits other tests started
    first = client.post("/v1/plans", json=grid()).json()
    fits = PRIORS.n_fits
    (rows,) = _prior_rows(first)
    again = client.post("/v1/plans", json=grid()).json()
    assert PRIORS.n_fits == fits and _forecasts(again) == _forecasts(first)  # same corpus: no fit, same answer

    started, go_on = threading.Event(), threading.Event()
    fit = priors.fit_prior

    def held_fit(*args: Any) -> PriorPredictor | None:
        started.set()
        assert go_on.wait(60)
        return fit(*args)

    monkeypatch.setattr(priors, "fit_prior", held_fit)
    assert client.post("/v1/measurements", json=ELSEWHERE).status_code == 201
    during = client.post("/v1/plans", json=grid())  # answered while the refit is held
    assert during.status_code == 201 and started.wait(30)
    assert _forecasts(during.json()) == _forecasts(first) and PRIORS.n_fits == fits
    go_on.set()
    PRIORS.wait(60)
    assert PRIORS.n_fits == fits + 1
    after = client.post("/v1/plans", json=grid()).json()
    assert _prior_rows(after) == {rows + len(ELSEWHERE)}
    assert PRIORS.n_fits == fits + 1


def test_requests_waiting_for_the_first_fit_hold_no_pooled_connection(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More plans than the pool holds (5 + 10 overflow) wait for a database's first prior at once: each
    hands its connection back first, so none is checked out while the fit runs, and all are answered."""
    from api.app import create_app

    PRIORS.wait()
    go_on = threading.Event()
    fit = priors.fit_prior
    monkeypatch.setattr(priors, "fit_prior", lambda *args: go_on.wait(60) and fit(*args))
    pool = get_engine(settings.database_url).pool
    with TestClient(create_app(settings.model_copy(update={"max_concurrent_plans": 40}))) as client:
        answers: list[int] = []
        threads = [
            threading.Thread(target=lambda: answers.append(client.post("/v1/plans", json=grid()).status_code))
            for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        idle_since, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline and (idle_since is None or time.monotonic() - idle_since < 2):
            idle = pool.checkedout() == 0  # type: ignore[attr-defined]
            idle_since = (idle_since or time.monotonic()) if idle else None
            time.sleep(0.05)
        held_nothing = idle_since is not None
        go_on.set()
        for thread in threads:
            thread.join(120)
    assert held_nothing and answers == [201] * 20


def test_equal_corpora_give_equal_priors_whatever_the_row_order() -> None:
    models = {entry["id"]: ModelInfo.from_catalog(entry) for entry in load_models_catalog()}
    rng = random.Random(0)
    rows = [
        Observation(
            model_id=model,
            method={"name": "lora", "rank": 8},
            task=f"t{i % 3}",
            task_kind="classification",
            n_choices=4,
            accuracy=rng.uniform(0.3, 0.9),
            train_examples=1000,
        )
        for i, model in enumerate(["qwen2.5-0.5b", "llama-3.1-8b", "qwen2.5-1.5b"] * 4)
    ]
    shuffled = rng.sample(rows, len(rows))
    one, other = priors.fit_prior(models, rows), priors.fit_prior(models, shuffled)
    assert one is not None and other is not None
    probe = rows[:4]
    assert (one.predict(probe) == other.predict(probe)).all()


def test_the_fitted_prior_carries_conformal_intervals_from_the_verified_predictions(
    client: TestClient, settings: Settings
) -> None:
    """Twelve prior forecasts whose ±0.02 intervals missed most runs: the next fit's conformal calibration
    widens prior-tier intervals (scale > 1) and leaves the probe tier, which has no pairs, alone."""
    from sqlalchemy.orm import Session

    from tests.api.test_calibration import verified_prediction

    for i in range(12):
        mean = 0.5 + 0.02 * i
        verified_prediction(
            settings, tier="prior", method="lora", mean=mean, lower=mean - 0.02, upper=mean + 0.02, measured=mean + 0.05
        )
    PRIORS.wait()
    with Session(get_engine(settings.database_url)) as session:
        PRIORS.current(session)  # starts the refit of this corpus unless it is the first fit
    PRIORS.wait()
    with Session(get_engine(settings.database_url)) as session:
        fitted = PRIORS.current(session)
    assert fitted.conformal is not None
    scale = fitted.conformal.scale("prior", 0.9)
    assert scale is not None and scale == pytest.approx(0.05 / 0.02)
    assert fitted.conformal.scale("probe", 0.9) is None


def test_plans_use_the_conformal_intervals_of_the_prior_they_are_answered_by(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no verified pairs a plan's intervals are the predictors' own; with twelve prior forecasts whose
    ±0.02 intervals missed their runs by 0.05, the plan's prior-tier half-widths are 2.5 times the raw ones
    (the same plan answered by the same prior without its calibration), centred on the same means."""
    from dataclasses import replace

    from sqlalchemy.orm import Session

    from tests.api.test_calibration import verified_prediction

    PRIORS.wait()
    unpaired = _forecasts(client.post("/v1/plans", json=grid()).json())
    assert not any(a["predictor"].endswith(", conformal") for a in unpaired)
    for i in range(12):
        mean = 0.5 + 0.02 * i
        verified_prediction(
            settings, tier="prior", method="lora", mean=mean, lower=mean - 0.02, upper=mean + 0.02, measured=mean + 0.05
        )
    engine = get_engine(settings.database_url)
    with Session(engine) as session:
        PRIORS.current(session)  # starts the refit of the corpus with the pairs
    PRIORS.wait()
    with Session(engine) as session:
        fitted = PRIORS.current(session)
    calibrated_plan = client.post("/v1/plans", json=grid()).json()
    calibrated = _forecasts(calibrated_plan)
    monkeypatch.setitem(
        PRIORS._fitted, engine.url.render_as_string(hide_password=False), replace(fitted, conformal=None)
    )
    raw = _forecasts(client.post("/v1/plans", json=grid()).json())
    priors_seen = [(c, r) for c, r in zip(calibrated, raw, strict=True) if r["tier"] == "prior"]
    assert priors_seen and not any(r["predictor"].endswith(", conformal") for _, r in priors_seen)
    for c, r in priors_seen:
        half_width = 2.5 * (r["upper"] - r["lower"]) / 2
        assert c["predictor"] == f"{r['predictor']}, conformal" and c["level"] == 0.9
        assert c["mean"] == r["mean"]
        assert c["lower"] == pytest.approx(max(r["mean"] - half_width, 0.0))
        assert c["upper"] == pytest.approx(min(r["mean"] + half_width, 1.0))
    # what is stored to verify is the predictor's own interval: the next calibration scores the predictor
    with Session(engine) as session:
        stored = [session.get(PredictionRow, row["prediction_id"]) for row in calibrated_plan["candidates"]]
    assert [(p.accuracy_lower, p.accuracy_upper) for p in stored if p is not None] == [
        (r["lower"], r["upper"]) for r in raw
    ]
