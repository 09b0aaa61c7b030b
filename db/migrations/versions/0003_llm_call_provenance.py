"""LLM call provenance: which operator and parent a call served, its proposal, attempt
(1, or 2 for the repair re-prompt), the campaign's evaluation count when it was stored
(orders failed calls among evaluations, for the bandit and for fork), the finish reason
and the failure detail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = [
    ("operator", sa.String(64), "''"),
    ("parent_id", sa.Integer(), None),
    ("proposal", sa.Integer(), "0"),
    ("attempt", sa.Integer(), "1"),
    ("after_eval", sa.Integer(), "0"),
    ("finish_reason", sa.String(32), "''"),
    ("detail", sa.Text(), "''"),
]


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        for name, type_, default in COLUMNS:
            batch.add_column(
                sa.Column(
                    name,
                    type_,
                    nullable=default is None,
                    server_default=sa.text(default) if default is not None else None,
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        for name, _, _ in reversed(COLUMNS):
            batch.drop_column(name)
