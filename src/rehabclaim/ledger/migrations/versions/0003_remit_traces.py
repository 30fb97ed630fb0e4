"""One row per posted payment trace number, so the same payment cannot be posted twice, even by two
processes at once.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remit_traces",
        sa.Column("trace_number", sa.String(64), primary_key=True),
        sa.Column("remittance_id", sa.Integer(), sa.ForeignKey("remittances.id"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("remit_traces")
