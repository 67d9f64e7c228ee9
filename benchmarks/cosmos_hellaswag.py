"""COSMOS HellaSwag (Llama 3 8B, 55 configurations): predict what COSMOS predicted, from what it paid for.

The planner gets only the runs COSMOS paid for — the five QLoRA runs at data portion 0.1 (4–8
iterations), the 1- and 8-shot BM25-ICL evaluations, and zero-shot (π0 = 0.316, inferred in the
digest) — plus the seed corpus WITHOUT any COSMOS row. It predicts the other configurations and
picks per cost band. Printed beside COSMOS's own figures (MAE 0.019 per configuration for
HellaSwag QLoRA+ICL is not printed as such; regret 0.00/0.43/0.16 points; CRR ≈ 97 %).

Baseline in the same process: the "last probe carried forward" predictor (every QLoRA config gets
the mean of the portion-0.1 runs, every ICL config the 8-shot accuracy).

Run: ``.venv/bin/python benchmarks/cosmos_hellaswag.py``
"""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from predictors.accuracy.corpus import load_seed_observations
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation
from predictors.accuracy.prior import PriorPredictor
from predictors.accuracy.tiers import predict_accuracies
from predictors.cost import cost_reduction_ratio
from predictors.planner import CandidateScores, choose_in_bands, probe_value
from predictors.planning import runs_a_probe_adds_to, suggested_probe
from storage.catalogs import load_models_catalog

DIGEST = Path(__file__).resolve().parents[2] / "shared" / "research" / "cosmos.md"
MODEL = "llama-3-8b-instruct"
TASK = "hellaswag"
HELLASWAG_TRAIN_EXAMPLES = 7029  # COSMOS's HellaSwag training split (predictors/data/SEED_SOURCES.md)
ZERO_SHOT = 0.316  # π0 of the released ICL curve (cosmos.md Sec. 3: inferred, not printed)
COSMOS_REGRET_POINTS = {"low": 0.00, "medium": 0.43, "high": 0.16}


def load_rows() -> list[dict[str, str]]:
    text = DIGEST.read_text()
    block = text.split("```csv\n", 1)[1].split("```", 1)[0]
    return list(csv.DictReader(io.StringIO(block)))


def observation(row: dict[str, str], *, with_accuracy: bool) -> Observation:
    accuracy = float(row["act_acc"]) if with_accuracy else None
    if row["strategy"] == "ICL":
        return Observation(
            MODEL,
            {"name": "rag_icl", "shots": int(row["shots"])},
            TASK,
            n_choices=4,
            accuracy=accuracy,
            source="import:COSMOS",
        )
    fraction = float(row["data_portion"])
    return Observation(
        MODEL,
        {"name": "qlora"},
        TASK,
        n_choices=4,
        accuracy=accuracy,
        data_fraction=fraction,
        epochs=float(row["iterations"]),
        train_examples=round(fraction * HELLASWAG_TRAIN_EXAMPLES),
        source="import:COSMOS",
    )


def is_paid(row: dict[str, str]) -> bool:
    return (row["strategy"] == "QLoRA" and float(row["data_portion"]) == 0.1) or (
        row["strategy"] == "ICL" and row["shots"] in {"1", "8"}
    )


def paid_measurements(rows: list[dict[str, str]], paid: list[bool]) -> list[Observation]:
    """The paid configurations as measurements, and zero-shot (given)."""
    measurements = [observation(r, with_accuracy=True) for r, p in zip(rows, paid, strict=True) if p]
    measurements.append(Observation(MODEL, {"name": "zero_shot"}, TASK, n_choices=4, accuracy=ZERO_SHOT))
    return measurements


def forecast_all(rows: list[dict[str, str]], paid: list[bool], corpus: list[Observation]) -> tuple[list[Any], float]:
    """Forecasts for every configuration from the paid ones (plus zero-shot and the seed corpus)."""
    measurements = paid_measurements(rows, paid)
    started = time.perf_counter()
    builder = FeatureBuilder({e["id"]: ModelInfo.from_catalog(e) for e in load_models_catalog()})
    prior = PriorPredictor(random_state=0).fit(builder, corpus, measurements)
    forecasts = predict_accuracies(
        [observation(r, with_accuracy=False) for r in rows], measurements=measurements, prior=prior
    )
    return forecasts, time.perf_counter() - started


