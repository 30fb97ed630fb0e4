"""A bounded load test of the REST API on loopback: concurrent clients scrubbing for a fixed time.

    .venv/bin/python bench/api_load.py [--clients 50] [--seconds 30] [--database-url URL] [--workers N]
    scripts/with-postgres sh -c '.venv/bin/python bench/api_load.py --database-url "$TEST_DATABASE_URL"'

It starts ``rehabclaim serve`` as a user does (``tests/browser_support.serve``: a subprocess on a free loopback
port, with its own HOME and data folder) on a new SQLite ledger in a temporary folder, or on a new database
created on the PostgreSQL server ``--database-url`` names (dropped afterwards); adds a biller and creates an API
token with the CLI; then runs ``--clients`` clients in one asyncio loop (httpx.AsyncClient) that each POST
``/v1/scrub`` with the bundled example visits in turn, one request after another, for ``--seconds`` seconds
(after a short warm-up that is not counted).

It prints the requests, the errors (any answer but 200, or no answer; there must be none), requests per second,
the latency percentiles, and the CPU seconds per request of the server (its process and any workers, from
/proc) and of this client. It exits 1 when any request failed. The clients share the machine's cores with the
server: on a small machine the figures are the pair's, not the server's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.browser_support import LiveServer, postgres_database, rehabclaim_command, serve  # noqa: E402

WARM_UP_SECONDS = 2.0
REQUEST_TIMEOUT = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    """What the clients saw: one latency per answered request, and the failures by kind."""

    latencies: list[float] = field(default_factory=list)  # seconds
    errors: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def example_visits() -> list[bytes]:
    data = resources.files("rehabclaim.data").joinpath("examples", "visits.jsonl").read_bytes()
    return [line for line in data.splitlines() if line.strip()]


async def client(http: httpx.AsyncClient, visits: list[bytes], offset: int, until: float, tally: Tally | None) -> None:
    """One client: scrub the visits in turn, one request at a time, until ``until`` (counted when ``tally``)."""
    turn = offset
    while time.monotonic() < until:
        body = visits[turn % len(visits)]
        turn += 1
        started = time.perf_counter()
        try:
            response = await http.post("/v1/scrub", content=body)
        except httpx.HTTPError as exc:
            if tally is not None:
                tally.fail(type(exc).__name__)
            continue
        elapsed = time.perf_counter() - started
        if tally is None:
            continue
        if response.status_code == 200:
            tally.latencies.append(elapsed)
        else:
            tally.fail(f"HTTP {response.status_code}")


@dataclass(frozen=True)
class Run:
    """The measured part of a load run: what the clients saw, the wall time, and the CPU seconds spent."""

    tally: Tally
    wall: float
    server_cpu: float
    client_cpu: float

    @property
    def requests(self) -> int:
        return len(self.tally.latencies) + sum(self.tally.errors.values())


async def load(server: LiveServer, token: str, clients: int, seconds: float) -> Run:
    """Warm up (not counted), then ``clients`` clients for ``seconds``."""
    visits = example_visits()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT
    ) as http:
        warm_until = time.monotonic() + WARM_UP_SECONDS
        await asyncio.gather(*(client(http, visits, i, warm_until, None) for i in range(clients)))
        tally = Tally()
        server_before, client_before = tree_cpu_seconds(server.process.pid), time.process_time()
        started = time.monotonic()
        await asyncio.gather(*(client(http, visits, i, started + seconds, tally) for i in range(clients)))
        wall = time.monotonic() - started
        server_cpu = tree_cpu_seconds(server.process.pid) - server_before
        return Run(tally, wall, server_cpu, time.process_time() - client_before)


def tree_cpu_seconds(root_pid: int) -> float:
    """User plus system CPU seconds of ``root_pid`` and every process under it (uvicorn's workers), from /proc."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime, stime
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(pid, 0) for pid in tree) / CLOCK_TICKS


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(1, round(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def serve_supports_workers() -> bool:
    shown = subprocess.run([rehabclaim_command(), "serve", "--help"], capture_output=True, text=True, check=False)
    return "--workers" in shown.stdout


@contextmanager
def ledger(database_url: str | None, folder: Path) -> Iterator[tuple[str, str]]:
    """The database URL to serve, and how to describe it: a new SQLite file, or a new PostgreSQL database."""
    if database_url is None:
        path = folder / "ledger.sqlite3"
        yield f"sqlite:///{path}", f"SQLite ({path})"
    elif database_url.startswith("postgresql"):
        with postgres_database(database_url) as url:
            yield url, "PostgreSQL (a new database on the given server)"
    else:
        yield database_url, database_url.split(":", 1)[0]


def load_average() -> str:
    """The 1-minute load average: other work on the machine takes cores from the server and the clients."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def report(run: Run, described: str, arguments: argparse.Namespace, loads: tuple[str, str]) -> None:
    ordered = sorted(run.tally.latencies)
    failed = sum(run.tally.errors.values())
    kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(run.tally.errors.items()))
    p50, p95, p99 = (1000 * percentile(ordered, share) for share in (0.50, 0.95, 0.99))
    slowest = 1000 * ordered[-1] if ordered else float("nan")
    print(f"machine      {os.cpu_count()} cores; load average {loads[0]} before, {loads[1]} after")
    print(f"server       rehabclaim serve, {arguments.workers} worker process(es), {described}")
    print(f"load         {arguments.clients} clients for {run.wall:.1f} s, POST /v1/scrub (the example visits in turn)")
    print(f"requests     {run.requests}")
    print(f"errors       {failed}" + (f" ({kinds})" if failed else ""))
    print(f"requests/s   {len(ordered) / run.wall:.1f}")
    print(f"latency ms   p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {slowest:.1f}")
    if run.requests:
        for who, seconds in (("server", run.server_cpu), ("client", run.client_cpu)):
            per_request = 1000 * seconds / run.requests
            print(f"{who} CPU   {per_request:.2f} ms/request ({seconds:.1f} s: {seconds / run.wall:.2f} cores)")


def main() -> int:
    parser = argparse.ArgumentParser(description="A bounded load test of the REST API on loopback.")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to load the server (default 30)")
    parser.add_argument(
        "--database-url", help="postgresql+psycopg://... (a new database is made there); default SQLite"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (if serve has --workers)")
    arguments = parser.parse_args()
    if arguments.clients < 1 or arguments.seconds <= 0 or arguments.workers < 1:
        parser.error("--clients and --workers must be at least 1, --seconds more than 0")
    extra: list[str] = []
    if arguments.workers > 1:
        if not serve_supports_workers():
            parser.error("`rehabclaim serve` has no --workers option: it runs one process")
        extra = ["--workers", str(arguments.workers)]
    with tempfile.TemporaryDirectory(prefix="rehabclaim-load-") as temporary:
        folder = Path(temporary)
        with ledger(arguments.database_url, folder) as (url, described), serve(url, folder, extra=extra) as server:
            token = server.token("load test")
            before = load_average()
            run = asyncio.run(load(server, token, arguments.clients, arguments.seconds))
            after = load_average()
            server_said = [line for line in server.logs().splitlines() if "rehabclaim.api.access" not in line]
    report(run, described, arguments, (before, after))
    if run.tally.errors:
        print("the server's log, but for its access lines:", *server_said[-40:], sep="\n  ")
    return 1 if run.tally.errors or not run.tally.latencies else 0


if __name__ == "__main__":
    sys.exit(main())
