# ruff: noqa: N803 -- maths notation (X for the design matrix) follows the papers
"""Input coercion shared by the laws and the selection helpers: points as validated float arrays, or a
:class:`~scaling.errors.ScalingInputError` naming the point and field at fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ScalingInputError

__all__ = [
    "FloatArray",
    "as_design",
    "as_generator",
    "as_vector",
    "as_weights",
    "check_lengths",
    "check_param_names",
    "require_positive",
]

FloatArray = NDArray[np.float64]


def as_generator(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """``random_state`` as a Generator (a seed, a Generator, or None); the global RNG is never used."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def as_vector(v: Any, *, what: str, law: str) -> FloatArray:
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ScalingInputError(f"{what} must be numeric for law {law!r}: {exc}", field="points") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ScalingInputError(f"{what} must be one number per point (1-D), got shape {arr.shape}", field="points")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise ScalingInputError(
            f"{what} of point {i} is {float(arr[i])}; values must be finite (no NaN or inf)",
            field=f"points[{i}].{what}",
        )
    return arr


def as_weights(sample_weight: Any, n: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=float).reshape(-1)
    if w.shape[0] != n:
        raise ScalingInputError(
            f"sample_weight has {w.shape[0]} entries, expected one per point ({n})",
            field="sample_weight",
        )
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        i = int(bad[0])
        raise ScalingInputError(
            f"sample_weight[{i}] = {w[i]!r}; weights must be finite and >= 0",
            field=f"sample_weight[{i}]",
        )
    if not np.any(w > 0):
        raise ScalingInputError("all sample weights are zero", field="sample_weight")
    return w


def check_lengths(X: FloatArray, y: FloatArray) -> None:
    if X.shape[0] != y.shape[0]:
        raise ScalingInputError(
            f"x has {X.shape[0]} points but y has {y.shape[0]}; expected equal lengths",
            field="points",
        )


def as_design(x: Any, input_names: Sequence[str] | None, *, law: str, what: str = "x") -> FloatArray:
    """Convert ``x`` to a (n_points, n_inputs) float array.

    Accepted: a scalar or 1-D sequence (single-input laws); a 2-D array or list of rows
    with ``n_inputs`` columns; a dict of equal-length columns keyed by ``input_names``;
    a list of per-point dicts keyed by ``input_names``. ``input_names=None`` means any
    number of columns.
    """
    n_in = None if input_names is None else len(input_names)
    if isinstance(x, Mapping):
        if input_names is None:
            raise ScalingInputError(
                f"law {law!r} takes x as an (n_points, n_features) array, not a dict",
                field="points",
            )
        missing = [k for k in input_names if k not in x]
        if missing:
            raise ScalingInputError(
                f"x for law {law!r} must have keys {list(input_names)}; missing {missing}",
                field="points",
            )
        cols = [np.atleast_1d(np.asarray(x[k], dtype=float)) for k in input_names]
        lens = {c.shape[0] for c in cols}
        if len(lens) != 1:
            raise ScalingInputError(
                f"x columns {list(input_names)} have different lengths {sorted(lens)}",
                field="points",
            )
        arr = np.column_stack(cols)
    elif isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(e, Mapping) for e in x):
        if input_names is None:
            raise ScalingInputError(f"law {law!r} takes x as numeric rows, not dicts", field="points")
        rows = []
        for i, e in enumerate(x):
            try:
                rows.append([float(e[k]) for k in input_names])
            except KeyError as exc:
                raise ScalingInputError(
                    f"point {i}: x must have keys {list(input_names)}, missing {exc}",
                    field=f"points[{i}].x",
                ) from exc
            except (TypeError, ValueError) as exc:
                raise ScalingInputError(f"point {i}: x values must be numbers ({exc})", field=f"points[{i}].x") from exc
        arr = np.array(rows, dtype=float)
    else:
        try:
            arr = np.asarray(x, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ScalingInputError(f"{what} must be numeric for law {law!r} ({exc})", field="points") from exc
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 1:
            if n_in in (None, 1):
                arr = arr.reshape(-1, 1)
            elif arr.shape[0] == n_in:
                arr = arr.reshape(1, -1)
            else:
                raise ScalingInputError(
                    f"law {law!r} takes {n_in} inputs {list(input_names or [])} per point; "
                    f"got a flat sequence of {arr.shape[0]} numbers",
                    field="points",
                )
        elif arr.ndim != 2:
            raise ScalingInputError(f"x must be 1-D or 2-D, got shape {arr.shape}", field="points")
    if n_in is not None and arr.shape[1] != n_in:
        raise ScalingInputError(
            f"law {law!r} takes {n_in} input column(s) {list(input_names or [])}, got {arr.shape[1]}",
            field="points",
        )
    if arr.shape[0] == 0:
        raise ScalingInputError(f"no points given to law {law!r}", field="points")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        i, j = int(bad[0][0]), int(bad[0][1])
        raise ScalingInputError(
            f"{what} of point {i} (column {j}) is {float(arr[i, j])}; values must be finite",
            field=f"points[{i}].x",
        )
    return arr


def check_param_names(law: str, params: Mapping[str, float], names: Sequence[str]) -> None:
    missing = [n for n in names if n not in params]
    extra = [n for n in params if n not in names]
    if missing or extra:
        bad = (missing or extra)[0]
        raise ScalingInputError(
            f"law {law!r} takes parameters {list(names)}; missing {missing}, unknown {extra}",
            field=f"params.{bad}",
        )


def require_positive(X: FloatArray, columns: Sequence[int], names: Sequence[str], *, what: str = "x") -> None:
    """Raise :class:`ScalingInputError` on the first non-positive entry of ``columns``.

    The error's ``field`` is ``points[i].<what>`` (plus ``.<name>`` for multi-input x).
    """
    for c, nm in zip(columns, names, strict=True):
        bad = np.flatnonzero(X[:, c] <= 0)
        if bad.size:
            i = int(bad[0])
            raise ScalingInputError(
                f"{nm} of point {i} is {float(X[i, c])}; it must be > 0",
                field=f"points[{i}].{what}" + (f".{nm}" if len(names) > 1 else ""),
            )
