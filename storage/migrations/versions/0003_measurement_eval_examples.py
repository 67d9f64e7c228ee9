"""measurements.eval_examples: how many examples an accuracy was measured on

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: imported results that do not say their test size keep working as before.
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.add_column(sa.Column("eval_examples", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.drop_column("eval_examples")