def report(title: str, rows: list[dict[str, str]], paid: list[bool], corpus: list[Observation]) -> list[Any]:
    forecasts, elapsed = forecast_all(rows, paid, corpus)
    actual = np.array([float(r["act_acc"]) for r in rows])
    cosmos_pred = np.array([float(r["pred_acc"]) for r in rows])
    ours = np.array([f.mean for f in forecasts])
    unpaid = ~np.array(paid)
    paid_rows = [r for r, p in zip(rows, paid, strict=True) if p]
    qlora_mean = float(np.mean([float(r["act_acc"]) for r in paid_rows if r["strategy"] == "QLoRA"]))
    eight_shot = float(next(r["act_acc"] for r in paid_rows if r["shots"] == "8"))
    baseline = np.array([qlora_mean if r["strategy"] == "QLoRA" else eight_shot for r in rows])

    def mae(prediction: np.ndarray) -> float:
        return float(np.mean(np.abs(prediction[unpaid] - actual[unpaid])))

    print(f"--- {title}")
    print(
        f"{len(rows)} configurations, {len(paid_rows)} paid + zero-shot given, {int(unpaid.sum())} predicted "
        f"({elapsed:.2f} s incl. training the prior on {len(corpus)} seed rows)"
    )
    tiers: dict[str, int] = {}
    for f, u in zip(forecasts, unpaid, strict=True):
        if u:
            name = f.predictor.split(" (")[0].split(",")[0]
            tiers[f"{f.tier}: {name}"] = tiers.get(f"{f.tier}: {name}", 0) + 1
    print(f"predictors used on the predicted configurations: {tiers}")
    print(
        f"per-configuration MAE on the predicted configurations: ours {mae(ours):.4f}  COSMOS {mae(cosmos_pred):.4f}  "
        f"baseline (last probe carried forward) {mae(baseline):.4f}  ratio ours/baseline {mae(ours) / mae(baseline):.2f}"
    )
    for strategy in ("QLoRA", "ICL"):
        mask = unpaid & np.array([r["strategy"] == strategy for r in rows])
        if mask.any():
            print(
                f"  {strategy:5s} MAE ours {np.mean(np.abs(ours[mask] - actual[mask])):.4f}  "
                f"COSMOS {np.mean(np.abs(cosmos_pred[mask] - actual[mask])):.4f}  n={int(mask.sum())}"
            )
    figures = stage_figures(rows, paid, forecasts)
    rho_cosmos = spearmanr(cosmos_pred[unpaid], actual[unpaid]).statistic
    print(f"Spearman on the predicted configurations: ours {figures['spearman']:.3f}  COSMOS {rho_cosmos:.3f}")
    print(f"90 % interval coverage on the predicted configurations: {figures['coverage']:.2f}")
    print("band    oracle  ours-pick(actual)  regret(points)  COSMOS regret")
    for band, (oracle, picked) in figures["picks"].items():
        print(
            f"{band:7s} {actual[oracle]:.3f}   {actual[picked]:.3f} {config_name(rows[picked]):14s}  "
            f"{figures[band]:5.2f}           {COSMOS_REGRET_POINTS[band]:.2f}"
        )
    cost = bands_and_costs(rows)[1]
    prediction_cost = float(sum(float(r["act_cost_usd"]) for r in paid_rows))
    exhaustive = float(cost.sum())
    print(
        f"prediction cost ${prediction_cost:.3f} (the paid runs) vs exhaustive ${exhaustive:.3f}: "
        f"CRR {100 * cost_reduction_ratio(exhaustive, prediction_cost):.1f} %  (COSMOS HellaSwag ≈ 97 %)"
    )
    return forecasts


def stage_figures(rows: list[dict[str, str]], paid: list[bool], forecasts: list[Any]) -> dict[str, Any]:
    """MAE, Spearman and 90 % coverage over the configurations not paid for, and each band's regret in
    points with its (oracle, pick) indices. Measured configurations are known exactly: the planner scores
    them by their measurement."""
    actual = np.array([float(r["act_acc"]) for r in rows])
    ours = np.array([f.mean for f in forecasts])
    inside = (actual >= np.array([f.lower for f in forecasts])) & (actual <= np.array([f.upper for f in forecasts]))
    unpaid = ~np.array(paid)
    bands, cost = bands_and_costs(rows)
    ours_choice = choose_in_bands(CandidateScores.from_lists(cost_usd=cost, accuracy_mean=ours), bands=bands)
    oracle_choice = choose_in_bands(CandidateScores.from_lists(cost_usd=cost, accuracy_mean=actual), bands=bands)
    figures: dict[str, Any] = {
        "mae": float(np.mean(np.abs(ours[unpaid] - actual[unpaid]))),
        "spearman": float(spearmanr(ours[unpaid], actual[unpaid]).statistic),
        "coverage": float(np.mean(inside[unpaid])),
        "picks": {},
    }
    for band in ("low", "medium", "high"):
        oracle, picked = oracle_choice[band].index, ours_choice[band].index
        figures["picks"][band] = (oracle, picked)
        figures[band] = 100 * (actual[oracle] - actual[picked])
    return figures


