"""A route's answer serialised in the route's own thread.

FastAPI validates what a plain ``def`` route returns against its ``response_model`` in a second hop to
the thread pool, then dumps the JSON on the event loop. A route that already built its response model
(the constructor validated it) returns :func:`model_response` instead: one hop, and the JSON is written
beside the work (issue #15: a single-candidate ``POST /v1/cost`` made two hops). The route keeps
``response_model`` for the OpenAPI schema; the bytes are the same as FastAPI's (aliases, non-finite
floats as ``null``).
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel

__all__ = ["model_response"]


def model_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """``model`` as ``application/json`` with ``status_code``, dumped as FastAPI dumps a response model."""
    return Response(model.model_dump_json(by_alias=True), status_code=status_code, media_type="application/json")
