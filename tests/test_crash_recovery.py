"""kill -9 part way through `batch`, `claim --837`, `remit --post` and `scrub --post`, then the same command
again: its output and the ledger must equal a clean run's, nothing sent or posted twice, no temporary file
left. Ledger commands run on SQLite and PostgreSQL.

Each test runs the command cleanly into fresh paths (the reference), then on other fresh paths kills it
with SIGKILL at a point fixed by a seed (a share of the output written, of the visits posted or of the clean
run's time, or a moment inside the posting's transaction) and re-runs it to completion.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fuzzing import (
    Killed,
    Outcome,
    assert_no_crash,
    bench_module,
    claim_ids,
    kill_when,
    ledger_rows,
    mask_837,
    printed_crash,
    record_claims_sent,
    run_process,
    seeded,
)

BATCH_VISITS = 10_000
CLAIM_VISITS = 1_500
POST_VISITS = 120
REMIT_CLAIMS = 12_000  # the 835 reader got twice as fast: 4,000 claims finished before a kill could land


@dataclass(frozen=True, slots=True)
class Inputs:
    batch_visits: Path
    claim_visits: Path
    post_visits: Path
    remit: Path
    remit_ids: tuple[str, ...]


def _date_ordered(source: Path, target: Path, count: int) -> Path:
    """Visits in date order with one visit per patient and day, as a clinic posts them: each visit's history
    is then the visits before it, so a re-run scrubs every visit as the clean run did."""
    visits: dict[tuple[str, str], dict[str, Any]] = {}
    for line in source.read_text().splitlines():
        visit = json.loads(line)
        visits.setdefault((visit["patient"]["id"], visit["date"]), visit)
    chosen = sorted(visits.values(), key=lambda v: (v["date"], v["id"]))[:count]
    target.write_text("".join(json.dumps(v) + "\n" for v in chosen))
    return target


def _remittance(path: Path, count: int) -> tuple[str, ...]:
    """A balanced 835 paying ``count`` claims; their visit ids."""
    from rehabclaim.x12.synthetic import PaidClaim, PaidLine, remittance_835

    rng = random.Random(11)
    codes = ["97110", "97112", "97140", "97530", "97010"]
    claims = [
        PaidClaim(
            f"V{number:08d}",
            tuple(
                PaidLine(
                    rng.choice(codes), ("GP",), Decimal(65 * units), units, Decimal(20 * units), Decimal(9 * units)
                )
                for units in (rng.randint(1, 3) for _ in range(rng.randint(1, 3)))
            ),
        )
        for number in range(1, count + 1)
    ]
    path.write_text(remittance_835(claims, trace="EFT-CRASH-1"))
    return tuple(claim.id for claim in claims)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """Inputs large enough (bench/generate.py's visits) that a kill lands while the command is working."""
    folder = tmp_path_factory.mktemp("crash-inputs")
    generate, x12_bench = bench_module("generate"), bench_module("x12_bench")
    x12_bench.claim_ready_visits(CLAIM_VISITS, folder / "claim-visits.jsonl")
    return Inputs(
        batch_visits=generate.generate(BATCH_VISITS, folder / "visits.jsonl", seed=7),
        claim_visits=folder / "claim-visits.jsonl",
        post_visits=_date_ordered(folder / "claim-visits.jsonl", folder / "post-visits.jsonl", POST_VISITS),
        remit=folder / "remit.835",
        remit_ids=_remittance(folder / "remit.835", REMIT_CLAIMS),
    )


@contextmanager
def reference_ledger(ledger_url: str, folder: Path) -> Iterator[str]:
    """A second empty ledger on the same backend as ``ledger_url``, for the clean run."""
    if ledger_url.startswith("sqlite"):
        yield f"sqlite:///{folder / 'reference.sqlite3'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(ledger_url)
    name = f"{server.database}_reference"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def backend(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]  # sqlite, postgresql: each kills at its own seeded point


def assert_killed_mid_run(killed: Killed, command: str) -> None:
    assert killed.returncode == -9, (
        f"{command}: ended (status {killed.returncode}) before the kill: make the input larger"
    )
    assert "Traceback" not in killed.stderr, f"{command}: a traceback before the kill: {printed_crash(killed.stderr)}"


def leftovers(folder: Path) -> list[str]:
    """Temporary files anywhere under the test's folder (outputs, ledger)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


def assert_completed(outcome: Outcome) -> None:
    assert_no_crash(outcome)
    assert outcome.exit_code in (0, 1), f"{outcome.command}: exit {outcome.exit_code}: {outcome.stderr[-300:]!r}"


@pytest.fixture(scope="module")
def startup() -> float:
    """Seconds a run takes to start (imports, catalog) before it does any work."""
    return run_process("code", "97110", "--json").seconds


def time_share(clean: Outcome, startup: float, *key: object) -> Callable[[float], bool]:
    """Ready once the run has started and done a seeded share (20-90 %) of the clean run's work."""
    delay = startup + seeded(*key).uniform(0.2, 0.9) * max(0.0, clean.seconds - startup)
    return lambda elapsed: elapsed >= delay


def appears(path: Path) -> Callable[[float], bool]:
    """Ready as soon as ``path`` exists (an output renamed into place)."""
    return lambda _elapsed: path.exists()


@contextmanager
def ledger_writing(url: str) -> Iterator[Callable[[], bool]]:
    """Whether, at each call, another connection holds a write transaction open on the ledger: on PostgreSQL
    a backend with a transaction id (given at its first write), on SQLite the write lock (BEGIN IMMEDIATE
    refused at once)."""
    if url.startswith("sqlite"):
        import sqlite3

        path = url.removeprefix("sqlite:///")

        def sqlite_writing() -> bool:
            probe = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")  # never commits, so the writer's snapshot stays good
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                probe.close()

        yield sqlite_writing
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    writers = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    )
    try:
        with engine.connect() as connection:
            yield lambda: bool(connection.execute(writers).scalar_one())
    finally:
        engine.dispose()


