"""The one place that turns errors into RFC 9457 ``application/problem+json`` answers.

Lower layers raise domain errors (``InvalidInputError``, ``InfeasibleError``, ``NotFoundError``,
``ConflictError``, ``UnavailableError``, ``ScalingInputError``); routers never build error responses themselves.
The OpenAPI schema declares these answers here too, once for every operation (:func:`document_problems`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from copy import deepcopy
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.schemas.common import Problem
from predictors.errors import InfeasibleError, InvalidInputError
from scaling import ScalingInputError
from storage.errors import ConflictError, NotFoundError, UnavailableError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "InternalErrorMiddleware",
    "document_problems",
    "field_to_pointer",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
logger = logging.getLogger("tunecast.api")

_TITLES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def field_to_pointer(field: str) -> str:
    """``candidates[3].training.seq_len`` -> ``#/candidates/3/training/seq_len`` (RFC 6901 with RFC 9457's '#')."""
    parts: list[str] = []
    for chunk in field.replace("[", ".").replace("]", "").split("."):
        if chunk:
            parts.append(chunk.replace("~", "~0").replace("/", "~1"))
    return "#/" + "/".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            ctx = error.get("ctx") or {}
            message = f"request body is not valid JSON ({ctx.get('error', 'parse error')})"
        elif location == ["body"] and isinstance(error.get("input"), bytes | str):
            message = "request body must be a JSON object (send Content-Type: application/json)"
        elif "input" in error and error.get("type") not in {"missing", "extra_forbidden"}:
            message = f"{message} (got {_short(error['input'])})"
        if location and location[0] == "body":
            errors.append({"pointer": "#/" + "/".join(location[1:]), "detail": message})
        elif location and location[0] in {"query", "path", "header", "cookie"}:
            errors.append({"parameter": ".".join(location[1:]), "detail": f"{location[0]} parameter: {message}"})
        else:
            errors.append({"pointer": "#/" + "/".join(location), "detail": message})
    return errors


def _describe(error: dict[str, Any]) -> str:
    where = error.get("parameter") or (error.get("pointer") or "#/").removeprefix("#/").replace("/", ".") or "body"
    return f"{where}: {error['detail']}"