def any_bought_run(rows: list[dict[str, str]], paid: list[bool], corpus: list[Observation], bought: int) -> None:
    """The second stage with each unpaid fine-tune bought in turn: how much its figures depend on which
    one run is bought (the first stage's forecasts of these runs are nearly equal, so the planner's pick
    among them turns on price), and where the planner's own pick falls among them."""
    results = {}
    for index in (i for i, row in enumerate(rows) if row["strategy"] == "QLoRA" and not paid[i]):
        with_it = [p or i == index for i, p in enumerate(paid)]
        results[index] = stage_figures(rows, with_it, forecast_all(rows, with_it, corpus)[0])
    mae = np.array([f["mae"] for f in results.values()])
    rho = np.array([f["spearman"] for f in results.values()])
    regret = np.array([[f[b] for b in ("low", "medium", "high")] for f in results.values()])
    print(f"--- the second stage with any one of the {len(results)} unpaid QLoRA runs bought instead")
    print(
        f"MAE median {np.median(mae):.4f} (quartiles {np.quantile(mae, 0.25):.4f}-{np.quantile(mae, 0.75):.4f}, max {mae.max():.4f})"
    )
    print(f"Spearman median {np.median(rho):.3f} (min {rho.min():.3f})")
    print("regret median " + "/".join(f"{v:.2f}" for v in np.median(regret, axis=0)) + " points (low/medium/high)")
    rank = int(np.sum(mae < results[bought]["mae"]))
    print(
        f"the planner's pick ({config_name(rows[bought])}): MAE {results[bought]['mae']:.4f}, {rank} of {len(results)} runs do better"
    )


def bands_and_costs(rows: list[dict[str, str]]) -> tuple[list[int], np.ndarray]:
    """COSMOS's own cost band per configuration (0/1/2 for Low/Medium/High) and its measured cost."""
    labels = {"Low": 0, "Medium": 1, "High": 2}
    return [labels[r["cost_band"]] for r in rows], np.array([float(r["act_cost_usd"]) for r in rows])


def config_name(row: dict[str, str]) -> str:
    return f"{row['strategy']} {row['data_portion'] or ''}x{row['iterations'] or row['shots']}"


def probe_to_buy(rows: list[dict[str, str]], paid: list[bool], forecasts: list[Any]) -> int:
    """The planner's own advice: over the three bands, the candidates ``probe_value`` ranks (the value of
    knowing each exactly, over the band's choice) and for each the probe the planner suggests
    (``suggested_probe``: a fine-tune at a data fraction of the candidate's, given the paid runs; the
    shot counts not yet evaluated for ICL); the table's configuration nearest that probe is bought, the
    one whose candidate's value per dollar of probe is largest."""
    bands, cost = bands_and_costs(rows)
    scores = CandidateScores.from_lists(
        cost_usd=cost,
        accuracy_mean=[f.mean for f in forecasts],
        accuracy_lower=[f.lower for f in forecasts],
        accuracy_upper=[f.upper for f in forecasts],
    )
    measured = paid_measurements(rows, paid)
    best: tuple[float, int] = (-1.0, -1)
    for choice in choose_in_bands(scores, bands=bands).values():
        for index, _beats, gain in probe_value(scores, choice):
            bought = probe_configuration(rows, paid, measured, index)
            if bought is not None:
                best = max(best, (gain / cost[bought], bought))
    return best[1]


def probe_configuration(
    rows: list[dict[str, str]], paid: list[bool], measured: list[Observation], index: int
) -> int | None:
    """The unpaid configuration nearest the probe the planner suggests for configuration ``index`` given the
    ``measured`` runs: the same number of iterations at the suggested fraction of its data portion (COSMOS's
    table has portions 0.1-1.0); for ICL, the suggested shot counts (the candidate itself once the probe
    shots are paid). None when that one is paid or not in the table."""
    row = rows[index]
    strategy = row["strategy"]
    candidate = observation(row, with_accuracy=False)
    probe = suggested_probe(
        str(candidate.method["name"]),
        train_usd=float(row["act_cost_usd"]),
        eval_usd=0.0,
        candidate=candidate,
        measured=runs_a_probe_adds_to(candidate, measured),
    )
    if probe.kind == "icl_probe":
        wanted = [i for i, r in enumerate(rows) if r["strategy"] == strategy and int(r["shots"]) in (probe.shots or ())]
    else:
        portion = float(row["data_portion"]) * float(probe.data_fraction or 1.0)
        options = [i for i, r in enumerate(rows) if r["strategy"] == strategy and r["iterations"] == row["iterations"]]
        wanted = [min(options, key=lambda i: abs(float(rows[i]["data_portion"]) - portion))]
    unpaid = [i for i in wanted if not paid[i]]
    return unpaid[0] if unpaid else None


def main() -> int:
    if not DIGEST.exists():
        print(f"skipped: {DIGEST} not found")
        return 0
    rows = load_rows()
    corpus = [o for o in load_seed_observations() if "COSMOS" not in o.source]
    paid = [is_paid(r) for r in rows]
    print("COSMOS HellaSwag, Llama 3 8B")
    forecasts = report("what COSMOS paid for (QLoRA at portion 0.1, 1- and 8-shot ICL)", rows, paid, corpus)
    bought = probe_to_buy(rows, paid, forecasts)
    paid[bought] = True
    print()
    report(
        f"plus the one run the planner says to buy next ({config_name(rows[bought])}, "
        f"${float(rows[bought]['act_cost_usd']):.3f})",
        rows,
        paid,
        corpus,
    )
    print()
    any_bought_run(rows, [is_paid(r) for r in rows], corpus, bought)
    return 0


if __name__ == "__main__":
    sys.exit(main())
