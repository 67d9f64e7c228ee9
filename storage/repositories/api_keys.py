"""API keys and the audit log of writes.

A key reads ``tc_<id>_<secret>``: the id finds the row, the secret is checked against its argon2 hash
(RFC 9106's memory-hard KDF, so a leaked table does not give the keys away). Only the hash is stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import ApiKeyRow, AuditEventRow, utcnow

__all__ = [
    "KEY_PREFIX",
    "SCOPES",
    "create_key",
    "list_audit_events",
    "list_keys",
    "live_key_count",
    "record_write",
    "revoke_key",
    "verify_key",
]

KEY_PREFIX = "tc_"
SCOPES = ("read", "plan", "run", "admin")
"""read: every GET; plan: tasks, datasets, measurements, cost, plans, gate, scaling fits; run: queue and cancel
runs; admin: everything, including the catalogs (hardware, model imports)."""

_HASHER = PasswordHasher()


def create_key(*, session: Session, name: str, scopes: Sequence[str]) -> tuple[ApiKeyRow, str]:
    """A new key and its full text (shown once: only its hash is kept)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(scopes) or 'none'})")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = ApiKeyRow(id=key_id, name=name, scopes=sorted(set(scopes)), secret_hash=_HASHER.hash(secret))
    session.add(row)
    session.commit()
    return row, f"{KEY_PREFIX}{key_id}_{secret}"


def verify_key(*, session: Session, token: str) -> ApiKeyRow | None:
    """The live key ``token`` names, or None (malformed, unknown, revoked or a wrong secret)."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, _, secret = token[len(KEY_PREFIX) :].partition("_")
    row = session.get(ApiKeyRow, key_id) if key_id and secret else None
    if row is None or row.revoked_at is not None:
        return None
    try:
        _HASHER.verify(row.secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return None
    row.last_used_at = utcnow()
    session.commit()
    return row


def list_keys(*, session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))


def live_key_count(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))) or 0


def revoke_key(*, session: Session, key_id: str) -> ApiKeyRow:
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        raise NotFoundError("API key", key_id, field="key_id", location="path")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row


def record_write(
    *,
    session: Session,
    key_id: str | None,
    method: str,
    route: str,
    path: str,
    entity: str | None,
    status_code: int,
    request_id: str | None = None,
) -> None:
    """Audit one write; ``request_id`` is the request's X-Request-ID (1-64 safe characters)."""
    session.add(
        AuditEventRow(
            key_id=key_id,
            method=method,
            route=route[:200],
            path=path[:500],
            entity=entity[:200] if entity else None,
            status_code=status_code,
            request_id=request_id,
        )
    )
    session.commit()


def list_audit_events(
    *, session: Session, limit: int = 100, key_ids: Iterable[str] | None = None, request_id: str | None = None
) -> list[AuditEventRow]:
    """The latest writes first, of these keys and of this request when given."""
    query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
    if key_ids is not None:
        query = query.where(AuditEventRow.key_id.in_(list(key_ids)))
    if request_id is not None:
        query = query.where(AuditEventRow.request_id == request_id)
    return list(session.scalars(query))
