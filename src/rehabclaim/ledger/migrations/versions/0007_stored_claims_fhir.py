"""A batch of claims kept in the ledger keeps its FHIR R4 Bundle of Claims beside its 837P and CMS-1500 data
(``GET /v1/claims/{n}/fhir``: what ``claim --fhir`` writes).

Batches kept before this revision, batches of secondary claims and batches written to a file have none
(NULL): the visits they were built from are not stored, so the Bundle cannot be made again.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("interchanges", sa.Column("fhir", sa.Text(), nullable=True))  # plain ADD COLUMN: nullable


def downgrade() -> None:
    op.drop_column("interchanges", "fhir")  # plain DROP COLUMN (SQLite 3.35 and later): in no key or index
