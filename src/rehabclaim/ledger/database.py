"""Opening the ledger: SQLite in the user's data folder by default, PostgreSQL (or any SQLAlchemy URL) by
``--database-url`` or ``REHABCLAIM_DATABASE_URL``. Opening migrates the schema to the newest revision."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite

from rehabclaim.settings import data_dir

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 4711_0001  # PostgreSQL advisory lock id: one process migrates at a time


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("REHABCLAIM_DATABASE_URL") or f"sqlite:///{data_dir() / 'ledger.sqlite3'}"


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_ledger(url: str | None = None) -> Engine:
    """An engine on the ledger, its schema migrated to head."""
    resolved = database_url(url)
    if resolved.startswith("sqlite:///") and resolved != "sqlite:///:memory:":
        Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if resolved.startswith("sqlite"):
        engine = create_engine(resolved, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(resolved, pool_pre_ping=True)
    migrate(engine)
    return engine


def insert_ignoring_duplicates(connection: Connection, table: type, values: dict[str, object]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL), so concurrent writers do not collide."""
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(dialect_insert(table).values(**values).on_conflict_do_nothing())


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
