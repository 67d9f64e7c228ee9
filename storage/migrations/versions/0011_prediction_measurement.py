"""predictions.measurement_id and measurement_key: an imported result's out-of-sample forecast, stored before
the result joined the evidence, is a calibration pair like a run's (one per measurement, one per imported
content)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.add_column(sa.Column("measurement_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("measurement_key", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_predictions_measurement_id_measurements"),
            "measurements",
            ["measurement_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(batch_op.f("uq_predictions_measurement_id"), ["measurement_id"])
        batch_op.create_unique_constraint(batch_op.f("uq_predictions_measurement_key"), ["measurement_key"])


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_predictions_measurement_key"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_predictions_measurement_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_predictions_measurement_id_measurements"), type_="foreignkey")
        batch_op.drop_column("measurement_key")
        batch_op.drop_column("measurement_id")
