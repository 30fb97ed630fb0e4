"""Reading the ledger from a service: a database failure becomes one ``Unavailable`` line (no SQL, no values),
and times come back as aware UTC whatever the database (SQLite gives them back naive)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rehabclaim.ledger.database import failure_reason
from rehabclaim.services.errors import Unavailable


@contextmanager
def ledger_failures() -> Iterator[None]:
    """Run the block; a database failure in it is refused as Unavailable, saying why in a few words."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise Unavailable("", f"the ledger failed: {failure_reason(exc)}") from None


@contextmanager
def reading(database: Engine) -> Iterator[Connection]:
    """A connection for reading; a failure opening or using it is Unavailable."""
    with ledger_failures(), database.connect() as connection:
        yield connection


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (the ledger stores UTC; SQLite returns it without a zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
