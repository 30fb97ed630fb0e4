"""Reliability: many processes opening one new ledger, what an unopenable ledger says, who may read the
files rehabclaim writes, and batch runs that are stopped, killed or pointed at their own input."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from rehabclaim.batch import run_batch
from rehabclaim.diagnoses import icd10
from rehabclaim.ledger import open_ledger, post_visit
from rehabclaim.ledger.models import PostedVisit
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json
from tests.fuzzing import bench_module, cli_command, invoke, process_env, temporaries

PROCESSES = 8
VISITS_PER_PROCESS = 5
BATCH_VISITS = 12_000  # enough that a kill lands mid-run (about a second of scrubbing on two workers)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _scrubbed_visits(engine: Scrubber, process: int) -> list[tuple[Any, Any]]:
    visits = [
        decode_visit(
            visit_json(
                id=f"p{process}-v{number}",
                patient={"id": f"P{process}"},
                services=[{"code": "97110", "minutes": 30}],
            )
        )
        for number in range(VISITS_PER_PROCESS)
    ]
    return [(visit, engine.scrub(visit)) for visit in visits]


def _open_and_post(url: str, start: Any, scrubbed: list[tuple[Any, Any]], outcomes: Any) -> None:
    start.wait(60)
    try:
        ledger = open_ledger(url)
        for visit, result in scrubbed:
            post_visit(ledger, visit, result)
        ledger.dispose()
        outcomes.put("posted")
    except BaseException as exc:
        outcomes.put(f"{type(exc).__name__}: {exc}"[:300])


# --- item 1: a new ledger opened by many processes at once -----------------------------------------------


def test_processes_opening_a_new_ledger_at_once_post_every_visit(ledger_url: str, engine: Scrubber) -> None:
    context = multiprocessing.get_context("fork")  # scrubbed visits and imports are inherited, not rebuilt
    start, outcomes = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_open_and_post, args=(ledger_url, start, _scrubbed_visits(engine, n), outcomes))
        for n in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    reported = [outcomes.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
    assert reported == ["posted"] * PROCESSES
    ledger = open_ledger(ledger_url)
    with ledger.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PostedVisit)) == PROCESSES * VISITS_PER_PROCESS
    ledger.dispose()


def test_an_interrupted_migration_leaves_no_half_made_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rehabclaim.ledger import database

    real_upgrade = database.command.upgrade

    def killed_midway(config: Any, _revision: str) -> None:
        real_upgrade(config, "0002")
        raise KeyboardInterrupt  # as if stopped between two migrations

    path = tmp_path / "ledger.sqlite3"
    monkeypatch.setattr(database.command, "upgrade", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        open_ledger(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []
    monkeypatch.setattr(database.command, "upgrade", real_upgrade)
    open_ledger(f"sqlite:///{path}").dispose()  # the next run migrates from scratch


# --- item 1: what an unopenable ledger says ----------------------------------------------------------------


def _clean_refusal(outcome: Any) -> str:
    assert outcome.exit_code == 2, outcome
    message = outcome.stderr.strip()
    assert message.startswith("error:") and "\n" not in message, message
    assert "Traceback" not in message and "[SQL" not in message and "CREATE TABLE" not in message, message
    return message


def test_a_broken_schema_is_named_without_sql(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE patients (id TEXT)")  # a ledger half-made by an older, racing run
    message = _clean_refusal(invoke("ledger", "show", "P1", "--database-url", f"sqlite:///{path}"))
    assert message.startswith(f"error: --database-url: cannot open the ledger sqlite:///{path}: ")
    assert "table patients already exists" in message


def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = "postgresql+psycopg://billing:s3cret-pw@127.0.0.1:1/ledger"
    message = _clean_refusal(invoke("ledger", "show", "P1", "--database-url", url))
    assert "postgresql+psycopg://billing:***@127.0.0.1:1/ledger" in message and "s3cret" not in message
    from_environment = _clean_refusal(invoke("ledger", "show", "P1", env={"REHABCLAIM_DATABASE_URL": url}))
    assert from_environment.startswith("error: REHABCLAIM_DATABASE_URL: cannot open the ledger postgresql")


def test_the_default_ledger_is_named_without_blaming_an_option(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    data = tmp_path / "file" / "rehabclaim"
    message = _clean_refusal(invoke("ledger", "show", "P1", env={"REHABCLAIM_DATA_DIR": str(data)}))
    assert message.startswith(f"error: cannot open the default ledger sqlite:///{data / 'ledger.sqlite3'}: ")
    assert "--database-url" not in message and "REHABCLAIM_DATABASE_URL" not in message


# --- item 17: who may read what is written -----------------------------------------------------------------


def test_the_default_ledger_and_the_folder_made_for_it_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int, engine: Scrubber
) -> None:
    data = tmp_path / "share" / "rehabclaim"
    monkeypatch.delenv("REHABCLAIM_DATABASE_URL", raising=False)
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(data))
    ledger = open_ledger()
    visit, result = _scrubbed_visits(engine, 1)[0]
    post_visit(ledger, visit, result)
    with ledger.connect() as connection:  # the WAL and shared-memory files exist while a connection is open
        connection.execute(select(PostedVisit.id)).all()
        files = sorted(data.iterdir())
        assert {p.name for p in files} >= {"ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"}
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    ledger.dispose()
    assert _mode(data) == _mode(data.parent) == 0o700


def test_a_chosen_folder_keeps_its_mode_and_an_old_readable_ledger_is_made_private(tmp_path: Path, umask: int) -> None:
    folder = tmp_path / "chosen"
    folder.mkdir()
    folder.chmod(0o755)
    path = folder / "ledger.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE scratch (id TEXT)")  # an existing, readable file (older rehabclaim)
    path.chmod(0o644)
    open_ledger(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600
    assert _mode(folder) == 0o755


def test_batch_output_is_owner_only(tmp_path: Path, umask: int) -> None:
    source = tmp_path / "visits.jsonl"
    source.write_bytes(visit_json(id="v1", services=[{"code": "97110", "minutes": 30}]) + b"\n")
    run_batch(source, tmp_path / "out" / "results.jsonl")
    assert _mode(tmp_path / "out" / "results.jsonl") == 0o600
    assert _mode(tmp_path / "out") == 0o700  # a folder made for private output is private too


def test_icd_cache_gets_the_usual_mode_and_a_failed_build_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    monkeypatch.setattr(icd10, "_derive_index_lines", lambda: ["M545\t0", "M5450\t1"])
    path = tmp_path / "cache" / "icd10cm-index-test.tsv"
    assert icd10._read_or_build(path) == {"M545": False, "M5450": True}
    assert _mode(path) == 0o666 & ~umask

    def failing() -> list[str]:
        raise MemoryError

    monkeypatch.setattr(icd10, "_derive_index_lines", failing)
    with pytest.raises(MemoryError):
        icd10._read_or_build(tmp_path / "cache" / "icd10cm-index-other.tsv")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["icd10cm-index-test.tsv"]


# --- items 6 and 8: batch never destroys its input, and stops or dies cleanly -------------------------------


@pytest.mark.parametrize("alias", ["same", "relative", "symlink"])
def test_batch_refuses_to_write_over_its_input(tmp_path: Path, alias: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "visits.jsonl"
    source.write_bytes(visit_json(id="v1", services=[{"code": "97110", "minutes": 30}]) + b"\n")
    before = source.read_bytes()
    out = {"same": source, "relative": Path("visits.jsonl"), "symlink": tmp_path / "link.jsonl"}[alias]
    if alias == "symlink":
        out.symlink_to(source)
    monkeypatch.chdir(tmp_path)
    message = _clean_refusal(invoke("batch", source, "--out", out))
    assert message.startswith("error: --out: ") and "input" in message
    assert source.read_bytes() == before


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "visits.jsonl"
    return Path(bench_module("generate").generate(BATCH_VISITS, path, seed=11))


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Batch processes started by a test; their process groups are killed afterwards, so a failing test
    leaves no hung batch or orphaned worker behind."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def _start_batch(source: Path, out: Path, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """batch on two workers, its (and its workers') stderr on a pipe; returns once output is being written."""
    command = cli_command("batch", source, "--out", out, "--workers", "2", "--json")
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=process_env(), start_new_session=True
    )
    started.append(process)
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size for p in out.parent.glob(f".{out.name}.*.tmp")):
        assert process.poll() is None and time.monotonic() < deadline, "batch ended before it could be stopped"
        time.sleep(0.005)
    return process


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_batch_leaves_no_temporary_and_no_output(
    tmp_path: Path, generated: Path, stop: int, started: list[Any]
) -> None:
    out = tmp_path / "out" / "results.jsonl"
    out.parent.mkdir()
    process = _start_batch(generated, out, started)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=30)  # the pipe closes once the workers are gone too
    assert process.returncode == 128 + stop
    message = stderr.decode().strip()
    assert message.startswith("error: stopped by SIG") and "\n" not in message, message
    assert list(out.parent.iterdir()) == []


