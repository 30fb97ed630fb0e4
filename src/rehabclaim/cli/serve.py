"""``rehabclaim serve``: the REST API and the web page on one server (uvicorn).

It opens the ledger (migrating it), loads the reference data, adds the first admin on a ledger without
users and prints that account's one-time password once, then serves until stopped. A fresh install needs no
configuration: SQLite in the data folder, the bundled demo practice, a session key made on first start.

Logs go to stderr: uvicorn's start and stop lines and one access line per request from the application
(method, route template, status, time: no query string, no path values, no bodies), at ``--log-level``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import typer

from rehabclaim.cli.common import DatabaseOption, PracticeOption, fail, open_ledger


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (a non-loopback one exposes the server).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    database_url: DatabaseOption = None,
    practice: PracticeOption = None,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Send the session cookie over HTTPS only (behind a TLS proxy).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="warning, or info (with one access line per request).")] = "info",
) -> None:
    """Serve the REST API (/v1, docs at /docs) and the billers' web page."""
    import uvicorn

    from rehabclaim.api.app import create_app
    from rehabclaim.api.settings import SecretKeyError, ServerSettings
    from rehabclaim.datafiles import DataFileError
    from rehabclaim.ledger.database import LedgerUnavailable
    from rehabclaim.services.accounts import ensure_first_admin
    from rehabclaim.services.errors import Refusal

    if log_level not in ("warning", "info"):
        raise fail(f"--log-level: expected warning or info, got {log_level!r}")
    open_ledger(database_url).dispose()  # an unreachable ledger: the CLI's one line naming where its URL came from
    settings = ServerSettings(database_url=database_url, practice=practice, secure_cookies=secure_cookies)
    try:
        app = create_app(settings)
        password = ensure_first_admin(app.state.database)
    except (LedgerUnavailable, DataFileError, SecretKeyError, OSError) as exc:
        raise fail(str(exc)) from None
    except Refusal as refusal:
        raise fail(str(refusal)) from None
    if password is not None:
        typer.echo(f"first start: user admin, one-time password {password} (shown once; change it at the first login)")
    if not secure_cookies and not _loopback(host):
        typer.echo("warning: the session cookie is not Secure; serve over HTTPS and pass --secure-cookies", err=True)
    shown_host = f"[{host}]" if ":" in host else host
    typer.echo(f"serving on http://{shown_host}:{port}/ (API: /v1, its documentation: /docs); Ctrl+C stops it")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=logging_config(log_level),
        access_log=False,  # uvicorn's access line has the query string; the application logs its own
        server_header=False,
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def logging_config(level: str) -> dict[str, Any]:
    """uvicorn's and the application's loggers to stderr; uvicorn's access log off."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "rehabclaim": {"handlers": ["stderr"], "level": upper, "propagate": False},
        },
    }
