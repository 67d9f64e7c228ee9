"""Idempotency keys of POST requests (the IETF ``Idempotency-Key`` header draft, keyed per route).

A request claims its key before it runs; a repeat of the same request (same content type and body) gets
the stored answer, another request under the key is a conflict, and a repeat while the first still runs
is told so. A claim whose request failed is released, so the key stays unused; a claim left by a process
that died mid-request is taken over after :data:`ABANDONED_AFTER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import IdempotencyKeyRow, as_utc, utcnow

__all__ = ["ABANDONED_AFTER", "KEPT_FOR", "Claim", "claim_key", "complete_key", "list_keys", "release_key"]

KEPT_FOR = timedelta(hours=24)
"""How long a key's answer is kept (a client retries within minutes; 24 h as in common practice)."""
ABANDONED_AFTER = timedelta(minutes=10)
"""A claim with no answer after this long belongs to a request whose process died: it can be taken over."""


@dataclass(frozen=True)
class Claim:
    """``claimed``: run the request; ``replay``: answer with the stored response; ``conflict``: the key was
    used for a different request; ``in_progress``: the same request still runs."""

    outcome: Literal["claimed", "replay", "conflict", "in_progress"]
    status_code: int | None = None
    content_type: str | None = None
    response_body: bytes | None = None


def _existing(session: Session, route: str, key: str) -> IdempotencyKeyRow | None:
    return session.get(IdempotencyKeyRow, (route, key), populate_existing=True)


def claim_key(*, session: Session, route: str, key: str, request_sha256: str) -> Claim:
    now = utcnow()
    session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < now - KEPT_FOR))
    session.commit()
    session.add(IdempotencyKeyRow(route=route, key=key, request_sha256=request_sha256, created_at=now))
    try:
        session.commit()
        return Claim("claimed")
    except IntegrityError:
        session.rollback()
    row = _existing(session, route, key)
    if row is None:  # released between our insert and our read: one more try
        return claim_key(session=session, route=route, key=key, request_sha256=request_sha256)
    if row.request_sha256 != request_sha256:
        return Claim("conflict")
    if row.status_code is not None:
        return Claim("replay", row.status_code, row.content_type, row.response_body)
    if as_utc(row.created_at) > now - ABANDONED_AFTER:
        return Claim("in_progress")
    taken = session.execute(
        update(IdempotencyKeyRow)
        .where(
            IdempotencyKeyRow.route == route,
            IdempotencyKeyRow.key == key,
            IdempotencyKeyRow.status_code.is_(None),
            IdempotencyKeyRow.created_at == row.created_at,
        )
        .values(created_at=now)
    )
    session.commit()
    return Claim("claimed") if taken.rowcount == 1 else Claim("in_progress")  # type: ignore[attr-defined]


def complete_key(
    *, session: Session, route: str, key: str, status_code: int, content_type: str | None, response_body: bytes
) -> None:
    session.execute(
        update(IdempotencyKeyRow)
        .where(IdempotencyKeyRow.route == route, IdempotencyKeyRow.key == key)
        .values(status_code=status_code, content_type=content_type, response_body=response_body, completed_at=utcnow())
    )
    session.commit()


def release_key(*, session: Session, route: str, key: str) -> None:
    session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.route == route, IdempotencyKeyRow.key == key, IdempotencyKeyRow.status_code.is_(None)
        )
    )
    session.commit()


def list_keys(*, session: Session) -> list[IdempotencyKeyRow]:
    return list(session.scalars(select(IdempotencyKeyRow).order_by(IdempotencyKeyRow.created_at)))