def install_problem_handlers(app: FastAPI) -> None:
    document_problems(app)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = _describe(errors[0]) if errors else "the request is invalid"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem_response(422, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, exc: InvalidInputError) -> JSONResponse:
        return problem_response(
            422,
            f"{exc.field}: {exc.message}",
            instance=request.url.path,
            errors=[{"pointer": field_to_pointer(exc.field), "detail": exc.message}],
        )

    @app.exception_handler(ScalingInputError)
    async def _scaling_input(request: Request, exc: ScalingInputError) -> JSONResponse:
        return problem_response(
            422,
            f"{exc.field}: {exc}",
            instance=request.url.path,
            errors=[{"pointer": field_to_pointer(exc.field), "detail": str(exc)}],
        )

    @app.exception_handler(InfeasibleError)
    async def _infeasible(request: Request, exc: InfeasibleError) -> JSONResponse:
        return problem_response(
            422,
            f"{exc.field}: {exc.message}",
            instance=request.url.path,
            errors=[{"pointer": field_to_pointer(exc.field), "detail": exc.message}],
            type_="https://tunecast.dev/problems/infeasible",
        )

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        error: dict[str, Any] = {"detail": f"unknown {exc.resource} {exc.identifier!r}"}
        if exc.location == "body":
            error["pointer"] = field_to_pointer(exc.field)
        else:
            error["parameter"] = exc.field
        return problem_response(
            404,
            f"{exc.field}: {exc.resource} {exc.identifier!r} does not exist",
            instance=request.url.path,
            errors=[error],
        )

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return problem_response(
            409,
            f"{exc.field}: {exc.message}",
            instance=request.url.path,
            errors=[{"pointer": field_to_pointer(exc.field), "detail": exc.message}],
        )

    @app.exception_handler(UnavailableError)
    async def _unavailable(request: Request, exc: UnavailableError) -> JSONResponse:
        return problem_response(
            503, str(exc), instance=request.url.path, headers={"Retry-After": str(exc.retry_after_s)}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route matches {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
            allow = _allowed_methods(request, (headers or {}).get("Allow"))
            headers = {**(headers or {}), **({"Allow": allow} if allow else {})}
        errors = None
        if exc.status_code == 400 and "parsing the body" in detail:
            detail = "request body could not be parsed (invalid or too deeply nested JSON)"
            errors = [{"pointer": "#/", "detail": detail}]
        return problem_response(exc.status_code, detail, instance=request.url.path, errors=errors, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # errors outside the middleware below
        return _internal_error(request.method, request.url.path)

    app.add_middleware(InternalErrorMiddleware)


def _allowed_methods(request: Request, allow: str | None) -> str | None:
    """The methods the OpenAPI schema documents for this path: Starlette's ``Allow`` names only the first
    route whose path matched, and GET and POST on one path are two routes here (it said ``GET`` to
    ``OPTIONS /v1/tasks``). A literal path (``/v1/models/import``) is its own resource, not an id of the
    templated one beside it. A path the schema does not document (``/metrics``) keeps Starlette's answer."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    path = request.url.path
    matching = [paths[path]] if path in paths else []
    for template, operations in paths.items() if not matching else ():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if "{" in template and re.fullmatch(pattern, path):
            matching.append(operations)
    methods = {method.upper() for operations in matching for method in operations if method.upper() in _HTTP_METHODS}
    return ", ".join(sorted(methods)) if methods else allow


def _internal_error(method: str, path: str) -> JSONResponse:
    logger.exception("unhandled error on %s %s", method, path)
    return problem_response(500, "internal error; it has been logged", instance=path)


class InternalErrorMiddleware:
    """Answer an unexpected error with a 500 problem and keep the connection usable. Starlette's own last
    resort re-raises after answering, and uvicorn then drops the keep-alive connection without a
    ``Connection: close``, so the client's next request on it is reset."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except Exception:
            if started:  # half a response is out: only closing the connection is left
                raise
            await _internal_error(scope["method"], scope["path"])(scope, receive, send)


_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"
_COMMON_PROBLEMS = {
    400: "The request body could not be parsed.",
    404: "Something the path names does not exist; ``errors`` names the parameter.",
    409: "The Idempotency-Key was already used for a different request to this route, or its first request "
    "is still being processed (``Retry-After``); or the request conflicts with what is stored.",
    413: "The request body is larger than this service accepts (``TUNECAST_MAX_REQUEST_BYTES``).",
    422: "The request is invalid; ``errors`` names each refused field or parameter.",
}


def _problem_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """The problem answers any operation of this shape can give, whatever its route does: request checks
    and validation (422) wherever there is input, body parsing and size (400, 413) wherever there is a
    body, an unknown path id (404), the Idempotency-Key (409 on every POST)."""
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = []
    if has_body:
        statuses += [400, 413]
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.append(404)
    if method == "post":
        statuses.append(409)
    if parameters or has_body:
        statuses.append(422)
    return statuses


def _is_problem(response: dict[str, Any]) -> bool:
    refs = {media.get("schema", {}).get("$ref") for media in response.get("content", {}).values()}
    return bool(refs & {_PROBLEM_REF, _FASTAPI_VALIDATION_REF})


def _declare_problems(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem_schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("Problem", problem_schema)
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for code, response in responses.items():
                if _is_problem(response):  # declared with ``model=Problem``, or FastAPI's own 422
                    response["content"] = deepcopy(content)
                    if code == "422":
                        response["description"] = _COMMON_PROBLEMS[422]
            for status in _problem_statuses(method, operation):
                responses.setdefault(
                    str(status), {"description": _COMMON_PROBLEMS[status], "content": deepcopy(content)}
                )
            operation["responses"] = dict(sorted(responses.items()))
    if _FASTAPI_VALIDATION_REF not in str(schema.get("paths")):  # answered as problems instead
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)


def document_problems(app: FastAPI) -> None:
    """Declare in the app's OpenAPI schema the ``application/problem+json`` answers every operation gives
    (:func:`_problem_statuses`), instead of FastAPI's ``application/json`` validation error that the
    handlers above never send; a route declares only its own (``responses={503: {"model": Problem}}``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _declare_problems(generate())
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
