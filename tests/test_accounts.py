"""Accounts: users, passwords, login rate limiting, the first admin, API tokens and `rehabclaim user`, on SQLite
and PostgreSQL. Hashes use cheap argon2id parameters (the real ones cost ~150 ms each) except where the
parameters themselves are under test."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.ledger.database import open_ledger
from rehabclaim.ledger.models import ApiToken, AuditEvent, LoginFailure, User
from rehabclaim.services import (
    Actor,
    BadInput,
    Conflict,
    Forbidden,
    Refusal,
    TooManyAttempts,
    Unauthenticated,
    accounts,
)
from rehabclaim.services.accounts import (
    WRONG_LOGIN,
    TokenSummary,
    actor_for_token,
    add_user,
    authenticate,
    change_password,
    create_token,
    ensure_first_admin,
    get_user,
    list_tokens,
    list_users,
    revoke_token,
    set_disabled,
)

ADMIN = Actor(user="root", role="admin", channel="web")
PASSWORD = "correct horse battery"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HERE = "192.0.2.1"


class CountingHash(PasswordHash):
    """A cheap argon2id hasher that counts verifications: a login failure must cost one, whatever the cause."""

    def __init__(self) -> None:
        super().__init__((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
        self.verifications = 0

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(password, hash)

    def verify_and_update(self, password: str | bytes, hash: str | bytes) -> tuple[bool, str | None]:
        self.verifications += 1
        return super().verify_and_update(password, hash)


@pytest.fixture(autouse=True)
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHash:
    counting = CountingHash()
    monkeypatch.setattr(accounts, "PASSWORDS", counting)
    return counting


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Engine]:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


def login(ledger: Engine, name: str, password: str, *, at: datetime = T0, address: str = HERE) -> Actor:
    return authenticate(ledger, name=name, password=password, address=address, now=at)


Kind = TypeVar("Kind", bound=Refusal)


def refused(kind: type[Kind], operation: Callable[..., object], *args: Any, **kwargs: Any) -> Kind:
    """The refusal of type ``kind`` that ``operation(*args, **kwargs)`` raised (the test fails otherwise)."""
    with pytest.raises(kind) as caught:
        operation(*args, **kwargs)
    return caught.value


def test_add_user_and_log_in(ledger: Engine) -> None:
    added = add_user(ledger, name="alice", role="biller", password=PASSWORD, actor=ADMIN)
    assert added.password is None and added.must_change_password is False  # she chose it
    assert login(ledger, "alice", PASSWORD) == Actor(user="alice", role="biller", channel="web")
    with ledger.connect() as connection:
        stored = connection.scalar(select(User.password_hash).where(User.name == "alice"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_password_and_unknown_name_look_the_same(ledger: Engine, hasher: CountingHash) -> None:
    add_user(ledger, name="alice", role="biller", password=PASSWORD, actor=ADMIN)
    failures = []
    attempts = [("alice", "not the password"), ("nobody", PASSWORD), ("bad name!", PASSWORD), ("alice", "\ud800" * 12)]
    for name, password in attempts:
        before = hasher.verifications
        failure = refused(Unauthenticated, login, ledger, name, password)
        assert hasher.verifications - before == 1  # the same argon2 work: the time does not tell them apart
        failures.append(failure)
    assert {str(failure) for failure in failures} == {WRONG_LOGIN}


def test_generated_password_is_returned_once_and_must_be_changed(ledger: Engine) -> None:
    added = add_user(ledger, name="bob", role="viewer", actor=ADMIN)
    assert added.password is not None and len(added.password) >= accounts.MIN_PASSWORD
    assert added.must_change_password and get_user(ledger, name="bob").must_change_password
    viewer = login(ledger, "bob", added.password)
    change_password(ledger, name="bob", old=added.password, new=PASSWORD, actor=viewer)
    assert not get_user(ledger, name="bob").must_change_password
    assert login(ledger, "bob", PASSWORD).role == "viewer"
    refused(Unauthenticated, login, ledger, "bob", added.password or "")


def test_five_failures_lock_the_name_even_with_the_right_password_until_the_window_passes(ledger: Engine) -> None:
    add_user(ledger, name="alice", role="biller", password=PASSWORD, actor=ADMIN)
    for minute in range(accounts.FAILURES_PER_NAME):
        refused(Unauthenticated, login, ledger, "alice", "guess " * 3, at=T0 + timedelta(minutes=minute))
    locked = refused(TooManyAttempts, login, ledger, "alice", PASSWORD, at=T0 + timedelta(minutes=5))
    assert locked.http_status == 429 and locked.exit_code == 2
    assert "try again in 10 min" in str(locked)  # the first failure (09:00) leaves the window at 09:15
    refused(TooManyAttempts, login, ledger, "alice", PASSWORD, at=T0 + timedelta(minutes=14))
    assert login(ledger, "alice", PASSWORD, at=T0 + timedelta(minutes=15, seconds=1)).user == "alice"
    with ledger.connect() as connection:  # the success cleared her failures
        assert connection.scalars(select(LoginFailure.name)).all() == []


def test_failures_from_one_address_lock_that_address(ledger: Engine) -> None:
    add_user(ledger, name="alice", role="biller", password=PASSWORD, actor=ADMIN)
    for attempt in range(accounts.FAILURES_PER_ADDRESS):
        refused(Unauthenticated, login, ledger, f"user{attempt}", PASSWORD, address="198.51.100.7")
    refused(TooManyAttempts, login, ledger, "alice", PASSWORD, address="198.51.100.7")
    assert login(ledger, "alice", PASSWORD, address=HERE).user == "alice"  # another address is not locked


def test_old_failures_are_pruned(ledger: Engine) -> None:
    refused(Unauthenticated, login, ledger, "alice", PASSWORD, at=T0)
    refused(Unauthenticated, login, ledger, "bob", PASSWORD, at=T0 + timedelta(hours=1))
    with ledger.connect() as connection:
        assert connection.scalars(select(LoginFailure.name)).all() == ["bob"]


def test_disabled_users_cannot_log_in_and_their_tokens_stop(ledger: Engine) -> None:
    add_user(ledger, name="carol", role="biller", password=PASSWORD, actor=ADMIN)
    token = create_token(ledger, user="carol", name="EMR", actor=ADMIN)
    set_disabled(ledger, name="carol", disabled=True, actor=ADMIN)
    assert str(refused(Unauthenticated, login, ledger, "carol", PASSWORD)) == WRONG_LOGIN
    refused(Unauthenticated, actor_for_token, ledger, secret=token.secret)
    set_disabled(ledger, name="carol", disabled=False, actor=ADMIN)
    assert actor_for_token(ledger, secret=token.secret).user == "carol"


def test_outdated_hash_is_rehashed_at_login(ledger: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(ledger, name="alice", role="biller", password=PASSWORD, actor=ADMIN)  # cheap parameters
    monkeypatch.setattr(accounts, "PASSWORDS", PasswordHash.recommended())
    login(ledger, "alice", PASSWORD)
    with ledger.connect() as connection:
        stored = connection.scalar(select(User.password_hash).where(User.name == "alice"))
    assert stored is not None and ",t=1," not in stored and PasswordHash.recommended().verify(PASSWORD, stored)


def test_first_admin_is_created_once_even_by_two_processes_at_once(ledger: Engine) -> None:
    start, passwords = threading.Barrier(2), []

    def first_start() -> None:
        start.wait()
        passwords.append(ensure_first_admin(ledger))

    servers = [threading.Thread(target=first_start) for _ in range(2)]
    for server in servers:
        server.start()
    for server in servers:
        server.join()
    created = [password for password in passwords if password is not None]
    assert len(passwords) == 2 and len(created) == 1
    assert ensure_first_admin(ledger) is None
    [admin] = list_users(ledger, actor=ADMIN)
    assert (admin.name, admin.role, admin.must_change_password) == ("admin", "admin", True)
    assert login(ledger, "admin", created[0]).role == "admin"


def test_tokens_store_only_the_hash_and_stop_when_revoked(ledger: Engine) -> None:
    add_user(ledger, name="emr", role="biller", password=PASSWORD, actor=ADMIN)
    token = create_token(ledger, user="emr", name="EMR feed", actor=ADMIN)
    assert token.secret.startswith("rc_") and len(token.secret) > 40
    assert actor_for_token(ledger, secret=token.secret, now=T0) == Actor(user="emr", role="biller", channel="api")
    with ledger.connect() as connection:
        row = connection.execute(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(token.secret.encode()).hexdigest()
    assert token.secret not in repr(tuple(row))
    [listed] = list_tokens(ledger, actor=ADMIN)
    assert listed.last_used_at == T0 and not listed.revoked and "secret" not in TokenSummary.__struct_fields__
    revoke_token(ledger, token_id=token.id, actor=ADMIN)
    for secret in (token.secret, "rc_" + "x" * 43, "Bearer nonsense", ""):
        refused(Unauthenticated, actor_for_token, ledger, secret=secret)


def test_roles_limit_who_manages_accounts(ledger: Engine) -> None:
    add_user(ledger, name="vera", role="viewer", password=PASSWORD, actor=ADMIN)
    for role in ("viewer", "biller"):
        someone = Actor(user="vera", role=role, channel="web")
        forbidden = refused(Forbidden, add_user, ledger, name="mallory", role="admin", password=PASSWORD, actor=someone)
        assert forbidden.http_status == 403
    viewer = login(ledger, "vera", PASSWORD)
    refused(Forbidden, list_users, ledger, actor=viewer)
    refused(Forbidden, create_token, ledger, user="root", name="x", actor=viewer)
    refused(Forbidden, change_password, ledger, name="root", old=None, new=PASSWORD, actor=viewer)
    assert create_token(ledger, user="vera", name="mine", actor=viewer).user == "vera"  # her own, read-only
    assert [user.name for user in list_users(ledger, actor=ADMIN)] == ["vera"]


def test_bad_input_names_the_field_and_never_echoes_a_password(ledger: Engine) -> None:
    cases = [
        ({"name": "has space", "role": "biller", "password": PASSWORD}, "name"),
        ({"name": "x" * 65, "role": "biller", "password": PASSWORD}, "name"),
        ({"name": "ok", "role": "owner", "password": PASSWORD}, "role"),
        ({"name": "ok", "role": "biller", "password": "short-secret"[:11]}, "password"),
    ]
    for fields, field in cases:
        bad = refused(BadInput, add_user, ledger, actor=ADMIN, **fields)
        assert bad.field == field and "short-secr" not in str(bad) and PASSWORD not in str(bad)
    add_user(ledger, name="ok", role="biller", password=PASSWORD, actor=ADMIN)
    assert refused(Conflict, add_user, ledger, name="ok", role="viewer", password=PASSWORD, actor=ADMIN).field == "name"
    wrong_old = refused(
        Unauthenticated, change_password, ledger, name="ok", old="wrong password", new=PASSWORD * 2, actor=ADMIN
    )
    assert wrong_old.field == "old" and "wrong password" not in str(wrong_old)


def test_guessing_the_old_password_counts_as_failed_logins(ledger: Engine) -> None:
    add_user(ledger, name="alice", role="biller", password=PASSWORD, actor=ADMIN)
    alice = Actor(user="alice", role="biller", channel="web")
    for _ in range(accounts.FAILURES_PER_NAME):
        refused(
            Unauthenticated,
            change_password,
            ledger,
            name="alice",
            old="a guessed password",
            new=PASSWORD * 2,
            actor=alice,
        )
    refused(TooManyAttempts, change_password, ledger, name="alice", old=PASSWORD, new=PASSWORD * 2, actor=alice)
    refused(TooManyAttempts, authenticate, ledger, name="alice", password=PASSWORD, address=HERE)


def test_audit_rows_and_logs_hold_no_secrets(ledger: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    generated = add_user(ledger, name="gen", role="viewer", actor=ADMIN).password
    add_user(ledger, name="alice", role="biller", password=PASSWORD, actor=ADMIN)
    token = create_token(ledger, user="alice", name="EMR feed", actor=ADMIN)
    change_password(ledger, name="alice", old=PASSWORD, new="another fine passphrase", actor=ADMIN)
    refused(Unauthenticated, login, ledger, "alice", "a wrong passphrase")
    with ledger.connect() as connection:
        events = connection.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
        hashes = connection.scalars(select(User.password_hash)).all()
    assert [(e.user, e.channel, e.action, e.subject) for e in events] == [
        ("root", "web", "user.add", "gen"),
        ("root", "web", "user.add", "alice"),
        ("root", "web", "token.create", "alice"),
        ("root", "web", "user.password", "alice"),
    ]
    secrets = [generated, PASSWORD, token.secret, "another fine passphrase", "a wrong passphrase", *hashes]
    written = repr([tuple(event) for event in events]) + caplog.text
    assert not [secret for secret in secrets if secret and secret in written]


# --- rehabclaim user ------------------------------------------------------------------------------------------

runner = CliRunner()


def cli(ledger_url: str, *args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["user", *args, "--database-url", ledger_url], input=input)


def test_cli_user_add_prints_the_password_once(ledger_url: str) -> None:
    added = cli(ledger_url, "add", "alice", "--role", "biller")
    assert added.exit_code == 0, added.output
    [password] = [line.rsplit(": ", 1)[1] for line in added.stdout.splitlines() if "password" in line]
    assert added.stdout.count(password) == 1
    duplicate = cli(ledger_url, "add", "alice", "--role", "viewer")
    assert duplicate.exit_code == 2 and duplicate.stdout == ""
    assert duplicate.stderr.strip() == "error: name: user 'alice' already exists"
    chosen = cli(ledger_url, "add", "bob", "--role", "viewer", "--password-stdin", input=PASSWORD + "\n")
    assert chosen.exit_code == 0 and PASSWORD not in chosen.output
    assert cli(ledger_url, "add", "carl", "--role", "viewer", "--password-stdin", input="short\n").exit_code == 2
    ledger = open_ledger(ledger_url)
    try:
        assert login(ledger, "alice", password).role == "biller"
        assert login(ledger, "bob", PASSWORD).role == "viewer"
    finally:
        ledger.dispose()


def test_cli_list_token_and_passwd(ledger_url: str) -> None:
    assert cli(ledger_url, "add", "emr", "--role", "biller", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    token = cli(ledger_url, "token", "emr", "--label", "EMR feed", "--json")
    assert token.exit_code == 0, token.output
    secret = json.loads(token.stdout)["secret"]
    users = json.loads(cli(ledger_url, "list", "--json").stdout)
    assert [(u["name"], u["role"], u["must_change_password"]) for u in users] == [("emr", "biller", False)]
    listed = cli(ledger_url, "tokens", "--json")
    assert secret not in listed.stdout and json.loads(listed.stdout)[0]["name"] == "EMR feed"
    assert cli(ledger_url, "passwd", "emr", "--password-stdin", input="a brand new passphrase\n").exit_code == 0
    assert cli(ledger_url, "token", "nobody", "--label", "x").exit_code == 2
    ledger = open_ledger(ledger_url)
    try:
        assert login(ledger, "emr", "a brand new passphrase").user == "emr"
        assert actor_for_token(ledger, secret=secret).user == "emr"
    finally:
        ledger.dispose()
