"""Indexes for the dashboard's direct reads on large campaigns: the counts by status,
outcome and correctness from the index alone, the distinct islands and operators by index
skip-scan, the LLM spend total of a campaign from the index alone, and the best-score
steps (a window over evaluated programs in eval_seq order) from a covering index.

Also the campaign lease: campaigns.lease_owner ("host:pid:start-time" of the controller
running the campaign) and campaigns.lease_until (when that lease expires unless renewed),
so that two controllers never run the same campaign at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_programs_campaign_id_status_outcome_correct": (
        "programs",
        ["campaign_id", "status", "outcome", "correct"],
    ),
    "ix_programs_campaign_id_island": ("programs", ["campaign_id", "island"]),
    "ix_programs_campaign_id_operator": ("programs", ["campaign_id", "operator"]),
    "ix_llm_calls_campaign_id_cost_usd": ("llm_calls", ["campaign_id", "cost_usd"]),
    "ix_programs_campaign_id_eval_seq_status_correct_score": (
        "programs",
        ["campaign_id", "eval_seq", "status", "correct", "score"],
    ),
}

LEASE_COLUMNS = [
    ("lease_owner", sa.String(255)),
    ("lease_until", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    with op.batch_alter_table("campaigns") as batch:
        for name, type_ in LEASE_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        for name, _ in reversed(LEASE_COLUMNS):
            batch.drop_column(name)
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
