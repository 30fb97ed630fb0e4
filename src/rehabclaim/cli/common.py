"""What every command module shares: the consoles, the common options, JSON output, and the one-line
refusal with its exit status (a service's ``Refusal`` maps to ``exit_code`` here, once)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import msgspec
import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from rehabclaim.reference import Reference

P = ParamSpec("P")
T = TypeVar("T")
console = Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (a stable contract).")]
PracticeOption = Annotated[
    Path | None, typer.Option("--practice", help="Practice file (locality, charges); default: the bundled demo.")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="REHABCLAIM_DATABASE_URL",
        help="Ledger database URL; default: a SQLite file in the user data folder.",
    ),
]
EXIT_ERROR_FINDING = 1
EXIT_BAD_INPUT = 2


def print_json(payload: Any) -> None:
    sys.stdout.buffer.write(msgspec.json.encode(payload) + b"\n")
    sys.stdout.buffer.flush()


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print the one-line refusal (the message is text, never markup; never wrapped) and exit with ``code``
    (2: input that cannot be read, or an operation that cannot be done)."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def call(operation: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run one service operation; a refusal prints its one line and exits with its status."""
    from rehabclaim.services.errors import Refusal

    try:
        return operation(*args, **kwargs)
    except Refusal as exc:
        raise fail(str(exc), exc.exit_code) from None


def reference_for(practice: Path | None) -> Reference:
    """The reference data for one command (``practice``: a practice file, the bundled demo when None); a bad
    practice, payer, CMS or rules file is unreadable input (exit 2)."""
    from rehabclaim.datafiles import DataFileError
    from rehabclaim.reference import load_reference

    try:
        return load_reference(practice)
    except (DataFileError, OSError) as exc:
        raise fail(str(exc)) from None


def open_ledger(database_url: str | None) -> Engine:
    """The migrated ledger; when it cannot be opened, one line naming the database (password hidden), where
    its URL came from (only if the user gave one) and why; exit 2."""
    import os

    from rehabclaim.ledger.database import LedgerUnavailable
    from rehabclaim.ledger.database import open_ledger as open_database

    try:
        return open_database(database_url)
    except LedgerUnavailable as exc:
        if database_url is None:
            raise fail(f"cannot open the default ledger {exc.database}: {exc.reason}") from None
        from_environment = os.environ.get("REHABCLAIM_DATABASE_URL") == database_url  # Typer read it for us
        raise fail(f"{'REHABCLAIM_DATABASE_URL' if from_environment else '--database-url'}: {exc}") from None
