"""What every request is checked for before a route sees it, so bad input is a 422 naming the field on
both backends instead of a 500 from PostgreSQL or a row that breaks later reads.

* JSON bodies are parsed once, strictly: ``NaN``/``Infinity`` tokens and numbers that overflow to
  infinity are refused (RFC 8259 has no such numbers, and PostgreSQL's JSON types refuse them), nesting is
  bounded by :data:`MAX_JSON_DEPTH` (a 900-deep candidate stored fine, then failed every page that
  serialised it), integers longer than Python's 4,300-digit limit and bodies nested past the parser's
  recursion limit get a 422 instead of a parser crash.
* No text anywhere (body strings and keys, path and query parameters, form fields) may hold U+0000:
  PostgreSQL's text types cannot store it, so one would fail deep inside a query.

Every router uses :class:`CheckedRoute`; the checks walk a body only as far as needed (containers for
depth, strings only when the raw body holds a ``\\u0000`` escape, numbers only when one overflowed).
"""

from __future__ import annotations

import email.message
import json
import math
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["MAX_JSON_DEPTH", "NUL_MESSAGE", "BodyProblemError", "CheckedRoute", "parse_json_body"]

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays a request body may have (the deepest real request is ~6)."""

NUL_MESSAGE = "text may not contain the NUL character (U+0000)"
_NUL_ESCAPE = b"\\u0000"  # in valid JSON a NUL inside a string can only be written as this escape


class BodyProblemError(ValueError):
    """Where in a JSON body (a path of keys and indices) and why it is refused."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def _nul_free(text: str) -> bool:
    return "\x00" not in text


def _first_problem(value: Any, *, check_strings: bool, check_numbers: bool) -> BodyProblemError | None:
    """Walk containers depth-first; the first too-deep container, NUL string or non-finite number."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            return BodyProblemError(path, f"nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays")
        items: Iterable[tuple[str | int, Any]] = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            if check_strings and isinstance(key, str) and not _nul_free(key):
                return BodyProblemError(path, f"a key: {NUL_MESSAGE}")
            if isinstance(item, dict | list):
                stack.append((item, (*path, key)))
            elif check_strings and isinstance(item, str) and not _nul_free(item):
                return BodyProblemError((*path, key), NUL_MESSAGE)
            elif check_numbers and isinstance(item, float) and not math.isfinite(item):
                return BodyProblemError(
                    (*path, key), "must be a finite number (NaN, Infinity and overflowing numbers are not JSON)"
                )
    return None


def parse_json_body(body: bytes) -> Any:
    """The body as Python values, or :class:`BodyProblemError` / :class:`json.JSONDecodeError` saying why not."""
    saw_non_finite = False

    def number(text: str) -> float:
        nonlocal saw_non_finite
        value = float(text)
        saw_non_finite = saw_non_finite or not math.isfinite(value)
        return value

    try:
        value = json.loads(body, parse_float=number, parse_constant=number)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise BodyProblemError((), f"nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays") from None
    except UnicodeDecodeError:
        raise BodyProblemError((), "the body is not UTF-8 text") from None
    except ValueError as exc:  # Python refuses integers of more than 4,300 digits
        raise BodyProblemError((), f"a number is too long ({exc})") from None
    if isinstance(value, dict | list):
        problem = _first_problem(value, check_strings=_NUL_ESCAPE in body, check_numbers=saw_non_finite)
    else:
        problem = _scalar_problem(value)
    if problem is not None:
        raise problem
    return value


def _scalar_problem(value: Any) -> BodyProblemError | None:
    if isinstance(value, str) and not _nul_free(value):
        return BodyProblemError((), NUL_MESSAGE)
    if isinstance(value, float) and not math.isfinite(value):
        return BodyProblemError((), "must be a finite number")
    return None


def _error(location: str, path: Iterable[str | int], message: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": (location, *path), "msg": message}


class CheckedRequest(Request):
    """A request whose JSON body is parsed by :func:`parse_json_body` (once, then cached)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body())
        return self._json


def _check_parameters(request: Request) -> None:
    for location, parameters in (("path", request.path_params), ("query", request.query_params)):
        for name, value in parameters.items():
            if isinstance(value, str) and not _nul_free(value):
                raise RequestValidationError([_error(location, (name,), NUL_MESSAGE)])


async def _check_json_body(request: CheckedRequest) -> None:
    """Parse a JSON body before FastAPI does, so a refusal is a validation error with its location (FastAPI
    turns any other parse failure into a bare 400); FastAPI then reads the cached value."""
    if not await request.body():
        return
    try:
        await request.json()
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "ctx": {"error": exc.msg}}]
        ) from None
    except BodyProblemError as exc:
        raise RequestValidationError([_error("body", exc.path, exc.message)]) from None


async def _check_form(request: Request) -> None:
    """Parse a form before FastAPI does (it reads the cached one) and refuse NUL in its text fields."""
    form = await request.form()  # a malformed body is Starlette's 400
    for name, value in form.multi_items():
        if isinstance(value, str) and not _nul_free(value):
            raise RequestValidationError([_error("body", (name,), NUL_MESSAGE)])


def _media_type(content_type: str | None) -> tuple[str, str]:
    message = email.message.Message()
    message["content-type"] = content_type or ""
    return message.get_content_maintype(), message.get_content_subtype()


async def check_request(request: CheckedRequest) -> None:
    """Every check of the module docstring, on one request, before its route runs."""
    _check_parameters(request)
    if request.method in {"GET", "HEAD", "DELETE", "OPTIONS"}:
        return
    content_type = request.headers.get("content-type")
    if not content_type:
        return
    main, sub = _media_type(content_type)
    if main == "application" and (sub == "json" or sub.endswith("+json")):
        await _check_json_body(request)
    elif (main, sub) in {("multipart", "form-data"), ("application", "x-www-form-urlencoded")}:
        await _check_form(request)


class CheckedRoute(APIRoute):
    """The route class of every router: parameters and bodies checked as the module docstring says."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def checked(request: Request) -> Response:
            checked_request = CheckedRequest(request.scope, request.receive)
            await check_request(checked_request)
            return await handle(checked_request)

        return checked
