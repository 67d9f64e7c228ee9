"""predictions.predictor as text: a measured forecast names its runs' sources (up to ~230 characters) and a
calibrated one says so, past the old 128-character column that PostgreSQL enforces

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.alter_column("predictor", existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    # Texts longer than the old column are cut to fit it (they are descriptions, not keys).
    op.execute("UPDATE predictions SET predictor = substr(predictor, 1, 128)")
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.alter_column("predictor", existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False)
