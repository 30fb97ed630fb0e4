"""Accounts: users with argon2id passwords and a role, API tokens for integrators, and logins slowed down after
repeated failures (counted in the ledger, so every server process sees them).

Secrets never leave this module except once, to the caller that asked for them: the generated password of a
new user (``NewUser.password``) and a new token's secret (``NewToken.secret``). Only the password's argon2id
hash and the token's SHA-256 are stored; no message, log line or audit detail holds either.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import msgspec
from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from sqlalchemy import ColumnElement, Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from rehabclaim.errors import quote
from rehabclaim.ledger.database import failure_reason
from rehabclaim.ledger.models import ApiToken, LoginFailure, User
from rehabclaim.services.actor import ROLES, Actor, Channel, Role
from rehabclaim.services.audit import record
from rehabclaim.services.errors import (
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)
from rehabclaim.services.reading import reading, utc

PASSWORDS = PasswordHash.recommended()  # argon2id with argon2-cffi's current parameters
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # long enough for any passphrase; bounds the hashing work one request can ask for
NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
TOKEN_PREFIX = "rc_"  # tells a token from a password in a header or a leaked log, and lets scanners find it
MAX_LABEL = 64  # api_tokens.name
LOGIN_WINDOW = timedelta(minutes=15)
FAILURES_PER_NAME = 5
FAILURES_PER_ADDRESS = 20
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often: no write per request
FIRST_ADMIN = "admin"
SYSTEM = Actor(user="system", role="admin", channel="cli")  # who creates the first admin
WRONG_LOGIN = "name or password is wrong"  # the same for an unknown name, a wrong password, a disabled account
BAD_TOKEN = "the token is not valid"


class NewUser(msgspec.Struct, frozen=True):
    """A user just added; ``password`` is the generated one (shown once), None when the caller chose it."""

    name: str
    role: Role
    must_change_password: bool
    password: str | None


class UserSummary(msgspec.Struct, frozen=True):
    name: str
    role: Role
    must_change_password: bool
    disabled: bool
    created_at: datetime


class NewToken(msgspec.Struct, frozen=True):
    """A token just created; ``secret`` is shown once and cannot be read back (only its SHA-256 is kept)."""

    id: int
    user: str
    name: str
    secret: str
    created_at: datetime


class TokenSummary(msgspec.Struct, frozen=True):
    id: int
    user: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


# --- users --------------------------------------------------------------------------------------------------


def add_user(database: Engine, *, name: str, role: str, password: str | None = None, actor: Actor) -> NewUser:
    """Add an account (admins only). Without ``password`` one is generated, to be changed at first login."""
    _require_admin(actor, "add users")
    _check_name(name)
    checked_role = _check_role(role)
    if password is not None:
        _check_password(password)
    with reading(database) as connection:
        if _user_row(connection, name) is not None:
            raise _exists(name)
    generated = password is None
    chosen = _generated_password() if password is None else password
    password_hash = _hash(chosen)  # before the transaction: SQLite would hold its write lock while hashing
    try:
        with _writing(database) as connection:
            _insert_user(connection, name=name, role=checked_role, password_hash=password_hash, must_change=generated)
            record(connection, actor=actor, action="user.add", subject=name, detail=f"role {checked_role}")
    except IntegrityError:  # added by someone else since the check above
        raise _exists(name) from None
    return NewUser(name, checked_role, must_change_password=generated, password=chosen if generated else None)


def ensure_first_admin(database: Engine) -> str | None:
    """On a ledger with no users, add ``admin`` with a one-time password and return it (to be printed once);
    None when there are users already, or another process added the first one at the same moment."""
    with reading(database) as connection:
        if _any_user(connection):
            return None
    password = _generated_password()
    password_hash = _hash(password)
    try:
        with _writing(database) as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")  # the check and the insert under one write lock
            if _any_user(connection):
                return None
            _insert_user(connection, name=FIRST_ADMIN, role="admin", password_hash=password_hash, must_change=True)
            record(connection, actor=SYSTEM, action="user.add", subject=FIRST_ADMIN, detail="role admin; first start")
    except IntegrityError:  # another server process added it first (the name is unique)
        return None
    return password


def change_password(database: Engine, *, name: str, old: str | None, new: str, actor: Actor) -> None:
    """A user changes their own password (``old`` required and checked); an admin may set anyone's (``old``
    may be None). Clears ``must_change_password``."""
    if actor.role != "admin" and (actor.user != name or old is None):
        raise Forbidden("name", "only an admin may set another user's password, or one without the old password")
    _check_password(new)
    moment = datetime.now(UTC)
    with reading(database) as connection:
        if old is not None:
            _refuse_while_locked(connection, name, None, moment)
        row = _user_row(connection, name)
    if row is None:
        raise NotFound("name", f"no user {quote(name)}")
    if old is not None:
        if not _verified(row.password_hash, old)[0]:
            _record_failure(database, name, "", moment)  # guessing through this form is slowed like a login
            raise Unauthenticated("old", "the old password is wrong")
        if old == new:
            raise BadInput("password", "the new password must differ from the old one")
    new_hash = _hash(new)
    with _writing(database) as connection:
        connection.execute(
            update(User).where(User.id == row.id).values(password_hash=new_hash, must_change_password=False)
        )
        record(connection, actor=actor, action="user.password", subject=name, detail="password changed")


def set_disabled(database: Engine, *, name: str, disabled: bool, actor: Actor) -> UserSummary:
    """Disable an account (it cannot log in and its tokens stop working) or enable it again; admins only."""
    _require_admin(actor, "disable or enable users")
    with _writing(database) as connection:
        changed = connection.execute(update(User).where(User.name == name).values(disabled=disabled)).rowcount
        if not changed:
            raise NotFound("name", f"no user {quote(name)}")
        action = "user.disable" if disabled else "user.enable"
        record(connection, actor=actor, action=action, subject=name, detail="")
        row = _user_row(connection, name)
    assert row is not None  # updated just above, in this transaction
    return _user_summary(row)


def list_users(database: Engine, *, actor: Actor) -> list[UserSummary]:
    _require_admin(actor, "list users")
    with reading(database) as connection:
        rows = connection.execute(select(User.__table__).order_by(User.name)).mappings().all()
    return [_user_summary(_Account(**row)) for row in rows]


def get_user(database: Engine, *, name: str) -> UserSummary:
    """One account (the web page asks whether its password must be changed); NotFound when there is none."""
    with reading(database) as connection:
        row = _user_row(connection, name)
    if row is None:
        raise NotFound("name", f"no user {quote(name)}")
    return _user_summary(row)


def actor_for_user(database: Engine, *, name: str, channel: Channel = "web") -> Actor:
    """The actor behind a signed session naming ``name``: Unauthenticated once the account is gone or disabled."""
    with reading(database) as connection:
        row = _user_row(connection, name)
    if row is None or row.disabled:
        raise Unauthenticated("", "the account no longer exists or is disabled")
    return Actor(user=row.name, role=_check_role(row.role), channel=channel)


# --- logins ---------------------------------------------------------------------------------------------------


def authenticate(
    database: Engine, *, name: str, password: str, address: str, now: datetime | None = None, channel: Channel = "web"
) -> Actor:
    """The actor for a name and password. Every failure says ``WRONG_LOGIN`` after the same work (one argon2
    verification, one recorded failure), so neither the message nor the time tells an unknown name from a
    wrong password. After ``FAILURES_PER_NAME`` failures for a name, or ``FAILURES_PER_ADDRESS`` from an
    address, within ``LOGIN_WINDOW``, TooManyAttempts until the oldest of them leaves the window (attempts
    refused this way are not counted, so the lock ends). A success clears the name's failures."""
    moment = _utc(now)
    name_key = name if NAME.fullmatch(name) else None  # no account has a malformed name
    address_key = address.replace("\x00", "")[:64]
    with reading(database) as connection:
        _refuse_while_locked(connection, name_key, address_key, moment)
        row = _user_row(connection, name_key) if name_key else None
    valid, updated_hash = _verified(row.password_hash if row else None, password)
    if row is None or not valid or row.disabled:
        _record_failure(database, name_key or "", address_key, moment)
        raise Unauthenticated("", WRONG_LOGIN)
    with _writing(database) as connection:
        connection.execute(delete(LoginFailure).where(LoginFailure.name == row.name))
        if updated_hash is not None:  # the hasher's parameters changed since this hash was made
            connection.execute(update(User).where(User.id == row.id).values(password_hash=updated_hash))
    return Actor(user=row.name, role=_check_role(row.role), channel=channel)


