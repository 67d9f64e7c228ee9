# ruff: noqa: N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Seeded synthetic data sets, one per registered law (used by the common battery)."""

from __future__ import annotations

from typing import Any

import numpy as np

# name -> (x, y, constructor options, true params or None)
Case = tuple[Any, np.ndarray, dict[str, Any], dict[str, float] | None]


def make_case(name: str, seed: int = 0, n: int | None = None) -> Case:
    rng = np.random.default_rng(seed)
    if name == "chinchilla":
        k = n or 40
        N = 10 ** rng.uniform(7, 10, k)
        D = 10 ** rng.uniform(9, 12, k)
        p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
        y = p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
        return {"n_params": N, "n_tokens": D}, y + rng.normal(0, 0.003, k), {}, p
    if name in ("densing", "densing_loss"):
        N = np.repeat([5e6, 3e7, 1e8, 2e8, 4e8, 8e8], 6)
        D = N * np.tile([10, 15, 20, 30, 40, 60], 6)
        p = {"a": 30.0, "alpha": 0.2, "b": 60.0, "beta": 0.25}
        y = p["a"] * N ** -p["alpha"] + p["b"] * D ** -p["beta"]
        return {"n_params": N, "n_tokens": D}, y * np.exp(rng.normal(0, 0.002, N.size)), {}, p
    if name == "densing_score":
        L = np.sort(rng.uniform(0.5, 3.0, n or 25))
        p = {"c": 0.9, "gamma": -4.0, "l": 1.5, "d": 0.05}
        y = p["c"] / (1 + np.exp(-p["gamma"] * (L - p["l"]))) + p["d"]
        return L, y + rng.normal(0, 0.003, L.size), {}, p
    if name == "densing_trend":
        t = np.sort(rng.uniform(0, 600, n or 20))
        p = {"A": 0.007, "B": -2.0}
        y = np.exp(p["A"] * t + p["B"] + rng.normal(0, 0.05, t.size))
        return t, y, {"envelope": "all"}, p
    if name == "observational":
        k = n or 40
        S = rng.normal(size=(k, 3))
        p = {"intercept": -0.5, "w1": 1.2, "w2": -0.4, "w3": 0.3}
        z = p["intercept"] + S @ np.array([p["w1"], p["w2"], p["w3"]])
        y = 1 / (1 + np.exp(-z)) + rng.normal(0, 0.01, k)
        return S, y, {}, p
    if name == "passuntil":
        N = np.array([3e7, 1e8, 2e8, 5e8, 9e8, 1.5e9, 3e9])[: n or 7]
        p = {"c": 60.0, "alpha": 0.2}
        y = np.exp(-p["c"] * N ** -p["alpha"] * np.exp(rng.normal(0, 0.01, N.size)))
        return N, y, {}, p
    if name == "icl_shots":
        d = np.array([0, 1, 2, 4, 8, 16, 32, 64][: n or 8], dtype=float)
        p = {"alpha": 0.3, "beta": 0.5, "pi0": 0.4}
        y = p["alpha"] * (1 - np.exp(-p["beta"] * d)) + p["pi0"]
        return d, y + rng.normal(0, 0.002, d.size), {"form": "exponential"}, p
    if name == "rectified_data":
        D = np.array([50, 100, 300, 1000, 3000, 10000, 30000.0])[: n or 7]
        p = {"B": 200.0, "D_l": 50.0, "beta": 0.6, "E": 0.5}
        y = p["B"] / (p["D_l"] + D ** p["beta"]) + p["E"]
        return D, y + rng.normal(0, 0.001, D.size), {}, p
    if name == "joint_finetune":
        X = np.array([1e8, 1e8, 1e8, 1e9, 1e9, 1e9, 8e9, 8e9, 8e9])
        Df = np.array([1e3, 1e4, 1e5] * 3)
        p = {"A": 50.0, "alpha": 0.1, "beta": 0.2, "E": 1.0}
        y = p["A"] * X ** -p["alpha"] * Df ** -p["beta"] + p["E"]
        return {"factor": X, "n_examples": Df}, y + rng.normal(0, 0.002, 9), {}, p
    if name == "loglik_accuracy":
        x = np.sort(rng.uniform(-4, 0, n or 40))
        p = {"k": 3.0, "x0": -1.5}
        y = 0.25 + 0.75 / (1 + np.exp(-p["k"] * (x - p["x0"])))
        return x, np.clip(y + rng.normal(0, 0.01, x.size), 0, 1), {"chance": 0.25}, p
    if name == "power_law":
        x = 10 ** rng.uniform(18, 24, n or 30)
        p = {"E": 0.5, "A": 2000.0, "alpha": 0.15}
        y = p["E"] + p["A"] * x ** -p["alpha"]
        return x, y * np.exp(rng.normal(0, 0.002, x.size)), {}, p
    raise KeyError(name)
