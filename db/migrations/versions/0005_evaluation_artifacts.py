"""Evaluation artifacts: the evaluator's named texts (EvalResult.artifacts), until now
dropped. "evaluated_code" is the program as scored where the evaluation changed it
(AutoNumerics tunes the constants first), which the dashboard's Code card shows. NULL in
the rows written before: they have none.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("artifacts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("artifacts")