def _refuse_while_locked(connection: Connection, name: str | None, address: str | None, moment: datetime) -> None:
    since = moment - LOGIN_WINDOW
    limits = []
    if name is not None:
        limits.append((LoginFailure.name == name, FAILURES_PER_NAME, "for this name"))
    if address is not None:
        limits.append((LoginFailure.address == address, FAILURES_PER_ADDRESS, "from this address"))
    for matches, limit, whose in limits:
        times = connection.scalars(
            select(LoginFailure.at).where(matches, LoginFailure.at > since).order_by(LoginFailure.at)
        ).all()
        if len(times) >= limit:
            unlocks = _utc(times[len(times) - limit]) + LOGIN_WINDOW
            minutes = max(1, -(-int((unlocks - moment).total_seconds()) // 60))
            raise TooManyAttempts("", f"too many failed logins {whose}; try again in {minutes} min")


def _record_failure(database: Engine, name: str, address: str, moment: datetime) -> None:
    """One failed attempt; failures older than the window go at the same time."""
    with _writing(database) as connection:
        connection.execute(delete(LoginFailure).where(LoginFailure.at < moment - LOGIN_WINDOW))
        connection.execute(insert(LoginFailure).values(name=name, address=address, at=moment))


def _verified(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches, and a new hash when the stored one was made with outdated parameters.
    Without a stored hash a dummy one is checked, so an unknown name costs what a wrong password costs."""
    secret = _utf8(password)
    if stored_hash is not None:
        try:
            return PASSWORDS.verify_and_update(secret, stored_hash)
        except PwdlibError:  # not a hash this library knows: no password matches it
            pass
    PASSWORDS.verify(secret, _dummy_hash(PASSWORDS))
    return False, None


@cache
def _dummy_hash(passwords: PasswordHash) -> str:
    return passwords.hash(secrets.token_urlsafe(16))


def _hash(password: str) -> str:
    return PASSWORDS.hash(_utf8(password))


def _utf8(password: str) -> bytes:
    """The password's bytes as argon2 hashes them; a lone surrogate is kept rather than refused mid-login."""
    return password.encode("utf-8", "surrogatepass")


# --- API tokens -----------------------------------------------------------------------------------------------


def create_token(database: Engine, *, user: str, name: str, actor: Actor) -> NewToken:
    """A bearer token for ``user`` (admins for anyone, others for themselves), labelled ``name``."""
    if actor.role != "admin" and actor.user != user:
        raise Forbidden("user", "only an admin may create a token for another user")
    label = _check_label(name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = datetime.now(UTC)
    with _writing(database) as connection:
        owner = _user_row(connection, user)
        if owner is None:
            raise NotFound("user", f"no user {quote(user)}")
        if owner.disabled:
            raise BadInput("user", f"user {quote(user)} is disabled")
        token_id = connection.execute(
            insert(ApiToken)
            .values(user_id=owner.id, name=label, token_hash=_token_hash(secret), created_at=created, revoked=False)
            .returning(ApiToken.id)
        ).scalar_one()
        record(connection, actor=actor, action="token.create", subject=user, detail=f"token {token_id} {label!r}")
    return NewToken(id=token_id, user=user, name=label, secret=secret, created_at=created)


def actor_for_token(database: Engine, *, secret: str, now: datetime | None = None) -> Actor:
    """The actor (channel ``api``) a bearer token stands for; Unauthenticated when it is unknown, revoked or its
    user is disabled. Records when it was last used (at most once a minute, so requests do not all write)."""
    if not secret.startswith(TOKEN_PREFIX) or not secret.isascii() or len(secret) > 128:
        raise Unauthenticated("token", BAD_TOKEN)
    moment = _utc(now)
    query = (
        select(ApiToken.id, ApiToken.revoked, ApiToken.last_used_at, User.name, User.role, User.disabled)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _token_hash(secret))
    )
    with reading(database) as connection:
        found = connection.execute(query).first()
    if found is None or found.revoked or found.disabled:
        raise Unauthenticated("token", BAD_TOKEN)
    if found.last_used_at is None or _utc(found.last_used_at) <= moment - TOKEN_USE_RESOLUTION:
        with _writing(database) as connection:
            connection.execute(update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=moment))
    return Actor(user=found.name, role=_check_role(found.role), channel="api")


def revoke_token(database: Engine, *, token_id: int, actor: Actor) -> TokenSummary:
    """Revoke a token (its owner or an admin); revoking one already revoked changes nothing."""
    with _writing(database) as connection:
        token = _token_summaries(connection, ApiToken.id == token_id)
        if not token:
            raise NotFound("token", f"no token {token_id}")
        if actor.role != "admin" and actor.user != token[0].user:
            raise Forbidden("token", "only an admin may revoke another user's token")
        if not token[0].revoked:
            connection.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked=True))
            record(connection, actor=actor, action="token.revoke", subject=token[0].user, detail=f"token {token_id}")
    return msgspec.structs.replace(token[0], revoked=True)


