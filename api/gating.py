"""The CI gate, shared by the CLI and ``POST /v1/gate``: the plan's candidates judged by
:func:`predictors.gating.evaluate_gate`, formatted as a :class:`GateReport` (markdown, JUnit XML).

The gate passes when some candidate that fits its hardware is within the budget and is predicted to
meet every requirement (accuracy at the stated one-sided confidence, serving cost); it then names the
most accurate such candidate. Otherwise it says which requirement failed, by how much, and which
cheaper or better candidate would pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from sqlalchemy.orm import Session

from api import planning
from api.candidates import candidate_label
from api.schemas.gate import GateReport, PlanFile, RequirementResult
from api.schemas.plans import Budget
from predictors import gating, planner

__all__ = ["evaluate_gate", "junit_xml"]


def _label(row: dict[str, Any]) -> str:
    return candidate_label(row["candidate"])


def _detail(check: gating.RequirementCheck, row: dict[str, Any] | None, plan_file: PlanFile) -> str:
    """Why a check passed or failed, in words; ``row`` is the candidate it judged."""
    value, required = check.predicted, check.required
    if check.name == "budget.max_usd":
        if value is None:
            return "no candidate fits its hardware"
        if check.passed:
            return f"${value:.4g} within ${required:.4g}"
        return f"the cheapest fitting candidate costs ${value:.4g}, ${value - required:.4g} over the budget"
    if check.name == "budget.max_gpu_hours":
        return f"{value:.4g} GPU-hours against {required:.4g}" if value is not None else "no candidate"
    if check.name == "requirements.min_accuracy":
        if row is None or value is None:
            return "no candidate within the budget"
        accuracy = row["accuracy"]
        return (
            f"{100 * plan_file.requirements.confidence:.0f} % lower bound {value:.3f} (mean {accuracy['mean']:.3f}, "
            f"{accuracy['tier']} tier) against {required:.3f}"
        )
    return f"${value:.4g} per 1k queries" if value is not None else "no candidate within the budget"


_ALTERNATIVE_WHY = {
    "safest": "highest accuracy lower bound within the budget",
    "cheaper_passing": "cheapest candidate that also passes",
}


def _alternative(row: dict[str, Any], kind: str) -> dict[str, Any]:
    why = _ALTERNATIVE_WHY.get(kind) or f"would pass with a budget of ${row['total_usd']:.4g}"
    return {
        "why": why,
        "index": row["index"],
        "label": _label(row),
        "accuracy_mean": row["accuracy"]["mean"],
        "accuracy_lower": row["accuracy"]["lower"],
        "total_usd": row["total_usd"],
        "inference_usd_per_1k_queries": row["cost"]["inference_usd_per_1k_queries"],
    }


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _markdown(
    report_name: str | None,
    summary: str,
    chosen: dict[str, Any] | None,
    results: list[RequirementResult],
    alternatives: list[dict[str, Any]],
) -> str:
    lines = [
        f"## tunecast gate{f': {report_name}' if report_name else ''} — {'✅ pass' if all(r.passed for r in results) else '❌ fail'}",
        "",
        summary,
        "",
    ]
    if chosen is not None:
        accuracy = chosen["accuracy"]
        lines += [
            f"**Chosen:** {_label(chosen)} — accuracy {accuracy['mean']:.3f} "
            f"[{accuracy['lower']:.3f}, {accuracy['upper']:.3f}] ({accuracy['tier']}: {accuracy['predictor']}), "
            f"${chosen['total_usd']:.4g}",
            "",
        ]
    if results:
        lines += ["| requirement | required | predicted | margin | result |", "|---|---|---|---|---|"]
        for r in results:
            lines.append(
                f"| {r.name} | {_number(r.required)} | {_number(r.predicted)} | {_number(r.margin)} | {'pass' if r.passed else 'FAIL: ' + r.detail} |"
            )
        lines.append("")
    if alternatives:
        lines.append("**Alternatives:**")
        lines += [
            f"- {a['why']}: {a['label']} (accuracy {a['accuracy_mean']:.3f}, lower {a['accuracy_lower']:.3f}, ${a['total_usd']:.4g})"
            for a in alternatives
        ]
    return "\n".join(lines) + "\n"


def _summary(outcome: gating.GateOutcome, results: list[RequirementResult], n_candidates: int) -> str:
    failed = [r for r in results if not r.passed]
    if outcome.passed and outcome.chosen is not None:
        return f"{outcome.n_passing} of {n_candidates} candidates meet every requirement within the budget."
    if failed:
        return "Failed: " + "; ".join(f"{r.name}: {r.detail}" for r in failed) + "."
    return "Failed: no candidate fits its hardware within the budget."


def evaluate_gate(*, session: Session, plan_file: PlanFile) -> GateReport:
    """Plan every candidate without a budget, then gate the fitting ones against the file's budget."""
    computation = planning.evaluate_plan(session, plan_file.plan_request().model_copy(update={"budget": Budget()}))
    plan, costs = computation.result, computation.inputs.costs
    outcome = gating.evaluate_gate(
        plan.scores,
        inference_usd_per_1k_queries=costs["inference_usd_per_1k_queries"][plan.fitting],
        budget=planner.Budget(plan_file.budget.max_usd, plan_file.budget.max_gpu_hours),
        requirements=gating.Requirements(
            plan_file.requirements.min_accuracy, plan_file.requirements.max_inference_usd_per_1k_queries
        ),
    )

    def row(k: int) -> dict[str, Any]:
        return planning.candidate_row(computation, int(plan.fitting[k]))

    chosen = None if outcome.chosen is None else row(outcome.chosen)
    results = [
        RequirementResult(
            name=c.name,
            passed=c.passed,
            required=c.required,
            predicted=c.predicted,
            margin=c.margin,
            detail=_detail(c, None if c.subject is None else row(c.subject), plan_file),
        )
        for c in outcome.checks
    ]
    alternatives = [_alternative(row(a.index), a.kind) for a in outcome.alternatives]
    summary = _summary(outcome, results, plan.n_candidates)
    return GateReport(
        passed=outcome.passed,
        exit_code=0 if outcome.passed else 1,
        name=plan_file.name,
        summary=summary,
        chosen=chosen,
        requirements=results,
        alternatives=alternatives,
        n_candidates=plan.n_candidates,
        markdown=_markdown(plan_file.name, summary, chosen, results, alternatives),
    )


def junit_xml(report: GateReport) -> str:
    """A JUnit XML report: one test case per requirement, failures carrying the reason."""
    cases = report.requirements or []
    suite = ET.Element(
        "testsuite",
        name=f"tunecast-gate{f'.{report.name}' if report.name else ''}",
        tests=str(max(len(cases), 1)),
        failures=str(sum(1 for c in cases if not c.passed) + (0 if cases or report.passed else 1)),
        errors="0",
    )
    if not cases:
        case = ET.SubElement(suite, "testcase", classname="tunecast.gate", name="plan")
        if not report.passed:
            ET.SubElement(case, "failure", message=report.summary).text = report.summary
    for requirement in cases:
        case = ET.SubElement(suite, "testcase", classname="tunecast.gate", name=requirement.name)
        if not requirement.passed:
            ET.SubElement(case, "failure", message=requirement.detail).text = report.summary
    ET.SubElement(suite, "system-out").text = report.markdown
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
