"""Pages of the web UI. Each page asks the app's own ``/v1`` API for its data (in-process, over ASGI),
renders it with Jinja2 and embeds what the page script needs as JSON.

Going through the public API rather than the repositories keeps one source of truth for shapes and
errors: a page can never show a plan differently from ``GET /v1/plans/{id}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path as FilePath
from typing import Annotated, Any, get_args
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from api.candidates import hardware_label, method_label, model_label
from api.deps import SessionDep
from api.request_checks import CheckedRoute
from api.schemas.runs import RunKind, RunStatus
from api.security import SESSION_COOKIE
from api.ui.compare import compare_plans
from api.ui.paging import PAGE_SIZE, Pager, page_number
from predictors.cost import TrainingConfig
from predictors.cost.memory import CUDA_CONTEXT_BYTES, FRAGMENTATION_FRACTION
from predictors.methods import METHODS
from storage.repositories import measurements as measurements_repo

__all__ = ["STATIC_DIR", "router", "static_files"]

UI_DIR = FilePath(__file__).resolve().parent
STATIC_DIR = UI_DIR / "static"
ASSET_VERSION = "15"
SESSION_COOKIE_MAX_AGE_S = 12 * 3600

templates = Jinja2Templates(directory=str(UI_DIR / "templates"))
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse, route_class=CheckedRoute)

PageId = Annotated[str, Path(min_length=1, max_length=64, description="Plan or run id.")]


def static_files() -> StaticFiles:
    """The ``/static`` mount: every asset the pages use is a file in this package (no CDN)."""
    return StaticFiles(directory=str(STATIC_DIR))


def _json_script(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">`` (no ``</script>`` break-out)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _usd(value: Any) -> str:
    """Dollars for people: cents above $1, four significant digits below, thousands separated."""
    if not isinstance(value, int | float):
        return "—"
    if abs(value) >= 1000:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) >= 0.1:
        return f"${value:.2f}"
    return f"${value:.2g}" if value else "$0"


def _pct(value: Any) -> str:
    """A fraction in [0, 1] as a percentage (units convert only at the edges)."""
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "—"


def _labelled(label: Callable[[Mapping[str, Any]], str]) -> Callable[[Any], str]:
    """A label of api.candidates (the one place candidates are named) as a filter that takes anything."""
    return lambda candidate: label(candidate) if isinstance(candidate, Mapping) else "—"


_model_id = _labelled(model_label)
_method_label = _labelled(method_label)
_hardware_label = _labelled(hardware_label)


def _ran_on(result: Any) -> str:
    """Where a run really ran (the worker's own report), not the hardware it was planned on."""
    hardware = result.get("worker_hardware") if isinstance(result, dict) else None
    if not isinstance(hardware, dict):
        return "—"
    name = str(hardware.get("name") or "")
    if hardware.get("device") == "cuda":
        return f"{hardware.get('count', 1)}× {name} (GPU)"
    return f"CPU{f' ({name})' if name else ''} on {hardware.get('hostname', 'a worker')}"


templates.env.filters.update(
    json_script=_json_script,
    usd=_usd,
    pct=_pct,
    model_id=_model_id,
    method_label=_method_label,
    hardware_label=_hardware_label,
    ran_on=_ran_on,
)
templates.env.globals["asset_version"] = ASSET_VERSION
BUDGET_LABEL = "Budget for the chosen strategy"
"""One name for the plan's ``budget.max_usd`` on the form and the plan page: what the pick may spend."""
BUDGET_HINT = "its adaptation + evaluation, USD"
templates.env.globals.update(budget_label=BUDGET_LABEL, budget_hint=BUDGET_HINT)
MEMORY_MODEL = {"cuda_context_bytes": CUDA_CONTEXT_BYTES, "fragmentation_fraction": FRAGMENTATION_FRACTION}
"""What the cost model takes off a GPU's memory before tensors (the plan page explains "fits" with it)."""


async def _api_get(request: Request, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
    """GET one of the app's own ``/v1`` endpoints in-process; returns (status, decoded JSON or None)."""
    transport = httpx.ASGITransport(app=request.app, raise_app_exceptions=False)
    credentials = {name: request.headers[name] for name in ("authorization", "cookie") if name in request.headers}
    async with httpx.AsyncClient(transport=transport, base_url="http://tunecast.ui", headers=credentials) as client:
        response = await client.get(path, params=params)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body


def _items(status: int, body: Any) -> list[dict[str, Any]]:
    if status == 200 and isinstance(body, dict) and isinstance(body.get("items"), list):
        return [item for item in body["items"] if isinstance(item, dict)]
    return []


def _run_kinds() -> dict[str, str]:
    """Which run verifies each method: inference-only methods get a cheap ICL probe, the rest a fine-tune."""
    return {name: ("icl_probe" if spec.kind == "inference" else "finetune") for name, spec in METHODS.items()}


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _not_found(request: Request, what: str, detail: str) -> Response:
    return _page(request, "not_found.html", {"title": f"{what} not found", "what": what, "detail": detail}, 404)


MODEL_FILTER_FIELDS = ("id", "family", "total_params", "license", "release_date")  # what the form's model search reads


@router.get("/")
async def plans_page(request: Request) -> Response:
    page = page_number(request)
    status, body = await _api_get(request, "/v1/plans", {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE})
    plans = _items(status, body)
    total = body.get("total", len(plans)) if isinstance(body, dict) else 0
    pager = Pager(path="/", page=page, shown=len(plans), total=total, filters={})
    context = {"plans": plans, "total": total, "pager": pager, "plans_available": status == 200}
    return _page(request, "plans.html", {"title": "Plans", "nav": "plans", **context})


@router.get("/plans/new")
async def new_plan_page(request: Request) -> Response:
    """The form builds its fields from the API's schemas: each method's ``parameter_schema`` (``/v1/methods``)
    and the candidates' ``training`` schema, so a new method or training field needs no template change."""
    models = _items(*await _api_get(request, "/v1/models", {"limit": 1000}))
    methods = _items(*await _api_get(request, "/v1/methods"))
    hardware = _items(*await _api_get(request, "/v1/hardware", {"limit": 1000}))
    context = {
        "title": "New plan",
        "models": [{name: model.get(name) for name in MODEL_FILTER_FIELDS} for model in models],
        "methods": methods,
        "hardware": hardware,
        "training_schema": TrainingConfig.model_json_schema(),
        "nav": "new",
    }
    return _page(request, "new_plan.html", context)


async def _plan_version(request: Request, plan_id: str, version: str) -> tuple[dict[str, Any] | None, str | None]:
    """A plan as ``GET /v1/plans/{id}[?version=N]`` gives it, or why not."""
    params = {"version": version} if version.isdigit() else None
    status, plan = await _api_get(request, f"/v1/plans/{quote(plan_id, safe='')}", params)
    if status == 200 and isinstance(plan, dict):
        return plan, None
    detail = plan.get("detail") if isinstance(plan, dict) else None
    return None, str(detail or f"There is no plan {plan_id!r}.")


@router.get("/plans/compare")
async def compare_page(request: Request) -> Response:
    """Two plans side by side: ``?a=ID&b=ID`` (``va``/``vb`` pick versions; ``b`` defaults to ``a``, so
    ``?a=ID&va=1&vb=2`` compares two versions of one plan), or ``?plan=ID&plan=ID`` from the plans list."""
    query = request.query_params
    picked = [value for value in query.getlist("plan") if value][:2][::-1]  # the list is newest first: A the older
    a_id = query.get("a") or (picked[0] if picked else "")
    b_id = query.get("b") or (picked[1] if len(picked) > 1 else a_id if query.get("vb") else "")
    sides: dict[str, dict[str, Any]] = {}
    problems = []
    for name, plan_id in (("a", a_id), ("b", b_id)):
        if plan_id:
            plan, problem = await _plan_version(request, plan_id, query.get("v" + name, ""))
            sides.update({name: plan} if plan else {})
            problems.extend([problem] if problem else [])
    context = {
        "title": "Compare plans",
        "nav": "plans",
        "choice": {"a": a_id, "b": b_id, "va": query.get("va", ""), "vb": query.get("vb", "")},
        "plans": _items(*await _api_get(request, "/v1/plans", {"limit": 100})),
        "versions": {name: plan.get("versions") or [] for name, plan in sides.items()},
        "problems": problems,
        "comparison": compare_plans(sides["a"], sides["b"]) if len(sides) == 2 else None,
    }
    return _page(request, "compare.html", context)


@router.get("/plans/{plan_id}")
async def plan_page(request: Request, plan_id: PageId) -> Response:
    plan, problem = await _plan_version(request, plan_id, request.query_params.get("version", ""))
    if plan is None:
        return _not_found(request, "Plan", problem or "")
    hardware = _items(*await _api_get(request, "/v1/hardware", {"limit": 1000}))
    context = {
        "title": f"Plan {plan.get('id', plan_id)}",
        "plan": plan,
        "run_kinds": _run_kinds(),
        "hardware": [{"id": h.get("id"), "memory_bytes": h.get("memory_bytes")} for h in hardware],
        "memory_model": MEMORY_MODEL,
        "precisions": get_args(TrainingConfig.model_fields["precision"].annotation),
        "nav": "plans",
    }
    return _page(request, "plan.html", context)


RUN_FILTERS = ("status", "kind", "method", "model", "task", "plan")  # the query parameters GET /v1/runs takes


@router.get("/runs")
async def runs_page(request: Request) -> Response:
    """Runs, newest first, filtered with the same query parameters as ``GET /v1/runs``."""
    filters = {name: value for name in RUN_FILTERS if (value := request.query_params.get(name, "").strip())}
    page = page_number(request)
    status, body = await _api_get(
        request, "/v1/runs", {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE, **filters}
    )
    models = _items(*await _api_get(request, "/v1/models", {"limit": 1000}))
    problem = None if status == 200 else (body or {}).get("detail", f"GET /v1/runs answered {status}")
    items = _items(status, body)
    total = int((body or {}).get("total", 0)) if status == 200 else 0
    context = {
        "title": "Runs",
        "nav": "runs",
        "filters": filters,
        "problem": problem,
        "runs": {"items": items, "total": total, "offset": (page - 1) * PAGE_SIZE},
        "runs_query": {**filters, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE},
        "pager": Pager(path="/runs", page=page, shown=len(items), total=total, filters=filters),
        "statuses": get_args(RunStatus),
        "kinds": get_args(RunKind),
        "methods": sorted(METHODS),
        "models": sorted(str(model.get("id")) for model in models),
    }
    return _page(request, "runs.html", context)


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: PageId) -> Response:
    status, run = await _api_get(request, f"/v1/runs/{quote(run_id, safe='')}")
    if status != 200 or not isinstance(run, dict):
        return _not_found(request, "Run", f"There is no run {run_id!r}.")
    return _page(request, "run.html", {"title": f"Run {run.get('id', run_id)}", "run": run, "nav": "runs"})


@router.get("/workers")
async def workers_page(request: Request) -> Response:
    status, body = await _api_get(request, "/v1/workers", {"limit": 1000})
    workers = _items(status, body)
    embedded = body.get("embedded") if isinstance(body, dict) else None
    return _page(
        request, "workers.html", {"title": "Workers", "workers": workers, "embedded": embedded, "nav": "workers"}
    )


def _calibration_points(session: SessionDep) -> list[dict[str, Any]]:
    """One point per verified prediction, for the scatter (``/v1/calibration`` gives only the summaries)."""
    return [
        {
            "predicted": {
                "mean": pair.prediction.accuracy_mean,
                "lower": pair.prediction.accuracy_lower,
                "upper": pair.prediction.accuracy_upper,
                "tier": pair.prediction.tier,
                "predictor": pair.prediction.predictor,
            },
            "measured": {"accuracy": pair.measurement.accuracy},
            "model": pair.measurement.model_id,
            "method": pair.measurement.method_name,
            "task": pair.measurement.task,
            "run": pair.measurement.run_id,
            "plan": pair.prediction.plan_id,
        }
        for pair in measurements_repo.calibration_pairs(session=session)
    ]


@router.get("/calibration")
async def calibration_page(request: Request, session: SessionDep) -> Response:
    status, calibration = await _api_get(request, "/v1/calibration")
    if status != 200 or not isinstance(calibration, dict):
        calibration = None
    elif not isinstance(calibration.get("points"), list):
        calibration = {**calibration, "points": await run_in_threadpool(_calibration_points, session)}
    return _page(
        request, "calibration.html", {"title": "Calibration", "calibration": calibration, "nav": "calibration"}
    )


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site only (no ``//host`` or scheme)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _sign_in_page(request: Request, target: str, error: str | None, status_code: int = 200) -> Response:
    context = {"title": "Sign in", "next": _safe_next(target), "error": error, "nav": None}
    return _page(request, "sign_in.html", context, status_code)


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str = "/") -> Response:
    return _sign_in_page(request, next, None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the key and keep it in an HttpOnly, SameSite=Strict cookie (sent only by this site's pages)."""
    form = await request.form()
    key, target = str(form.get("key", "")).strip(), _safe_next(str(form.get("next", "/")))
    caller = await request.app.state.key_verifier.caller(key) if key else None
    if caller is None:
        return _sign_in_page(request, target, "That key is unknown or revoked.", 401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        key,
        max_age=SESSION_COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out() -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