def list_tokens(database: Engine, *, actor: Actor, user: str | None = None) -> list[TokenSummary]:
    """Tokens (never their secrets): an admin's of everyone or of ``user``, anyone else's of their own."""
    if actor.role != "admin":
        if user not in (None, actor.user):
            raise Forbidden("user", "only an admin may list another user's tokens")
        user = actor.user
    with reading(database) as connection:
        return _token_summaries(connection, User.name == user if user is not None else None)


def _token_summaries(connection: Connection, condition: ColumnElement[bool] | None) -> list[TokenSummary]:
    query = select(
        ApiToken.id,
        User.name.label("user"),
        ApiToken.name,
        ApiToken.created_at,
        ApiToken.last_used_at,
        ApiToken.revoked,
    ).join(User, User.id == ApiToken.user_id)
    if condition is not None:
        query = query.where(condition)
    rows = connection.execute(query.order_by(ApiToken.id)).all()
    return [
        TokenSummary(
            id=row.id,
            user=row.user,
            name=row.name,
            created_at=_utc(row.created_at),
            last_used_at=_utc(row.last_used_at) if row.last_used_at else None,
            revoked=row.revoked,
        )
        for row in rows
    ]


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


# --- checks, rows and transactions ----------------------------------------------------------------------------


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role != "admin":
        raise Forbidden("", f"only an admin may {what}")


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise BadInput("name", f"1 to 64 characters of letters, digits and . _ @ - expected, not {quote(name)}")


