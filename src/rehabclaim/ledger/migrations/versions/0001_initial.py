"""The first ledger: patients, posted visits and lines, orthotic encounters, plans of care, authorizations.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(12, 2)


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(64), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("payer", sa.String(64), nullable=False),
        sa.Column("discipline", sa.String(8), nullable=False),
        sa.Column("benefit", sa.String(8), nullable=False),
        sa.Column("therapy_units", sa.Integer(), nullable=False),
        sa.Column("total_charge", MONEY, nullable=False),
        sa.Column("therapy_expected", MONEY, nullable=False),
        sa.Column("allowed", MONEY, nullable=True),
        sa.Column("progress_report", sa.Boolean(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_visits_patient_date", "visits", ["patient_id", "date"])
    op.create_table(
        "visit_lines",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("visit_id", sa.String(64), sa.ForeignKey("visits.id"), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("modifiers", sa.String(32), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("charge", MONEY, nullable=True),
        sa.Column("expected", MONEY, nullable=True),
    )
    op.create_index("ix_visit_lines_visit_id", "visit_lines", ["visit_id"])
    op.create_table(
        "orthotic_encounters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(64), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("visit_id", sa.String(64), sa.ForeignKey("visits.id"), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("body_region", sa.String(32), nullable=False),
    )
    op.create_index("ix_orthotic_encounters_patient_id", "orthotic_encounters", ["patient_id"])
    op.create_table(
        "plans_of_care",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(64), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("discipline", sa.String(8), nullable=False),
        sa.Column("certified_from", sa.Date(), nullable=False),
        sa.Column("certified_through", sa.Date(), nullable=False),
        sa.Column("physician_npi", sa.String(10), nullable=True),
        sa.Column("physician_name", sa.String(128), nullable=True),
        sa.UniqueConstraint("patient_id", "discipline", "certified_from"),
    )
    op.create_index("ix_plans_of_care_patient_id", "plans_of_care", ["patient_id"])
    op.create_table(
        "authorizations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(64), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("payer", sa.String(64), nullable=False),
        sa.Column("number", sa.String(64), nullable=True),
        sa.Column("visits", sa.Integer(), nullable=True),
        sa.Column("units", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_through", sa.Date(), nullable=False),
        sa.UniqueConstraint("patient_id", "payer", "valid_from"),
    )
    op.create_index("ix_authorizations_patient_id", "authorizations", ["patient_id"])


def downgrade() -> None:
    for table in ("authorizations", "plans_of_care", "orthotic_encounters", "visit_lines", "visits", "patients"):
        op.drop_table(table)
