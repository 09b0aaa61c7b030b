"""Indexes for de-duplication, best-program and status queries on programs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-10
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_programs_campaign_id_code_hash": ["campaign_id", "code_hash"],
    "ix_programs_campaign_id_ast_hash": ["campaign_id", "ast_hash"],
    "ix_programs_campaign_id_status": ["campaign_id", "status"],
    "ix_programs_campaign_id_correct_score": ["campaign_id", "correct", "score"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "programs", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="programs")
