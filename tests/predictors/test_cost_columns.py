"""The vectorised cost path against the per-candidate reference: every field of thousands of random candidates
(every method, precision, optimizer, sharding, attention kernel, checkpointing, GPU kind and count, MoE and
dense families) agrees to 1e-9 relative, the ``assumptions`` lists are equal, and a candidate that cannot be
costed raises the same error, naming the same index."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from predictors.architecture import Architecture, architecture_from_hf_config
from predictors.cost import (
    CostCandidate,
    EvaluationConfig,
    HardwareRequest,
    HardwareSpec,
    TrainingConfig,
    estimate_cost,
    estimate_costs,
    hardware_spec_from_catalog,
)
from predictors.cost.columns import COLUMNS, CostColumns, estimate_cost_columns
from predictors.cost.table import CandidateTable
from predictors.errors import InvalidInputError
from predictors.methods import METHODS, parse_method
from storage.catalogs import load_hardware_catalog, load_models_catalog

# every registered method: its defaults and the parameter sets its spec offers the shared tests
METHOD_CONFIGS: list[dict[str, Any]] = [
    {"name": name, **params} for name, spec in sorted(METHODS.items()) for params in ({}, *spec.examples)
]
MOE = ("mixtral-8x7b-v0.1", "mixtral-8x22b-v0.1")
TOLERANCE = 1e-9


def _models() -> dict[str, Architecture]:
    return {entry["id"]: architecture_from_hf_config(entry["architecture"]) for entry in load_models_catalog()}


def _hardware() -> dict[str, HardwareSpec]:
    return {row["id"]: hardware_spec_from_catalog(row) for row in load_hardware_catalog()}


def random_candidates(n: int, seed: int) -> list[CostCandidate]:
    rng = random.Random(seed)
    models, gpus = _models(), sorted(_hardware())
    ids = sorted(models)
    candidates = []
    for _ in range(n):
        model_id = rng.choice(MOE) if rng.random() < 0.15 else rng.choice(ids)
        training = TrainingConfig(
            micro_batch_size=rng.choice([1, 2, 4, 8, 32]),
            seq_len=rng.choice([16, 128, 512, 2048, 8192, 70_000]),
            gradient_checkpointing=rng.random() < 0.4,
            precision=rng.choice(["fp32", "bf16-mixed", "bf16", "fp16", "int8", "nf4"]),
            optimizer=rng.choice(["adamw", "adamw_8bit", "sgd"]),
            epochs=rng.choice([0.5, 1, 3]),
            data_fraction=rng.choice([1.0, 0.25]),
            gradient_accumulation_steps=rng.choice([1, 1, 8]),
            train_examples=rng.choice([None, 100, 50_000]),
            dataset_tokens=rng.choice([None, None, 10**7]),
            attention=rng.choice(["sdpa", "eager", "flash"]),
            sharding=rng.choice(["ddp", "zero1", "zero2", "zero3", "fsdp"]),
        )
        hardware = HardwareRequest(gpu=rng.choice(gpus), count=rng.choice([1, 1, 2, 8]))
        evaluation = EvaluationConfig(
            eval_queries=rng.choice([0, 1000]),
            prompt_tokens=rng.choice([16, 512]),
            output_tokens=rng.choice([0, 64]),
            batch_size=rng.choice([1, 16]),
        )
        candidates.append(
            CostCandidate(
                architecture=models[model_id],
                model_id=model_id,
                method=parse_method(rng.choice(METHOD_CONFIGS)),
                training=training,
                hardware=hardware,
                evaluation=evaluation,
            )
        )
    return candidates


def _costable(candidates: list[CostCandidate], hardware: dict[str, HardwareSpec]) -> list[CostCandidate]:
    kept = []
    for candidate in candidates:
        try:
            estimate_cost(candidate, hardware=hardware)
        except InvalidInputError:
            continue
        kept.append(candidate)
    return kept


def _agree(reference: Any, vectorised: Any, where: str) -> None:
    if isinstance(reference, dict):
        assert reference.keys() == vectorised.keys(), where
        for key in reference:
            _agree(reference[key], vectorised[key], f"{where}.{key}")
    elif isinstance(reference, bool | str | list):
        assert reference == vectorised, where
    else:
        scale = max(abs(float(reference)), 1e-300)
        assert abs(float(reference) - float(vectorised)) <= TOLERANCE * scale, f"{where}: {reference} vs {vectorised}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_field_of_random_candidates_agrees_with_the_per_candidate_path(seed: int) -> None:
    hardware = _hardware()
    candidates = _costable(random_candidates(1500, seed), hardware)
    assert len(candidates) > 1000
    columns = estimate_cost_columns(CandidateTable.from_candidates(candidates), hardware=hardware)
    covered: set[tuple[str, ...]] = set()
    for i, candidate in enumerate(candidates):
        reference = estimate_cost(candidate, hardware=hardware)
        _agree(
            reference.model_dump(),
            columns.estimate(i).model_dump(),
            f"[{i}] {candidate.model_id} {candidate.method.name}",
        )
        covered.add((candidate.method.name, candidate.training.precision, candidate.training.sharding))
    assert {m for m, _, _ in covered} == set(METHODS)  # every method was costed somewhere


def test_a_grid_table_costs_what_its_candidates_cost_one_by_one() -> None:
    hardware, models = _hardware(), _models()
    table = CandidateTable.grid(
        models=[(m, models[m]) for m in ("llama-3.1-8b", "mixtral-8x7b-v0.1", "qwen2.5-0.5b")],
        methods=[parse_method(m) for m in ({"name": "lora"}, {"name": "full"}, {"name": "icl"})],
        trainings=[
            TrainingConfig(micro_batch_size=b, seq_len=s, gradient_checkpointing=c, train_examples=5000)
            for b in (1, 8)
            for s in (512, 4096)
            for c in (False, True)
        ],
        hardware=[HardwareRequest(gpu="H100-SXM"), HardwareRequest(gpu="A100-80GB", count=4)],
        evaluation=EvaluationConfig(),
    )
    columns = estimate_cost_columns(table, hardware=hardware)
    reference = estimate_costs([table.candidate(i) for i in range(len(table))], hardware=hardware)
    assert len(table) == 3 * 3 * 2 * 8
    for i, estimate in enumerate(reference):
        _agree(estimate.model_dump(), columns.estimate(i).model_dump(), f"[{i}]")
    assert set(columns.values) == set(COLUMNS) and all(len(v) == len(table) for v in columns.values.values())
    assert np.array_equal(columns["fits"], [float(e.fits) for e in reference])


@pytest.mark.parametrize("seed", [3, 4])
def test_the_first_candidate_that_cannot_be_costed_is_named_as_the_per_candidate_path_names_it(seed: int) -> None:
    hardware = _hardware()
    candidates = random_candidates(400, seed)
    with pytest.raises(InvalidInputError) as expected:
        estimate_costs(candidates, hardware=hardware)
    with pytest.raises(InvalidInputError) as got:
        estimate_cost_columns(CandidateTable.from_candidates(candidates), hardware=hardware)
    assert (got.value.field, got.value.message) == (expected.value.field, expected.value.message)


def test_an_unknown_gpu_is_named_at_its_first_candidate() -> None:
    hardware = _hardware()
    candidates = _costable(random_candidates(20, 5), hardware)
    bad = CostCandidate(
        architecture=candidates[0].architecture,
        model_id=candidates[0].model_id,
        method=candidates[0].method,
        hardware=HardwareRequest(gpu="TPU-v5"),
    )
    table = CandidateTable.from_candidates([*candidates[:7], bad, *candidates[7:], bad])
    with pytest.raises(InvalidInputError) as got:
        estimate_cost_columns(table, hardware=hardware)
    assert got.value.field == "candidates[7].hardware.gpu" and "'TPU-v5'" in got.value.message


def test_an_empty_table_has_empty_columns() -> None:
    columns = estimate_cost_columns(CandidateTable.from_candidates([]), hardware=_hardware())
    assert len(columns) == 0 and all(len(v) == 0 for v in columns.values.values())


def test_columns_of_reference_estimates_hold_the_same_values() -> None:
    hardware = _hardware()
    candidates = _costable(random_candidates(200, 6), hardware)
    table = CandidateTable.from_candidates(candidates)
    vectorised = estimate_cost_columns(table, hardware=hardware)
    reference = CostColumns.from_estimates(
        table, estimate_costs(candidates, hardware=hardware), hardware=hardware, calibration=vectorised.calibration
    )
    for name in COLUMNS:
        assert np.allclose(reference[name], vectorised[name], rtol=1e-9, atol=1.0 if name.endswith("bytes") else 0.0), (
            name
        )
