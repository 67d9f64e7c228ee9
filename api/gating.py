"""The CI gate: does a plan reach its requirements within its budget? Shared by the CLI and ``POST /v1/gate``.

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

__all__ = ["evaluate_gate", "junit_xml"]


def _label(row: dict[str, Any]) -> str:
    return candidate_label(row["candidate"])


def _gpu_hours(row: dict[str, Any]) -> float:
    return float(row["cost"]["train_gpu_hours"] + row["cost"]["eval_gpu_hours"])


def _requirement_results(
    row: dict[str, Any] | None, plan_file: PlanFile, cheapest: dict[str, Any] | None
) -> list[RequirementResult]:
    budget, req = plan_file.budget, plan_file.requirements
    results: list[RequirementResult] = []
    if budget.max_usd is not None:
        subject = row or cheapest
        cost = subject["total_usd"] if subject else None
        passed = row is not None and cost is not None and cost <= budget.max_usd
        detail = (
            f"${cost:.4g} within ${budget.max_usd:.4g}"
            if passed and cost is not None
            else f"the cheapest fitting candidate costs ${cost:.4g}, ${cost - budget.max_usd:.4g} over the budget"
            if cost is not None
            else "no candidate fits its hardware"
        )
        results.append(
            RequirementResult(
                name="budget.max_usd",
                passed=passed,
                required=budget.max_usd,
                predicted=cost,
                margin=None if cost is None else budget.max_usd - cost,
                detail=detail,
            )
        )
    if budget.max_gpu_hours is not None:
        subject = row or cheapest
        hours = _gpu_hours(subject) if subject else None
        passed = row is not None and hours is not None and hours <= budget.max_gpu_hours
        results.append(
            RequirementResult(
                name="budget.max_gpu_hours",
                passed=passed,
                required=budget.max_gpu_hours,
                predicted=hours,
                margin=None if hours is None else budget.max_gpu_hours - hours,
                detail=f"{hours:.4g} GPU-hours against {budget.max_gpu_hours:.4g}"
                if hours is not None
                else "no candidate",
            )
        )
    if req.min_accuracy is not None:
        lower = row["accuracy"]["lower"] if row else None
        passed = lower is not None and lower >= req.min_accuracy
        detail = (
            f"{100 * req.confidence:.0f} % lower bound {lower:.3f} (mean {row['accuracy']['mean']:.3f}, "
            f"{row['accuracy']['tier']} tier) against {req.min_accuracy:.3f}"
            if row is not None and lower is not None
            else "no candidate within the budget"
        )
        results.append(
            RequirementResult(
                name="requirements.min_accuracy",
                passed=passed,
                required=req.min_accuracy,
                predicted=lower,
                margin=None if lower is None else lower - req.min_accuracy,
                detail=detail,
            )
        )
    if req.max_inference_usd_per_1k_queries is not None:
        serving = row["cost"]["inference_usd_per_1k_queries"] if row else None
        passed = serving is not None and serving <= req.max_inference_usd_per_1k_queries
        results.append(
            RequirementResult(
                name="requirements.max_inference_usd_per_1k_queries",
                passed=passed,
                required=req.max_inference_usd_per_1k_queries,
                predicted=serving,
                margin=None if serving is None else req.max_inference_usd_per_1k_queries - serving,
                detail=f"${serving:.4g} per 1k queries" if serving is not None else "no candidate within the budget",
            )
        )
    return results


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


def evaluate_gate(*, session: Session, plan_file: PlanFile) -> GateReport:
    request = plan_file.plan_request().model_copy(update={"budget": Budget()})
    result, _ = planning.compute_plan(session, request)
    rows: list[dict[str, Any]] = [r for r in result["candidates"] if r["fits"]]
    budget, req = plan_file.budget, plan_file.requirements

    def within_budget(row: dict[str, Any]) -> bool:
        return (budget.max_usd is None or row["total_usd"] <= budget.max_usd) and (
            budget.max_gpu_hours is None or _gpu_hours(row) <= budget.max_gpu_hours
        )

    def meets(row: dict[str, Any]) -> bool:
        return (req.min_accuracy is None or row["accuracy"]["lower"] >= req.min_accuracy) and (
            req.max_inference_usd_per_1k_queries is None
            or row["cost"]["inference_usd_per_1k_queries"] <= req.max_inference_usd_per_1k_queries
        )

    def best(pool: list[dict[str, Any]]) -> dict[str, Any]:
        return max(pool, key=lambda r: (r["accuracy"]["mean"], -r["total_usd"]))

    affordable = [r for r in rows if within_budget(r)]
    passing = [r for r in affordable if meets(r)]
    cheapest = min(rows, key=lambda r: r["total_usd"]) if rows else None
    chosen = best(passing) if passing else (best(affordable) if affordable else None)
    results = _requirement_results(chosen, plan_file, cheapest)
    passed = bool(passing) and all(r.passed for r in results)

    alternatives: list[dict[str, Any]] = []

    def alternative(row: dict[str, Any], why: str) -> dict[str, Any]:
        return {
            "why": why,
            "index": row["index"],
            "label": _label(row),
            "accuracy_mean": row["accuracy"]["mean"],
            "accuracy_lower": row["accuracy"]["lower"],
            "total_usd": row["total_usd"],
            "inference_usd_per_1k_queries": row["cost"]["inference_usd_per_1k_queries"],
        }

    if not passed:
        meeting = [r for r in rows if meets(r)]
        if meeting:
            cheapest_meeting = min(meeting, key=lambda r: r["total_usd"])
            alternatives.append(
                alternative(cheapest_meeting, f"would pass with a budget of ${cheapest_meeting['total_usd']:.4g}")
            )
        if affordable:
            safest = max(affordable, key=lambda r: r["accuracy"]["lower"])
            if chosen is None or safest["index"] != chosen["index"]:
                alternatives.append(alternative(safest, "highest accuracy lower bound within the budget"))
    else:
        cheaper = [r for r in passing if r["total_usd"] < chosen["total_usd"]] if chosen else []
        if cheaper:
            alternatives.append(
                alternative(min(cheaper, key=lambda r: r["total_usd"]), "cheapest candidate that also passes")
            )

    failed = [r for r in results if not r.passed]
    if passed and chosen is not None:
        summary = f"{len(passing)} of {result['n_candidates']} candidates meet every requirement within the budget."
    elif failed:
        summary = "Failed: " + "; ".join(f"{r.name}: {r.detail}" for r in failed) + "."
    else:
        summary = "Failed: no candidate fits its hardware within the budget."
    markdown = _markdown(plan_file.name, summary, chosen, results, alternatives)
    return GateReport(
        passed=passed,
        exit_code=0 if passed else 1,
        name=plan_file.name,
        summary=summary,
        chosen=chosen,
        requirements=results,
        alternatives=alternatives,
        n_candidates=int(result["n_candidates"]),
        markdown=markdown,
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
