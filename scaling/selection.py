# ruff: noqa: N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Held-out evaluation and selection between candidate law forms.

All functions work on any estimator following the :class:`~scaling.base.BaseLaw`
contract; they never modify the estimators passed in (they fit clones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .base import BaseLaw, clone
from .errors import ScalingInputError
from .inputs import FloatArray, as_design, as_vector

__all__ = ["heldout_errors", "heldout_split_error", "select_form", "subset_points"]


def subset_points(x: Any, idx: NDArray[np.intp]) -> Any:
    """Select points ``idx`` from ``x`` in any accepted x shape (dict, rows, array)."""
    if isinstance(x, Mapping):
        return {k: np.asarray(v, dtype=float)[idx] for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], Mapping):
        return [x[int(i)] for i in idx]
    return np.asarray(x, dtype=float)[idx]


def heldout_errors(
    estimator: BaseLaw,
    x: Any,
    y: Any,
    *,
    scheme: str = "loo",
    n_last: int = 1,
    n_folds: int = 5,
) -> FloatArray:
    """Squared prediction errors of ``estimator`` on held-out points.

    Parameters
    ----------
    estimator : BaseLaw
        Template; clones are fitted, the original is untouched.
    x, y : point inputs in the estimator's documented shapes.
    scheme : {"loo", "kfold", "last"}
        ``"loo"``: leave-one-out over all points. ``"kfold"``: ``n_folds`` interleaved
        folds (point i in fold i mod n_folds; deterministic). ``"last"``: hold out the
        ``n_last`` points with the largest first input (extrapolation).

    Returns
    -------
    errors : ndarray
        One squared error per held-out point; a refit that raises
        :class:`ScalingInputError` (e.g. too few points left) yields ``inf``.
    """
    yv = as_vector(y, what="y", law=estimator.name)
    n = len(yv)
    if scheme == "loo":
        folds = [np.array([i]) for i in range(n)]
    elif scheme == "kfold":
        k = max(2, min(int(n_folds), n))
        folds = [np.arange(f, n, k) for f in range(k)]
    elif scheme == "last":
        X = as_design(x, estimator.input_names, law=estimator.name)
        order = np.argsort(X[:, 0], kind="stable")
        folds = [order[-n_last:]]
    else:
        raise ScalingInputError(f"unknown held-out scheme {scheme!r}", field="options.heldout")
    errs: list[float] = []
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        try:
            m = clone(estimator).fit(subset_points(x, train), yv[train])
            pred = m.predict(subset_points(x, test))
            errs.extend(((pred - yv[test]) ** 2).tolist())
        except ScalingInputError:
            errs.extend([float("inf")] * len(test))
    return np.asarray(errs, dtype=float)


def heldout_split_error(estimator: BaseLaw, x_train: Any, y_train: Any, x_test: Any, y_test: Any) -> dict[str, float]:
    """Fit a clone on the training split and report ``mse_train``/``mse_test``/``mae_test``."""
    m = clone(estimator).fit(x_train, y_train)
    yt = as_vector(y_train, what="y", law=estimator.name)
    yh = as_vector(y_test, what="y", law=estimator.name)
    pt, ph = m.predict(x_train), m.predict(x_test)
    return {
        "mse_train": float(np.mean((pt - yt) ** 2)),
        "mse_test": float(np.mean((ph - yh) ** 2)),
        "mae_test": float(np.mean(np.abs(ph - yh))),
    }


def select_form(
    candidates: Sequence[BaseLaw],
    x: Any,
    y: Any,
    *,
    scheme: str = "loo",
) -> tuple[int, FloatArray]:
    """Index of the candidate with the lowest mean held-out squared error, and all errors.

    Ties keep the earlier candidate (list the preferred/simplest form first).
    """
    if not candidates:
        raise ScalingInputError("no candidate forms given", field="options.form")
    means = np.array([float(np.mean(heldout_errors(c, x, y, scheme=scheme))) for c in candidates])
    if not np.any(np.isfinite(means)):
        raise ScalingInputError(
            "no candidate form could be evaluated on held-out points (too few points?)",
            field="points",
        )
    return int(np.nanargmin(np.where(np.isfinite(means), means, np.inf))), means
