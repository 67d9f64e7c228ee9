# ruff: noqa: N803, N806 -- maths notation (N, D, X) follows the papers
"""Speed of fitting each registered law on 1,000 points (not a test; prints a table).

For each law: seconds for ``fit_law(name, x, y)`` with the registry defaults (multi-start,
covariance, diagnostics), and a baseline in the same process — a plain
``scipy.optimize.curve_fit`` of the same functional form from the same first starting point.
The ratio is ours / baseline. Median of ``--repeat`` runs.

Run: ``.venv/bin/python benchmarks/scaling_speed.py``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
from scipy.optimize import curve_fit

from scaling import fit_law

N_POINTS = 1000


def _case(
    name: str, rng: np.random.Generator
) -> tuple[Any, np.ndarray, dict[str, Any], Callable[..., Any], Any, list[float]]:
    n = N_POINTS
    if name == "chinchilla":
        N, D = 10 ** rng.uniform(7, 10, n), 10 ** rng.uniform(9, 12, n)
        y = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28 + rng.normal(0, 0.01, n)

        def f(X: Any, E: float, A: float, B: float, a: float, b: float) -> Any:
            return E + A * X[0] ** -a + B * X[1] ** -b

        return {"n_params": N, "n_tokens": D}, y, {}, f, np.vstack([N, D]), [1.5, 300, 300, 0.34, 0.28]
    if name == "densing":
        N, D = 10 ** rng.uniform(6.5, 9, n), 10 ** rng.uniform(8, 11, n)
        y = (30 * N**-0.2 + 60 * D**-0.25) * np.exp(rng.normal(0, 0.005, n))

        def f(X: Any, a: float, al: float, b: float, be: float) -> Any:
            return a * X[0] ** -al + b * X[1] ** -be

        return {"n_params": N, "n_tokens": D}, y, {}, f, np.vstack([N, D]), [20, 0.3, 20, 0.3]
    if name == "observational":
        S = rng.normal(size=(n, 3))
        y = 1 / (1 + np.exp(-(-0.5 + S @ np.array([1.2, -0.4, 0.3])))) + rng.normal(0, 0.02, n)

        def f(X: Any, c: float, w1: float, w2: float, w3: float) -> Any:
            return 1 / (1 + np.exp(-(c + w1 * X[0] + w2 * X[1] + w3 * X[2])))

        return S, y, {}, f, S.T, [0, 0.03, 0.03, 0.03]
    if name == "passuntil":
        N = 10 ** rng.uniform(7, 9.5, n)
        y = np.exp(-60 * N**-0.2 * np.exp(rng.normal(0, 0.02, n)))

        def f(X: Any, c: float, a: float) -> Any:
            return np.exp(-c * X**-a)

        return N, y, {}, f, N, [50, 0.2]
    if name == "icl_shots":
        d = rng.integers(0, 64, n).astype(float)
        y = np.clip(0.3 * (1 - np.exp(-0.5 * d)) + 0.4 + rng.normal(0, 0.01, n), 0, 1)

        def f(X: Any, a: float, b: float, p0: float) -> Any:
            return a * (1 - np.exp(-b * X)) + p0

        return d, y, {}, f, d, [0.3, 0.5, 0.4]
    if name == "rectified_data":
        D = 10 ** rng.uniform(1.5, 5, n)
        y = 200 / (50 + D**0.6) + 0.5 + rng.normal(0, 0.005, n)

        def f(X: Any, B: float, Dl: float, be: float, E: float) -> Any:
            return B / (Dl + X**be) + E

        return D, y, {}, f, D, [100, 10, 0.5, 0.3]
    if name == "joint_finetune":
        X1, Df = 10 ** rng.uniform(8, 10, n), 10 ** rng.uniform(2.5, 5, n)
        y = 50 * X1**-0.1 * Df**-0.2 + 1.0 + rng.normal(0, 0.005, n)

        def f(X: Any, A: float, al: float, be: float, E: float) -> Any:
            return A * X[0] ** -al * X[1] ** -be + E

        return {"factor": X1, "n_examples": Df}, y, {}, f, np.vstack([X1, Df]), [30, 0.1, 0.1, 0.5]
    raise KeyError(name)


def _time(fn: Callable[[], Any], repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{platform.machine()}; {N_POINTS} points per law, median of {args.repeat}"
    )
    print(f"{'law':<16} {'fit_law s':>10} {'curve_fit s':>12} {'ratio':>7}  success  notes")
    runs = [
        ("chinchilla", {}),
        ("densing", {}),
        ("observational", {}),
        ("passuntil", {}),
        ("icl_shots", {}),
        ("icl_shots", {"form": "exponential"}),
        ("rectified_data", {}),
        ("joint_finetune", {}),
    ]
    for name, extra in runs:
        rng = np.random.default_rng(0)
        x, y, opts, f, X, p0 = _case(name, rng)
        opts = {**opts, **extra}
        res = fit_law(name, x, y, random_state=0, **opts)
        ours = _time(lambda: fit_law(name, x, y, random_state=0, **opts), args.repeat)  # noqa: B023

        def base() -> None:
            curve_fit(f, X, y, p0=p0, maxfev=20000)  # noqa: B023

        base_s = _time(base, args.repeat)
        note = ""
        if name == "icl_shots" and not extra:
            note = f"form auto -> {res.diagnostics['form']} (5-fold selection over 3 forms)"
        elif extra:
            note = ", ".join(f"{k}={v}" for k, v in extra.items())
        print(
            f"{name:<16} {ours:>10.4f} {base_s:>12.4f} {ours / base_s:>7.1f}  {res.diagnostics['success']!s:<7}  {note}"
        )


if __name__ == "__main__":
    main()
