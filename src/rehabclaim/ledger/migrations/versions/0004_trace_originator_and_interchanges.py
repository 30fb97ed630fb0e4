"""Payment trace numbers are unique per originator (TRN02 with TRN03, as the 835 guide defines the trace),
and every 837P interchange is recorded before its file is renamed into place (pending, then sent), so a
crash between the two can be told apart on the next run.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remit_traces_new",
        sa.Column("trace_number", sa.String(64), primary_key=True),
        sa.Column("originator", sa.String(64), primary_key=True),
        sa.Column("remittance_id", sa.Integer(), sa.ForeignKey("remittances.id"), nullable=False),
    )
    # traces posted before this revision had no originator recorded: '' keeps them refused as before
    op.execute(
        "INSERT INTO remit_traces_new (trace_number, originator, remittance_id) "
        "SELECT trace_number, '', remittance_id FROM remit_traces"
    )
    op.drop_table("remit_traces")
    op.rename_table("remit_traces_new", "remit_traces")
    op.create_table(
        "interchanges",
        sa.Column("control_number", sa.Integer(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # interchanges written before this revision were renamed into place before they were recorded: sent
    op.execute(
        "INSERT INTO interchanges (control_number, path, status, host, pid, created_at) "
        "SELECT interchange_control_number, '', 'sent', '', 0, MIN(sent_at) FROM claims_sent "
        "GROUP BY interchange_control_number"
    )


def downgrade() -> None:
    op.drop_table("interchanges")
    op.create_table(
        "remit_traces_old",
        sa.Column("trace_number", sa.String(64), primary_key=True),
        sa.Column("remittance_id", sa.Integer(), sa.ForeignKey("remittances.id"), nullable=False),
    )
    op.execute(
        "INSERT INTO remit_traces_old (trace_number, remittance_id) "
        "SELECT trace_number, MIN(remittance_id) FROM remit_traces GROUP BY trace_number"
    )
    op.drop_table("remit_traces")
    op.rename_table("remit_traces_old", "remit_traces")