def test_a_batch_killed_outright_is_cleaned_up_by_the_next_run(
    tmp_path: Path, generated: Path, started: list[Any]
) -> None:
    out = tmp_path / "out" / "results.jsonl"
    out.parent.mkdir()
    process = _start_batch(generated, out, started)
    process.kill()
    _, stderr = process.communicate(timeout=30)  # EOF only when the orphaned workers have exited too
    assert process.returncode == -signal.SIGKILL
    assert stderr == b"", stderr.decode()[-500:]  # no worker printed a BrokenPipeError traceback
    assert len(temporaries(out.parent)) == 1 and not out.exists()  # the kill landed mid-run
    command = cli_command("batch", generated, "--out", out, "--workers", "2", "--json")
    rerun = subprocess.run(command, capture_output=True, timeout=120, env=process_env())
    assert rerun.returncode == 1 and b"Traceback" not in rerun.stderr  # 1: the generated visits have errors
    run_batch(generated, tmp_path / "clean.jsonl", workers=2)
    assert out.read_bytes() == (tmp_path / "clean.jsonl").read_bytes()
    assert temporaries(out.parent) == []


@pytest.mark.skipif(sys.platform != "linux", reason="finds the workers in /proc")
def test_a_worker_killed_mid_run_fails_the_batch_instead_of_hanging(
    tmp_path: Path, generated: Path, started: list[Any]
) -> None:
    out = tmp_path / "out" / "results.jsonl"
    out.parent.mkdir()
    process = _start_batch(generated, out, started)
    command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    workers = [pid for pid in children if Path(f"/proc/{pid}/cmdline").read_bytes() == command_line]  # forked
    os.kill(int(workers[0]), signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stderr.decode().startswith("error: worker process ") and b"Traceback" not in stderr
    assert list(out.parent.iterdir()) == []
