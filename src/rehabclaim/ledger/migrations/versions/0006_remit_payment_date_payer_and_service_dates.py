"""What secondary claims and date reports need from a posted 835, kept with each remittance claim: the
payment's date (BPR16, check issue or EFT effective date: a secondary claim's DTP*573), the payer's
identifiers (1000A N1*PR N104, else REF*2U; TRN03) so the primary payer's answers can be told from another
payer's, and the date of service of each remittance claim and line.

Rows posted before this revision: the originator (TRN03) is filled in from ``remit_traces`` where the
remittance had one payment with that trace number and its originator was recorded (revision 0004 on); the
date of service from the posted visit (``visits.date``). The payment date and N104/REF*2U were never kept
and stay NULL (the file is not stored): readers fall back to the day the file was posted.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on both databases: nullable columns need no table copy (SQLite's batch copy would drop
    # remit_claims, which remit_lines references)
    op.add_column("remit_claims", sa.Column("payment_date", sa.Date(), nullable=True))  # BPR16
    op.add_column("remit_claims", sa.Column("payer_id", sa.String(80), nullable=True))  # N1*PR N104, else REF*2U
    op.add_column("remit_claims", sa.Column("trace_originator", sa.String(64), nullable=True))  # TRN03
    op.add_column("remit_claims", sa.Column("service_date", sa.Date(), nullable=True))
    op.add_column("remit_lines", sa.Column("service_date", sa.Date(), nullable=True))  # DTM*472 (or 150)
    # one payment with this trace number in the remittance, with its originator recorded: that is the claim's
    op.execute(
        "UPDATE remit_claims SET trace_originator = ("
        " SELECT MAX(t.originator) FROM remit_traces t"
        " WHERE t.remittance_id = remit_claims.remittance_id AND t.trace_number = remit_claims.trace_number"
        " HAVING COUNT(*) = 1 AND MAX(t.originator) <> '')"
    )
    op.execute(
        "UPDATE remit_claims SET service_date = (SELECT v.date FROM visits v WHERE v.id = remit_claims.visit_id)"
    )
    op.execute(
        "UPDATE remit_lines SET service_date = ("
        " SELECT c.service_date FROM remit_claims c WHERE c.id = remit_lines.remit_claim_id)"
    )
    op.create_index("ix_remit_claims_service_date", "remit_claims", ["service_date"])


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35 and later), for the same reason: these columns are in no key or index
    op.drop_index("ix_remit_claims_service_date", "remit_claims")
    op.drop_column("remit_lines", "service_date")
    for column in ("service_date", "trace_originator", "payer_id", "payment_date"):
        op.drop_column("remit_claims", column)
