"""``rehabclaim user``: accounts and API tokens, acting as the terminal's user (an admin of their own ledger).

A generated password and a token's secret are printed once, on stdout, and never again: only their hashes
are kept. A refusal is one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from rehabclaim.cli.common import DatabaseOption, JsonOption, fail, open_ledger, print_json
from rehabclaim.services.actor import terminal_actor

if TYPE_CHECKING:
    from sqlalchemy import Engine

users_app: typer.Typer = typer.Typer(no_args_is_help=True, help="User accounts and API tokens.")

Result = TypeVar("Result")
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of stdin (never an argument).")
]


def _run(database_url: str | None, operation: Callable[[Engine], Result]) -> Result:
    """Open the ledger and run one account operation; a refusal is one line and exit 2."""
    from rehabclaim.services import Refusal

    ledger = open_ledger(database_url)
    try:
        return operation(ledger)
    except Refusal as refusal:
        raise fail(str(refusal)) from None
    finally:
        ledger.dispose()


def _password_from_stdin() -> str:
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise fail("password: expected one line on stdin")
    return password


@users_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help="admin, biller or viewer.")],
    password_stdin: PasswordStdinOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Add user NAME; without --password-stdin, a generated password is printed once (changed at first login)."""
    from rehabclaim.services.accounts import add_user

    password = _password_from_stdin() if password_stdin else None
    added = _run(
        database_url, lambda ledger: add_user(ledger, name=name, role=role, password=password, actor=terminal_actor())
    )
    typer.echo(f"added user {added.name} ({added.role})")
    if added.password is not None:
        typer.echo(f"one-time password (shown once, to be changed at the first login): {added.password}")


@users_app.command("list")
def user_list(as_json: JsonOption = False, database_url: DatabaseOption = None) -> None:
    """List the users: name, role, whether disabled or due to change their password."""
    from rehabclaim.services.accounts import list_users

    users = _run(database_url, lambda ledger: list_users(ledger, actor=terminal_actor()))
    if as_json:
        print_json(users)
        return
    for user in users:
        notes = ["disabled"] * user.disabled + ["must change password"] * user.must_change_password
        typer.echo(f"{user.name}\t{user.role}\t{user.created_at:%Y-%m-%d}\t{', '.join(notes)}".rstrip())


@users_app.command("passwd")
def user_passwd(name: str, password_stdin: PasswordStdinOption = False, database_url: DatabaseOption = None) -> None:
    """Set NAME's password (read from stdin, or asked for twice without echo)."""
    from rehabclaim.services.accounts import change_password

    if password_stdin:
        password = _password_from_stdin()
    else:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    _run(
        database_url,
        lambda ledger: change_password(ledger, name=name, old=None, new=password, actor=terminal_actor()),
    )
    typer.echo(f"password of {name} changed")


@users_app.command("token")
def user_token(
    name: str,
    label: Annotated[str, typer.Option("--label", help="What the token is for (e.g. the integration's name).")],
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Create an API token for NAME; its secret is printed once and cannot be shown again."""
    from rehabclaim.services.accounts import create_token

    token = _run(database_url, lambda ledger: create_token(ledger, user=name, name=label, actor=terminal_actor()))
    if as_json:
        print_json(token)
        return
    typer.echo(f"token {token.id} for {token.user} ({token.name}); the secret, shown once:")
    typer.echo(token.secret)


@users_app.command("tokens")
def user_tokens(
    name: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """List API tokens (never their secrets)."""
    from rehabclaim.services.accounts import list_tokens

    tokens = _run(database_url, lambda ledger: list_tokens(ledger, actor=terminal_actor(), user=name))
    if as_json:
        print_json(tokens)
        return
    for token in tokens:
        used = f"last used {token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never used"
        state = "revoked" if token.revoked else used
        typer.echo(f"{token.id}\t{token.user}\t{token.name}\t{state}")


@users_app.command("revoke")
def user_revoke(token_id: int, database_url: DatabaseOption = None) -> None:
    """Revoke API token TOKEN_ID (see `rehabclaim user tokens`)."""
    from rehabclaim.services.accounts import revoke_token

    token = _run(database_url, lambda ledger: revoke_token(ledger, token_id=token_id, actor=terminal_actor()))
    typer.echo(f"token {token.id} of {token.user} revoked")


@users_app.command("disable")
def user_disable(name: str, database_url: DatabaseOption = None) -> None:
    """Disable NAME: no logins, and its tokens stop working."""
    _set_disabled(name, True, database_url)


@users_app.command("enable")
def user_enable(name: str, database_url: DatabaseOption = None) -> None:
    """Enable NAME again."""
    _set_disabled(name, False, database_url)


def _set_disabled(name: str, disabled: bool, database_url: str | None) -> None:
    from rehabclaim.services.accounts import set_disabled

    _run(database_url, lambda ledger: set_disabled(ledger, name=name, disabled=disabled, actor=terminal_actor()))
    typer.echo(f"user {name} {'disabled' if disabled else 'enabled'}")
