from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from rehabclaim.model import ScrubResult
from rehabclaim.scrubber import Scrubber, decode_visit

BASE_VISIT: dict[str, Any] = {
    "id": "t1",
    "date": "2026-06-01",
    "payer": "medicare",
    "discipline": "PT",
    "diagnoses": ["M54.50"],
}


@pytest.fixture
def rules(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty drop-in rules folder, in use (and a private data folder beside it)."""
    folder = tmp_path / "rules"
    folder.mkdir()
    monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(folder))
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    return Path(folder)


def drop(rules: Path, relative: str, content: str | bytes | Path) -> Path:
    """Put ``content`` (text as UTF-8, bytes as they are, or a file's bytes) at ``relative`` in ``rules``."""
    path = rules / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Path):
        content = content.read_bytes()
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.fixture(scope="session")
def engine() -> Scrubber:
    return Scrubber()


def visit_json(**fields: Any) -> bytes:
    return msgspec.json.encode({**BASE_VISIT, **fields})


@pytest.fixture
def scrub(engine: Scrubber) -> Any:
    def run(**fields: Any) -> ScrubResult:
        return engine.scrub(decode_visit(visit_json(**fields)))

    return run


def _postgres_url() -> str:
    """A fresh database on the test PostgreSQL server; in CI a missing server fails the run."""
    import os

    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests (scripts/test starts a server)")
        pytest.skip("no TEST_DATABASE_URL: run scripts/test to start a throwaway PostgreSQL")
    return server


@pytest.fixture
def postgres_url() -> Any:
    """A new, empty database on the test PostgreSQL server, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(_postgres_url())
    name = f"rc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """A new, empty ledger database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return request.getfixturevalue("postgres_url")


# --- the live server (tests/browser_support.py): `rehabclaim serve` in a subprocess, shared by the session ---


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real server on a new SQLite ledger, with a biller (``.user``, ``.password``); stopped at the end."""
    from tests.browser_support import serve

    root = tmp_path_factory.mktemp("live-sqlite")
    with serve(f"sqlite:///{root / 'ledger.sqlite3'}", root) as server:
        yield server


@pytest.fixture(scope="session")
def live_server_postgres(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real server on a new PostgreSQL database (in CI a missing server fails, as ``postgres_url``)."""
    from tests.browser_support import postgres_database, serve

    with postgres_database(_postgres_url()) as url, serve(url, tmp_path_factory.mktemp("live-postgres")) as server:
        yield server


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def live_server_on(request: pytest.FixtureRequest) -> Any:
    """The live server on each backend."""
    return request.getfixturevalue("live_server" if request.param == "sqlite" else "live_server_postgres")