def _check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise BadInput("role", f"one of {', '.join(ROLES)} expected, not {quote(role)}")


def _check_password(password: str) -> None:
    """Length only (never the value: a message must not echo any of it)."""
    if len(password) < MIN_PASSWORD:
        raise BadInput("password", f"at least {MIN_PASSWORD} characters expected")
    if len(password) > MAX_PASSWORD:
        raise BadInput("password", f"at most {MAX_PASSWORD} characters expected")


def _check_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise BadInput("name", f"a label of 1 to {MAX_LABEL} printable characters expected, not {quote(label)}")
    return label


def _generated_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 random bits


def _exists(name: str) -> Conflict:
    return Conflict("name", f"user {quote(name)} already exists")


def _insert_user(connection: Connection, *, name: str, role: Role, password_hash: str, must_change: bool) -> None:
    connection.execute(
        insert(User).values(
            name=name,
            role=role,
            password_hash=password_hash,
            must_change_password=must_change,
            disabled=False,
            created_at=datetime.now(UTC),
        )
    )


@dataclass(frozen=True, slots=True)
class _Account:
    """A ``users`` row as read (the hash stays inside this module)."""

    id: int
    name: str
    role: str
    password_hash: str
    must_change_password: bool
    disabled: bool
    created_at: datetime


def _user_row(connection: Connection, name: str) -> _Account | None:
    row = connection.execute(select(User.__table__).where(User.name == name)).mappings().first()
    return None if row is None else _Account(**row)


def _any_user(connection: Connection) -> bool:
    return bool(connection.scalar(select(func.count()).select_from(User)))


def _user_summary(row: _Account) -> UserSummary:
    return UserSummary(
        name=row.name,
        role=_check_role(row.role),
        must_change_password=row.must_change_password,
        disabled=row.disabled,
        created_at=_utc(row.created_at),
    )


def _utc(moment: datetime | None) -> datetime:
    """An aware UTC time: now when None."""
    return datetime.now(UTC) if moment is None else utc(moment)


@contextmanager
def _writing(database: Engine) -> Iterator[Connection]:
    """A transaction; a unique-key clash stays an IntegrityError for the caller, other failures Unavailable."""
    try:
        with database.begin() as connection:
            yield connection
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise Unavailable("", f"the ledger failed: {failure_reason(exc)}") from None
