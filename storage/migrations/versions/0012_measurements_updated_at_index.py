"""An index on measurements.updated_at: every plan reads the newest edit (its measurements watermark and
the prior's corpus version), a full scan at 10,000 rows without it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_measurements_updated_at", "measurements", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_measurements_updated_at", table_name="measurements")
