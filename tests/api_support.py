"""Helpers for the API tests: an application on a fresh ledger with an admin, a biller and a viewer (each
with a token), the bundled examples, row counts, and a signed web-session cookie."""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import itsdangerous
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, func, select

from rehabclaim.api.app import SESSION_COOKIE, create_app
from rehabclaim.api.settings import ServerSettings
from rehabclaim.ledger.models import Base
from rehabclaim.services import accounts
from rehabclaim.services.accounts import SYSTEM, add_user, create_token

ROLES = ("admin", "biller", "viewer")
SECRET = "a-test-session-secret-of-forty-characters"
EXAMPLES = resources.files("rehabclaim.data").joinpath("examples")
# The demo patients' names, birth dates and member ids (claims.jsonl, remit.835): never in a log or problem.
PATIENT_DATA = ("Ana", "Diaz", "Leo", "1950-04-12", "2015-02-01", "1EG4TE5MK73", "PATIENT*TEST", "TEST")
TRACEBACK_MARKS = ("Traceback", 'File "', "line ", ".py")


def example(name: str) -> bytes:
    return EXAMPLES.joinpath(name).read_bytes()


def example_lines(name: str) -> list[bytes]:
    return [line for line in example(name).split(b"\n") if line.strip()]


def use_cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with cheap parameters: the real ones cost ~150 ms a hash."""
    monkeypatch.setattr(
        accounts, "PASSWORDS", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    )


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_passwords(monkeypatch)


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    database: Engine
    tokens: dict[str, str]  # role -> bearer secret (users named after their role)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "biller", **kwargs: Any) -> Any:
        return self.client.get(path, headers={**self.headers(role), **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, role: str = "biller", **kwargs: Any) -> Any:
        return self.client.post(path, headers={**self.headers(role), **kwargs.pop("headers", {})}, **kwargs)

    def rows(self) -> dict[str, int]:
        """How many rows each ledger table holds."""
        with self.database.connect() as connection:
            return {
                table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }


@contextmanager
def running_api(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[Api]:
    """The application on ``database_url`` with three users (admin, biller, viewer) and a token each."""
    chosen = ServerSettings(database_url=database_url, secret_key=SECRET, **settings)
    app = create_app(chosen)
    database = app.state.database
    tokens = {}
    for role in ROLES:
        add_user(database, name=role, role=role, password="a long enough password", actor=SYSTEM)
        tokens[role] = create_token(database, user=role, name="tests", actor=SYSTEM).secret
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app=app, client=client, database=database, tokens=tokens)


@contextmanager
def signed_in(api: Api, session: dict[str, Any], secret: str = SECRET) -> Iterator[None]:
    """The client carries a session cookie as Starlette's SessionMiddleware signs it (what the web login sets)."""
    signed = itsdangerous.TimestampSigner(secret).sign(b64encode(json.dumps(session).encode()))
    api.client.cookies.set(SESSION_COOKIE, signed.decode())
    try:
        yield
    finally:
        api.client.cookies.clear()


@pytest.fixture
def api(ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The application on the test's ledger (SQLite, and PostgreSQL where ``ledger_url`` gives it), its data
    folder in ``tmp_path`` and no drop-in rules (a fixture: import it into a test module to use it)."""
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHABCLAIM_RULES_DIR", raising=False)
    with running_api(ledger_url, tmp_path) as running:
        yield running


def assert_clean_problem(response: Any, status: int) -> dict[str, Any]:
    """A problem+json answer with ``status``, no traceback and no demo patient's data; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for mark in TRACEBACK_MARKS[:2]:
        assert mark not in response.text
    for value in PATIENT_DATA:
        assert value not in response.text, value
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["type"].startswith("/problems/") and problem["detail"]
    return problem
