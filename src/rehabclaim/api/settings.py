"""What a server is started with: where the ledger and the practice are, the session secret and the limits.

The session secret signs the web page's cookies. It comes from ``REHABCLAIM_SECRET_KEY`` or, on a fresh
install, from ``<data dir>/secret-key``: created once with a random key (owner-only, written whole before
it appears, so two servers starting together agree on one key) and read on every later start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from rehabclaim.atomic import PRIVATE_MODE, make_folder
from rehabclaim.services.audit import MAX_PAGE
from rehabclaim.settings import data_dir

SECRET_ENV = "REHABCLAIM_SECRET_KEY"
SECRET_FILE = "secret-key"
MIN_SECRET = 32  # characters: a shorter key could be guessed, and every session with it forged
MEGABYTE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """``database_url`` None: the default ledger (``REHABCLAIM_DATABASE_URL`` or SQLite in the data folder);
    ``practice`` None: the bundled demo practice; ``secret_key`` None: see ``session_secret``."""

    database_url: str | None = None
    practice: Path | None = None
    secret_key: str | None = None
    max_upload_bytes: int = 10 * MEGABYTE
    max_visits_per_request: int = 1000
    request_timeout_seconds: float = 30.0
    page_size_default: int = 50
    page_size_max: int = 500
    secure_cookies: bool = False

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_visits_per_request", "request_timeout_seconds", "page_size_default"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected more than 0, got {getattr(self, name)}")
        if not self.page_size_default <= self.page_size_max < MAX_PAGE:
            raise ValueError(f"page_size_default <= page_size_max < {MAX_PAGE} expected (a list asks for one more)")


class SecretKeyError(Exception):
    """The configured secret key is unusable, or the key file cannot be read or created."""


def session_secret(settings: ServerSettings) -> str:
    """The key that signs session cookies: the settings', else ``REHABCLAIM_SECRET_KEY``, else the key file."""
    chosen = settings.secret_key or os.environ.get(SECRET_ENV)
    if chosen is not None:
        if len(chosen) < MIN_SECRET:
            raise SecretKeyError(f"{SECRET_ENV}: at least {MIN_SECRET} characters expected")
        return chosen
    return stored_secret(data_dir() / SECRET_FILE)


def stored_secret(path: Path) -> str:
    """The key kept in ``path``; created (0600) with a random key when there is none. The key is written to a
    private temporary file that is then hard-linked into place, which fails if the file appeared meanwhile:
    a concurrent start never sees a half-written key, and the first one written wins."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    try:
        make_folder(path.parent, private=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another server created it first: theirs is used
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return _read_secret(path)
    except OSError as exc:
        raise SecretKeyError(f"{path}: cannot create the secret key ({exc.strerror or exc})") from None


def _read_secret(path: Path) -> str:
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a key"
        raise SecretKeyError(f"{path}: cannot read the secret key ({reason})") from None
    if len(key) < MIN_SECRET:
        raise SecretKeyError(f"{path}: the secret key is shorter than {MIN_SECRET} characters; remove the file")
    return key
