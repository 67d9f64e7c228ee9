"""workers, plan versions, task fields, measurements.task_id, predictions.plan_version

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("boot_id", sa.String(length=32), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("queues", JSON_TYPE, nullable=False),
        sa.Column("versions", JSON_TYPE, nullable=False),
        sa.Column("model_roots", JSON_TYPE, nullable=False),
        sa.Column("models", JSON_TYPE, nullable=False),
        sa.Column("hardware", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_workers")),
    )
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", JSON_TYPE, nullable=False),
        sa.Column("changed", JSON_TYPE, nullable=False),
        sa.Column("result", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_versions_plan_id_plans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_versions")),
    )
    op.create_index("ix_plan_versions_plan_version", "plan_versions", ["plan_id", "version"], unique=True)
    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")))
    # Every existing plan becomes its own version 1 (its first computation; nothing is known of earlier ones).
    op.execute(
        "INSERT INTO plan_versions (plan_id, version, created_at, \"trigger\", changed, result) "
        "SELECT id, 1, updated_at, '{\"reason\": \"created\"}', '{}', result FROM plans"
    )
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.add_column(sa.Column("plan_version", sa.Integer(), nullable=True))
    op.execute("UPDATE predictions SET plan_version = 1 WHERE plan_id IS NOT NULL")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("n_choices", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("train_examples", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("test_examples", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tasks_name"), ["name"], unique=False)
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_measurements_task_id"), ["task_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_measurements_task_id_tasks"), "tasks", ["task_id"], ["id"], ondelete="SET NULL"
        )
    # Measurements that named their task by id now carry the id in task_id and the task's name in task,
    # so plans and filters join them by either.
    op.execute("UPDATE measurements SET task_id = task WHERE task IN (SELECT id FROM tasks)")
    op.execute(
        "UPDATE measurements SET task = (SELECT name FROM tasks WHERE tasks.id = measurements.task_id) "
        "WHERE task_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE measurements SET task = task_id WHERE task_id IS NOT NULL")
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_measurements_task_id_tasks"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_measurements_task_id"))
        batch_op.drop_column("task_id")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_name"))
        batch_op.drop_column("test_examples")
        batch_op.drop_column("train_examples")
        batch_op.drop_column("n_choices")
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_column("plan_version")
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("version")
    op.drop_index("ix_plan_versions_plan_version", table_name="plan_versions")
    op.drop_table("plan_versions")
    op.drop_table("workers")
