"""hardware.edited_fields: every field a user edited survives re-seeding (not only the price)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("hardware") as batch_op:
        batch_op.add_column(sa.Column("edited_fields", JSON_TYPE, nullable=False, server_default=sa.text("'[]'")))
    hardware = sa.table("hardware", sa.column("usd_per_hour_edited", sa.Boolean()), sa.column("edited_fields", JSON_TYPE))
    op.execute(hardware.update().where(hardware.c.usd_per_hour_edited.is_(True)).values(edited_fields=["usd_per_hour"]))
    with op.batch_alter_table("hardware") as batch_op:
        batch_op.drop_column("usd_per_hour_edited")


def downgrade() -> None:
    with op.batch_alter_table("hardware") as batch_op:
        batch_op.add_column(sa.Column("usd_per_hour_edited", sa.Boolean(), nullable=False, server_default=sa.false()))
    hardware = sa.table(
        "hardware", sa.column("id", sa.String()), sa.column("usd_per_hour_edited", sa.Boolean()), sa.column("edited_fields", JSON_TYPE)
    )
    connection = op.get_bind()
    for hardware_id, edited in connection.execute(sa.select(hardware.c.id, hardware.c.edited_fields)).all():
        if "usd_per_hour" in (edited or []):
            connection.execute(hardware.update().where(hardware.c.id == hardware_id).values(usd_per_hour_edited=True))
    with op.batch_alter_table("hardware") as batch_op:
        batch_op.drop_column("edited_fields")
