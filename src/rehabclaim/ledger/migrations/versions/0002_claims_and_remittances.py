"""Claims sent, X12 control numbers, posted remittances.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(12, 2)


def upgrade() -> None:
    op.create_table(
        "control_numbers",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.create_table(
        "claims_sent",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("visit_id", sa.String(64), nullable=False),
        sa.Column("payer", sa.String(64), nullable=False),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("interchange_control_number", sa.Integer(), nullable=False),
        sa.Column("total_charge", MONEY, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_claims_sent_visit_id", "claims_sent", ["visit_id"])
    op.create_table(
        "remittances",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("file_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("trace_numbers", sa.String(512), nullable=False),
        sa.Column("total_paid", MONEY, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "remit_claims",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("remittance_id", sa.Integer(), sa.ForeignKey("remittances.id"), nullable=False),
        sa.Column("visit_id", sa.String(64), nullable=False),
        sa.Column("payer", sa.String(128), nullable=False),
        sa.Column("trace_number", sa.String(64), nullable=True),
        sa.Column("status", sa.String(4), nullable=False),
        sa.Column("charge", MONEY, nullable=False),
        sa.Column("paid", MONEY, nullable=False),
        sa.Column("patient_responsibility", MONEY, nullable=False),
        sa.Column("allowed", MONEY, nullable=False),
        sa.Column("payer_claim_id", sa.String(64), nullable=True),
        sa.Column("adjustments", sa.Text(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
    )
    op.create_index("ix_remit_claims_visit_id", "remit_claims", ["visit_id"])
    op.create_table(
        "remit_lines",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("remit_claim_id", sa.Integer(), sa.ForeignKey("remit_claims.id"), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("modifiers", sa.String(32), nullable=False),
        sa.Column("charge", MONEY, nullable=False),
        sa.Column("paid", MONEY, nullable=False),
        sa.Column("units", sa.Numeric(9, 2), nullable=False),
        sa.Column("adjustments", sa.Text(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
    )
    op.create_index("ix_remit_lines_remit_claim_id", "remit_lines", ["remit_claim_id"])


def downgrade() -> None:
    for table in ("remit_lines", "remit_claims", "remittances", "claims_sent", "control_numbers"):
        op.drop_table(table)
