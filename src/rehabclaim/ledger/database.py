"""Opening the ledger: SQLite in the user's data folder by default, PostgreSQL (or any SQLAlchemy URL) by
``--database-url`` or ``REHABCLAIM_DATABASE_URL``. Opening migrates the schema to the newest revision.

Many processes may open a new ledger at once, so migrations are serialised: on PostgreSQL by an advisory
lock, on SQLite by an OS file lock beside the database (``<file>.migrate.lock``) and a write transaction
taken up front (SQLite's DDL is transactional too, so a killed migration leaves the old schema whole). A
ledger already at the newest revision is not migrated at all. The SQLite file holds patient data: it is
created owner-only (SQLite gives its ``-wal`` and ``-shm`` files the database file's mode), and a folder
created for it is 0700.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError, SQLAlchemyError

from rehabclaim.atomic import PRIVATE_MODE, make_folder
from rehabclaim.settings import data_dir

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 4711_0001  # PostgreSQL advisory lock id: one process migrates at a time
LOCK_WAIT_SECONDS = 600.0  # waiting for another process's migration (a big ledger's can take minutes)
BUSY_RETRIES = 5  # "database is locked" can come at once, bypassing SQLite's busy timeout (a journal mode
QUICK_FAILURE_SECONDS = 1.0  # change, a lock upgrade): retried; after the whole timeout it is really locked
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class LedgerUnavailable(Exception):
    """The ledger could not be opened or migrated. ``database`` is the URL with its password hidden,
    ``reason`` one short line (a driver's first line, never SQL)."""

    def __init__(self, database: str, reason: str) -> None:
        self.database = database
        self.reason = reason
        super().__init__(f"cannot open the ledger {database}: {reason}")


class MigrationFailed(Exception):
    """A migration step failed (say, a table it creates already exists); the message is its first line."""


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("REHABCLAIM_DATABASE_URL") or f"sqlite:///{data_dir() / 'ledger.sqlite3'}"


def shown_url(url: str) -> str:
    """The URL for a message: the password replaced by ``***``; nothing of a URL that cannot be parsed
    (it might hold a password where the parser cannot find it)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a malformed database URL)"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_ledger(url: str | None = None) -> Engine:
    """An engine on the ledger, its schema migrated to head. Raises LedgerUnavailable."""
    resolved = database_url(url)
    engine: Engine | None = None
    try:
        database_file = sqlite_file(resolved)
        if database_file is not None:
            _create_private(database_file)
        engine = _engine(resolved)
        _retry_while_busy(lambda: migrate(engine, database_file))
    except (SQLAlchemyError, CommandError, MigrationFailed, OSError, ImportError) as exc:
        if engine is not None:
            engine.dispose()
        raise LedgerUnavailable(shown_url(resolved), failure_reason(exc)) from exc
    return engine


def _engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_private(database_file: Path) -> None:
    """The database file (and any folder made for it) owner-only before SQLite first opens it; an older,
    readable ledger and its journals are made owner-only too."""
    make_folder(database_file.parent, private=True)
    if not database_file.exists():
        os.close(os.open(database_file, os.O_WRONLY | os.O_CREAT, PRIVATE_MODE))  # SQLite takes it as a new one
    for path in (database_file, *(Path(f"{database_file}{suffix}") for suffix in SQLITE_COMPANIONS)):
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        if status.st_mode & 0o077 and status.st_uid == os.getuid():
            os.chmod(path, status.st_mode & 0o700)


def _retry_while_busy(action: Callable[[], None]) -> None:
    for attempt in range(BUSY_RETRIES):
        started = time.monotonic()
        try:
            action()
            return
        except OperationalError as exc:
            quick = time.monotonic() - started < QUICK_FAILURE_SECONDS
            if not (_busy(exc) and quick) or attempt == BUSY_RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)


def _busy(exc: DBAPIError) -> bool:
    """SQLite's "database is locked" (or "busy"): another process holds the write lock; worth a retry."""
    return isinstance(exc, OperationalError) and ("locked" in str(exc.orig) or "busy" in str(exc.orig))


def failure_reason(exc: BaseException) -> str:
    """One short line saying why: the driver's own first line, never the SQL SQLAlchemy appends."""
    if isinstance(exc, NoSuchModuleError):
        return f"unknown database type ({exc})"
    if isinstance(exc, ArgumentError):
        return "not a database URL (expected e.g. sqlite:///path/ledger.sqlite3 or postgresql+psycopg://user@host/db)"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        message = str(exc.orig)
    elif isinstance(exc, OSError) and exc.strerror:
        message = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    elif isinstance(exc, ImportError):
        message = f"its driver is not installed ({exc})"
    elif isinstance(exc, CommandError | MigrationFailed):
        message = f"cannot migrate its schema to revision {head_revision()}: {exc}"
    else:
        message = str(exc)
    lines = message.strip().splitlines()
    return lines[0].strip()[:200] if lines else exc.__class__.__name__


def insert_ignoring_duplicates(connection: Connection, table: type, values: dict[str, object]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL), so concurrent writers do not collide."""
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(dialect_insert(table).values(**values).on_conflict_do_nothing())


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache  # the migration scripts are package files: the head cannot change while the process runs
def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _at_head(connection: Connection) -> bool:
    return MigrationContext.configure(connection).get_current_revision() == head_revision()


def migrate(engine: Engine, database_file: Path | None = None) -> None:
    """Bring the schema to head, one process at a time (``database_file``: the SQLite file, locked beside)."""
    if database_file is None:
        _upgrade(engine)
        return
    with _file_lock(Path(f"{database_file}.migrate.lock")):
        _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    with engine.connect() as connection:
        if _at_head(connection):  # the usual case: no lock, no write transaction
            return
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # DDL in one transaction, the write lock taken now
        elif connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        if _at_head(connection):  # another process migrated while this one waited
            return
        config = _config()
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except DBAPIError as exc:
            if _busy(exc):
                raise  # retried by the caller
            raise MigrationFailed(failure_reason(exc)) from exc


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (created owner-only, never deleted: deleting a lock file races)."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another process held {path.name} for {LOCK_WAIT_SECONDS:.0f} s") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(handle)  # closing releases the lock
