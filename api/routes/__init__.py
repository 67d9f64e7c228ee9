"""One router per product resource; ``api_router`` only aggregates them."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import hardware, methods, models

__all__ = ["api_router"]

api_router = APIRouter(prefix="/v1")
api_router.include_router(models.router)
api_router.include_router(methods.router)
api_router.include_router(hardware.router)
