"""What fitting one law returns (:class:`FitResult`): JSON-safe, with an lmfit-style text report.

References
----------
Newville et al., "LMFIT: Non-Linear Least-Square Minimization and Curve-Fitting for Python" — the
three-block fit report and the ``errorbars`` convention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FitResult"]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


@dataclass(frozen=True)
class FitResult:
    """Outcome of fitting one law: what ``POST /v1/scaling/fit`` returns.

    Attributes
    ----------
    law : str
        Registry name of the law (e.g. ``"chinchilla"``).
    params : dict of str to float
        Fitted parameter values, by name.
    intervals : dict of str to (float, float)
        ``(lower, upper)`` per parameter at confidence ``level``. ``NaN`` where the
        covariance is not estimable (``diagnostics["errorbars"]`` is then false).
    diagnostics : dict
        ``success``, ``message``, ``n_points``, ``n_params``, ``dof``, ``nfev``, ``cost``,
        ``rmse``, ``aic``, ``bic``, ``loss``, ``f_scale``, ``active_bounds`` (names of
        parameters at a bound), ``errorbars``, ``correlated_pairs`` (list of
        ``[name_a, name_b, r]`` with ``|r| >= 0.5``), ``stderr``, ``init_params``,
        ``interval_method`` and law-specific extras.
    level : float
        Confidence level of ``intervals``.
    """

    law: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    diagnostics: dict[str, Any]
    level: float = 0.9

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (non-finite floats become ``None``)."""
        out: dict[str, Any] = _json_safe(
            {
                "law": self.law,
                "params": self.params,
                "intervals": {k: list(v) for k, v in self.intervals.items()},
                "diagnostics": self.diagnostics,
                "level": self.level,
            }
        )
        return out

    def report(self, *, min_correl: float = 0.1) -> str:
        """Three-block text report (fit statistics, variables, correlations), as lmfit."""
        d = self.diagnostics
        lines = [
            f"[[Fit Statistics]] law = {self.law}",
            f"    success            = {d.get('success')}",
            f"    message            = {d.get('message')}",
            f"    # function evals   = {d.get('nfev')}",
            f"    # data points      = {d.get('n_points')}",
            f"    # variables        = {d.get('n_params')}",
            f"    dof                = {d.get('dof')}",
            f"    loss               = {d.get('loss')} (f_scale = {d.get('f_scale')})",
            f"    cost               = {_fmt(d.get('cost'))}",
            f"    rmse               = {_fmt(d.get('rmse'))}",
            f"    Akaike info crit   = {_fmt(d.get('aic'))}",
            f"    Bayesian info crit = {_fmt(d.get('bic'))}",
        ]
        if not d.get("errorbars", False):
            lines.append("    ## Warning: uncertainties could not be estimated:")
            if d.get("active_bounds"):
                lines.append(f"    parameters at a bound: {', '.join(d['active_bounds'])}")
        lines.append(f"[[Variables]] ({self.level:.0%} interval)")
        stderr: Mapping[str, float] = d.get("stderr", {})
        init: Mapping[str, float] = d.get("init_params", {})
        width = max((len(k) for k in self.params), default=4)
        for name, value in self.params.items():
            se = stderr.get(name, float("nan"))
            rel = abs(se / value) if value != 0 and math.isfinite(se) else float("nan")
            lo, hi = self.intervals.get(name, (float("nan"), float("nan")))
            seg = f"    {name:<{width}}: {_fmt(value)}"
            seg += f" +/- {_fmt(se)} ({rel:.2%})" if math.isfinite(se) else " +/- (not estimated)"
            seg += f" [{_fmt(lo)}, {_fmt(hi)}]"
            if name in init:
                seg += f" (init = {_fmt(init[name])})"
            lines.append(seg)
        lines.append(f"[[Correlations]] (unreported correlations are < {min_correl:.3f})")
        for a, b, r in sorted(d.get("all_correlations", []), key=lambda t: -abs(float(t[2]))):
            if abs(float(r)) >= min_correl:
                lines.append(f"    C({a}, {b}) = {float(r):+.4f}")
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)
