"""Two plans (or two versions of one) side by side: each one's pick and totals, and the candidates both
share, matched by what they are (model, method, training, hardware), with the change in forecast and cost."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["compare_plans", "matched_rows"]

MAX_ROWS = 200
"""Shared candidates listed at most (largest accuracy change first)."""


def _key(candidate: Any) -> str:
    """What a candidate is, whatever plan it sits in; evaluation settings are part of the task, not of it."""
    if not isinstance(candidate, dict):
        return json.dumps(candidate, sort_keys=True, default=str)
    return json.dumps({k: candidate.get(k) for k in ("model", "method", "training", "hardware")}, sort_keys=True)


def _number(row: dict[str, Any], *path: str) -> float | None:
    value: Any = row
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _side(plan: dict[str, Any]) -> dict[str, Any]:
    rec = plan.get("recommendation") if isinstance(plan.get("recommendation"), dict) else None
    budget = (plan.get("request") or {}).get("budget") or {}
    return {
        "id": plan.get("id"),
        "version": plan.get("version"),
        "latest_version": plan.get("latest_version"),
        "task": (plan.get("task") or {}).get("name"),
        "n_candidates": plan.get("n_candidates"),
        "budget_usd": budget.get("max_usd"),
        "recommendation": rec,
        "exhaustive_cost_usd": plan.get("exhaustive_cost_usd"),
        "tiers": plan.get("tiers") or {},
        "created_at": plan.get("created_at"),
    }


def matched_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """The candidates listed in both plans, with each side's forecast and spend and the accuracy change
    (b − a, a fraction), largest change first."""
    rows_b = {_key(r.get("candidate")): r for r in b.get("candidates") or [] if isinstance(r, dict)}
    matched = []
    for row_a in a.get("candidates") or []:
        row_b = rows_b.get(_key(row_a.get("candidate"))) if isinstance(row_a, dict) else None
        if row_b is None:
            continue
        acc_a, acc_b = _number(row_a, "accuracy", "mean"), _number(row_b, "accuracy", "mean")
        matched.append(
            {
                "candidate": row_a.get("candidate"),
                "a": row_a,
                "b": row_b,
                "accuracy_change": acc_b - acc_a if acc_a is not None and acc_b is not None else None,
                "usd_change": _change(_number(row_a, "total_usd"), _number(row_b, "total_usd")),
            }
        )
    matched.sort(key=lambda m: -abs(m["accuracy_change"] or 0.0))
    return matched


def _change(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


def compare_plans(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both sides' summaries, whether the pick is the same candidate, and the shared candidates."""
    rec_a, rec_b = a.get("recommendation") or {}, b.get("recommendation") or {}
    same_pick = bool(rec_a and rec_b) and _key(rec_a.get("candidate")) == _key(rec_b.get("candidate"))
    shared = matched_rows(a, b)
    return {
        "a": _side(a),
        "b": _side(b),
        "same_pick": same_pick,
        "rows": shared[:MAX_ROWS],
        "n_shared": len(shared),
        "n_only_a": len(a.get("candidates") or []) - len(shared),
        "n_only_b": len(b.get("candidates") or []) - len(shared),
    }
