"""Where one plan's time goes with 10,000 stored measurements (issue #14's plan-load goal, p95 <= 3 s).

The store of ``benchmarks/plan_load.py`` (10,000 measurements, 100 per task) on the embedded SQLite, the
refitted prior answering; then ``POST /v1/plans``' work (``api.planning.create_plan`` and the answer's
``Plan`` model) for 20 plans of those tasks in this process, one after another, then the same 20 again
(their tasks' probe laws memoised: ``predictors.accuracy.tiers.fit_shot_curve``): timed, then under
cProfile (20 other tasks' first plans, then those again), whose cumulative times are given as shares of
the profiled total (cProfile slows Python code more than scipy's, so the shares, not its times, are the
figure).

Run: ``.venv/bin/python benchmarks/plan_profile.py``
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from api import planning  # noqa: E402
from api.app import create_app  # noqa: E402
from api.routes import plans as plan_routes  # noqa: E402
from api.schemas.plans import PlanRequest  # noqa: E402
from benchmarks.plan_load import BATCH, measurements, plan_body  # noqa: E402
from benchmarks.plan_load import N_PLANS as N_TASKS  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.settings import Settings  # noqa: E402
from tests.factories import embedded_settings  # noqa: E402

N_PLANS = 20
PARTS = {  # what a share is reported for: a function, by its file's path (or "" for any file) and name
    "probe tier: scaling-law fits (scaling/base.py fit)": ("scaling/base.py", "fit"),
    "accuracy forecasts, all tiers (predict_accuracies)": ("", "predict_accuracies"),
    "inputs: task, candidates, costs, prior, measurements (load_plan_inputs)": ("", "load_plan_inputs"),
    "  the prior's corpus version (api/priors.py current)": ("api/priors.py", "current"),
    "  the measurements watermark (measurements_watermark)": ("", "measurements_watermark"),
    "  the task's own measurements (prediction_measurements)": ("", "prediction_measurements"),
    "  costs (api/costing.py cost_table)": ("", "cost_table"),
    "storing the plan and its predictions (storage create_plan)": ("storage/repositories/plans.py", "create_plan"),
}


def one_plan(settings: Settings, i: int) -> None:
    request = PlanRequest.model_validate(plan_body(i))
    with session_scope(settings.database_url) as session:
        plan, every_candidate = planning.create_plan(session=session, request=request)
        plan_routes._public(session, plan.id, candidate_columns=every_candidate).model_dump_json()


def main() -> None:
    settings = embedded_settings(Path(tempfile.mkdtemp()), max_request_bytes=64 * 1024 * 1024)
    with TestClient(create_app(settings)) as client:

        def prior() -> str:  # as plan_load.prior_of: a task without measurements names the prior's rows
            return str(
                client.post("/v1/plans", json=plan_body(N_TASKS)).json()["candidates"][0]["accuracy"]["predictor"]
            )

        first = prior()
        rows = list(measurements())
        for k in range(0, len(rows), BATCH):
            assert client.post("/v1/measurements", json=rows[k : k + BATCH]).status_code in {200, 201}
        deadline = time.monotonic() + 300
        while prior() == first:  # the first plan after the import started the refit
            assert time.monotonic() < deadline, "the refitted prior never answered"
            time.sleep(1)
        cold, warm = _per_plan_ms(settings, range(N_PLANS)), _per_plan_ms(settings, range(N_PLANS))
        print(f"one plan in process, one after another: {cold:.1f} ms; the same plans again: {warm:.1f} ms")
        profiles = [cProfile.Profile(), cProfile.Profile()]  # new tasks' plans, then the same plans again
        for profile in profiles:
            profile.runcall(lambda: [one_plan(settings, i) for i in range(N_PLANS, 2 * N_PLANS)])
    for title, profile in zip(("first plans of their tasks", "the same plans again"), profiles, strict=True):
        print(f"{title}:")
        _print_shares(profile)


def _per_plan_ms(settings: Settings, tasks: range) -> float:
    started = time.perf_counter()
    for i in tasks:
        one_plan(settings, i)
    return (time.perf_counter() - started) / len(tasks) * 1000


def _print_shares(profile: cProfile.Profile) -> None:
    stats = pstats.Stats(profile).stats
    total = max(entry[3] for entry in stats.values())
    for part, (path, name) in PARTS.items():  # by file and name, not line: the lines move as the code does
        seconds = sum(entry[3] for key, entry in stats.items() if key[0].endswith(path) and key[2] == name)
        print(f"  {part}: {seconds / total:.0%}")


if __name__ == "__main__":
    main()
