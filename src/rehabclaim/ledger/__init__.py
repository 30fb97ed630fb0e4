"""The patient ledger: posted visits and what the rules need of a patient's history (SQLAlchemy 2 +
Alembic; SQLite by default, PostgreSQL by URL)."""

from rehabclaim.ledger.database import database_url, open_ledger
from rehabclaim.ledger.history import LedgerHistory
from rehabclaim.ledger.post import PostRefused, post_visit
from rehabclaim.ledger.state import patient_state

__all__ = ["LedgerHistory", "PostRefused", "database_url", "open_ledger", "patient_state", "post_visit"]