def inside_write(writing: Callable[[], bool], delay: float) -> Callable[[float], bool]:
    """Ready ``delay`` seconds after ``writing`` first held: inside the write transaction, however fast the
    machine runs (a share of the clean run's time raced the posting to its commit)."""
    first_seen: list[float] = []

    def ready(elapsed: float) -> bool:
        if not first_seen and writing():
            first_seen.append(elapsed)
        return bool(first_seen) and elapsed - first_seen[0] >= delay

    return ready


@contextmanager
def visit_counter(url: str) -> Iterator[Callable[[], int]]:
    """How many visits the ledger holds at each call (0 while its tables do not exist yet)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)

    def count() -> int:
        try:
            with engine.connect() as connection:
                return int(connection.execute(text("SELECT count(*) FROM visits")).scalar_one())
        except SQLAlchemyError:
            return 0

    try:
        yield count
    finally:
        engine.dispose()


# --- batch -----------------------------------------------------------------------------------------------


def batch_summary(outcome: Outcome) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(outcome.stdout)
    return {k: v for k, v in summary.items() if k not in ("seconds", "visits_per_second")}


def written_so_far(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.tmp")) if folder.is_dir() else 0


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_killed_mid_write_then_rerun_writes_the_clean_results(
    tmp_path: Path, inputs: Inputs, startup: float, workers: int
) -> None:
    def command(out: Path) -> tuple[str | Path, ...]:
        return ("batch", inputs.batch_visits, "--out", out, "--workers", str(workers), "--json")

    clean = run_process(*command(tmp_path / "clean" / "results.jsonl"))
    assert_completed(clean)
    expected = (tmp_path / "clean" / "results.jsonl").read_bytes()
    out = tmp_path / "crash" / "results.jsonl"
    share = seeded("batch", workers).uniform(0.2, 0.8)
    late = time_share(clean, startup, "batch", workers)
    killed = kill_when(command(out), lambda t: written_so_far(out.parent) >= share * len(expected) or late(t), tmp_path)
    assert_killed_mid_run(killed, "batch")
    rerun = run_process(*command(out))
    assert_completed(rerun)
    assert out.read_bytes() == expected, "the re-run's results differ from the clean run's"
    assert batch_summary(rerun) == batch_summary(clean)
    assert not leftovers(tmp_path), f"left behind: {leftovers(tmp_path)}"


# --- claim (837P) ----------------------------------------------------------------------------------------


def claims_in(folder: Path) -> list[str]:
    """CLM01 of every claim in every 837P file in ``folder``: what a transmitter would send."""
    return sorted(i for path in sorted(folder.glob("*.x12")) for i in claim_ids(path.read_text(encoding="latin-1")))


@pytest.mark.parametrize("moment", ["mid-run", "just after the 837P is renamed into place"])
def test_claim_killed_then_rerun_sends_every_visit_exactly_once(
    ledger_url: str, tmp_path: Path, inputs: Inputs, startup: float, moment: str
) -> None:
    def command(out: Path, url: str) -> tuple[str | Path, ...]:
        return ("claim", inputs.claim_visits, "--837", out, "--database-url", url, "--json")

    reference = tmp_path / "clean" / "claims.x12"
    with reference_ledger(ledger_url, tmp_path) as reference_url:
        clean = run_process(*command(reference, reference_url))
        assert_completed(clean)
        expected_rows = ledger_rows(reference_url)
    out = tmp_path / "crash" / "claims.x12"
    ready = time_share(clean, startup, "claim", backend(ledger_url)) if moment == "mid-run" else appears(out)
    killed = kill_when(command(out, ledger_url), ready, tmp_path)
    assert_killed_mid_run(killed, "claim")
    at_kill = out.read_bytes() if out.exists() else None
    rerun = run_process(*command(out, ledger_url))
    assert_completed(rerun)
    assert claims_in(out.parent) == claims_in(reference.parent), "visits missing or sent twice across the 837P files"
    if at_kill is not None:  # a complete interchange was in place: it may have been transmitted already
        assert out.read_bytes() == at_kill, "the re-run replaced an 837P already in place: its claims go out twice"
        assert sorted(json.loads(rerun.stdout)["already_sent"]) == sorted(claim_ids(at_kill.decode("latin-1")))
    assert mask_837(out.read_text(encoding="latin-1")) == mask_837(reference.read_text(encoding="latin-1"))
    assert ledger_rows(ledger_url) == expected_rows, "the ledger differs from the clean run's"
    assert not leftovers(tmp_path), f"left behind: {leftovers(tmp_path)}"


# --- remit --post (835) ----------------------------------------------------------------------------------


def test_remit_post_killed_then_rerun_posts_the_835_once(
    ledger_url: str, tmp_path: Path, inputs: Inputs, startup: float
) -> None:
    def command(url: str) -> tuple[str | Path, ...]:
        return ("remit", inputs.remit, "--post", "--database-url", url, "--json")

    with reference_ledger(ledger_url, tmp_path) as reference_url:
        record_claims_sent(reference_url, inputs.remit_ids)
        clean = run_process(*command(reference_url))
        assert_completed(clean)
        expected_rows = ledger_rows(reference_url)
    assert len(expected_rows["remit_claims"]) == REMIT_CLAIMS, "the clean run did not post the remittance"
    record_claims_sent(ledger_url, inputs.remit_ids)
    # The posting is one transaction: kill inside it, a seeded moment (up to a tenth of the clean run's work)
    # after it first wrote; the posting itself takes a good share of the run.
    delay = seeded("remit", backend(ledger_url)).uniform(0.0, 0.1) * max(0.0, clean.seconds - startup)
    with ledger_writing(ledger_url) as writing:
        killed = kill_when(command(ledger_url), inside_write(writing, delay), tmp_path)
    assert_killed_mid_run(killed, "remit --post")
    assert not ledger_rows(ledger_url)["remittances"], "the kill landed after the posting committed"
    rerun = run_process(*command(ledger_url))
    assert_completed(rerun)
    assert rerun.stdout == clean.stdout, "the re-run read the 835 differently"
    assert ledger_rows(ledger_url) == expected_rows, "the ledger differs from the clean run's"
    assert not leftovers(tmp_path), f"left behind: {leftovers(tmp_path)}"


# --- scrub --post ----------------------------------------------------------------------------------------


def test_scrub_post_killed_then_rerun_posts_each_visit_once(ledger_url: str, tmp_path: Path, inputs: Inputs) -> None:
    def command(url: str) -> tuple[str | Path, ...]:
        return ("scrub", inputs.post_visits, "--post", "--database-url", url, "--json")

    with reference_ledger(ledger_url, tmp_path) as reference_url:
        clean = run_process(*command(reference_url))
        assert_completed(clean)
        expected_rows = ledger_rows(reference_url)
    posted = len(expected_rows["visits"])
    assert posted > 10, "the clean run posted almost nothing: the input is wrong"
    threshold = seeded("scrub", backend(ledger_url)).randint(1, posted * 4 // 5)
    with visit_counter(ledger_url) as count:
        killed = kill_when(command(ledger_url), lambda _: count() >= threshold, tmp_path)
        assert_killed_mid_run(killed, "scrub --post")
        assert 0 < count() < posted, "the kill did not land while visits were being posted"
    rerun = run_process(*command(ledger_url))
    assert_completed(rerun)
    assert rerun.stdout == clean.stdout, "the re-run's results differ from the clean run's"
    assert ledger_rows(ledger_url) == expected_rows, "the ledger differs from the clean run's"
    assert not leftovers(tmp_path), f"left behind: {leftovers(tmp_path)}"
