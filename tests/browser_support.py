"""The real server for the end-to-end tests and the load benchmark: ``rehabclaim serve`` started as a user starts
it, in a subprocess, on a free loopback port, with its own HOME and data folder and its stdout and stderr
captured to files (the logs ``test_no_patient_data_in_logs`` scans).

``serve(database_url, root)`` waits for ``GET /v1/health``, adds a biller with ``rehabclaim user add
--password-stdin`` on the same database, and stops the server (SIGTERM, then SIGKILL) whatever happens.
The conftest's ``live_server`` fixtures use it; ``bench/api_load.py`` too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BILLER = "e2e-biller"
BILLER_PASSWORD = "e2e biller's long password"  # a test account on a throwaway ledger
STARTUP_SECONDS = 90.0  # a cold start builds the ICD-10-CM index (~20 s on a busy 2-core machine)
STOP_SECONDS = 10.0
CLI_SECONDS = 120.0
STDOUT_LOG, STDERR_LOG = "stdout.log", "stderr.log"  # in the server's root folder
# What a user's shell would pass on that must not reach the server under test (it gets its own of each).
ISOLATED_ENV = ("REHABCLAIM_DATABASE_URL", "REHABCLAIM_SECRET_KEY", "REHABCLAIM_RULES_DIR", "XDG_DATA_HOME")


def rehabclaim_command() -> str:
    """The ``rehabclaim`` script beside the running interpreter (``.venv/bin/rehabclaim``), else on PATH."""
    beside = Path(sys.executable).parent / "rehabclaim"
    if beside.exists():
        return str(beside)
    found = shutil.which("rehabclaim")
    if found is None:
        raise RuntimeError("no rehabclaim command: install the package (scripts/setup)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def shared_cache_dir() -> str:
    """The ICD-10-CM index cache of the user running the tests: a server with a fresh HOME would otherwise
    rebuild it on every start (it is derived from the package, holds no patient data)."""
    explicit = os.environ.get("REHABCLAIM_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "rehabclaim")


def server_env(root: Path) -> dict[str, str]:
    """The environment of a user whose HOME and data folder are under ``root``."""
    env = {name: value for name, value in os.environ.items() if name not in ISOLATED_ENV}
    env.update(
        HOME=str(root / "home"),
        REHABCLAIM_DATA_DIR=str(root / "data"),
        REHABCLAIM_CACHE_DIR=shared_cache_dir(),
        PYTHONUNBUFFERED="1",
    )
    return env


def _user_umask() -> None:
    """The umask most users have: the ledger and the 837Ps must be owner-only in spite of it."""
    os.umask(0o022)


@dataclass(frozen=True)
class LiveServer:
    """A running ``rehabclaim serve``: where it answers, its ledger, a biller's credentials and its logs."""

    base_url: str
    database_url: str
    user: str
    password: str
    root: Path  # holds home/, data/, stdout.log and stderr.log
    process: subprocess.Popen[bytes]

    @property
    def stdout(self) -> Path:
        return self.root / STDOUT_LOG

    @property
    def stderr(self) -> Path:
        return self.root / STDERR_LOG

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def log_files(self) -> list[Path]:
        """The captured stdout and stderr, and any log file the server wrote under its HOME or data folder."""
        written = [path for folder in (self.home, self.data_dir) for path in sorted(folder.rglob("*.log"))]
        return [self.stdout, self.stderr, *written]

    def logs(self) -> str:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in self.log_files())

    def cli(self, *arguments: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``rehabclaim ARGUMENTS --database-url <this server's ledger>`` as the same user."""
        return run_cli([*arguments, "--database-url", self.database_url], self.root, stdin=stdin, check=check)

    def token(self, label: str | None = None) -> str:
        """A new API token of the biller (``rehabclaim user token``): its secret."""
        chosen = label or f"e2e-{uuid.uuid4().hex[:8]}"
        printed = json.loads(self.cli("user", "token", self.user, "--label", chosen, "--json").stdout)
        secret: str = printed["secret"]
        return secret


def run_cli(
    arguments: Sequence[str], root: Path, *, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [rehabclaim_command(), *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        env=server_env(root),
        timeout=CLI_SECONDS,
        preexec_fn=_user_umask,
        check=False,
    )
    if check and done.returncode != 0:
        shown = " ".join(arguments[:3])
        raise RuntimeError(f"rehabclaim {shown} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, deadline: float) -> bool:
    """True once ``/v1/health`` answers 200; False when the process ended first."""
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                if client.get(f"{base_url}/v1/health").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down cleanly), then SIGKILL when it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)


def _start(database_url: str, root: Path, extra: Sequence[str]) -> tuple[subprocess.Popen[bytes], str]:
    """The server on a free port, healthy; a port taken between choosing and binding is tried again."""
    for _attempt in range(3):
        port = free_port()
        command = [rehabclaim_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--database-url", database_url, *extra]
        with open(root / STDOUT_LOG, "ab") as out, open(root / STDERR_LOG, "ab") as err:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=server_env(root), preexec_fn=_user_umask
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            healthy = _wait_until_healthy(process, base_url, time.monotonic() + STARTUP_SECONDS)
        except BaseException:
            stop(process)
            raise
        if healthy:
            return process, base_url
        stop(process)
        if "address already in use" not in (root / STDERR_LOG).read_text(errors="replace"):
            break
    logs = "".join((root / name).read_text(errors="replace") for name in (STDOUT_LOG, STDERR_LOG))
    raise RuntimeError(f"rehabclaim serve did not become healthy; its output:\n{logs[-4000:]}")


@contextmanager
def serve(database_url: str, root: Path, *, extra: Sequence[str] = ()) -> Iterator[LiveServer]:
    """``rehabclaim serve`` on ``database_url`` with a biller added, stopped on the way out whatever happens."""
    for folder in (root, root / "home"):
        folder.mkdir(parents=True, exist_ok=True)
    process, base_url = _start(database_url, root, extra)
    try:
        server = LiveServer(base_url, database_url, BILLER, BILLER_PASSWORD, root, process)
        server.cli("user", "add", BILLER, "--role", "biller", "--password-stdin", stdin=BILLER_PASSWORD + "\n")
        yield server
    finally:
        stop(process)


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server ``server_url``, dropped afterwards (even while in use)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    name = f"rc_live_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
