"""Scrubbing a JSON Lines file of visits on one machine, streamed, in input order, on N processes.

Memory stays flat whatever the input size: lines are read in chunks, at most ``2 x workers`` chunks are
in flight, and results are written as soon as their turn comes. The output goes through
``rehabclaim.atomic`` (a temporary file renamed into place at the end, owner-only: it holds visit ids and
findings), so it never holds a half-written record; a run killed outright leaves a temporary that the next
run removes. A worker that dies fails the run (``WorkerDied``) instead of hanging it; workers die with the
parent; ``stop_on_signals`` makes SIGTERM, SIGINT and SIGHUP remove the temporary before exiting.

The reference data is loaded once per run (or given by the caller) into one ``Scrubber``, before any worker
starts; each worker is forked with its own copy of it. Nothing is kept between runs: the next run reads the
rules folder as it is then.
"""

from __future__ import annotations

import ctypes
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rehabclaim.atomic import atomic_writer, remove_own_temporaries, same_file
from rehabclaim.errors import InputError
from rehabclaim.reference import Reference, load_reference
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result

CHUNK_LINES = 1000
Chunk = list[tuple[int, bytes]]  # (line number, raw line)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@contextmanager
def stop_on_signals(target: Path) -> Iterator[None]:
    """For the block, SIGTERM, SIGINT and SIGHUP end the process at once with status 128 + the signal, after
    removing this process's temporary of ``target`` and printing one line. Nothing is raised into the running
    code: an exception at an arbitrary point can leave a lock of the worker pool held and the exit hung. The
    workers die with this process (``_worker_started``). Off the main thread (where Python cannot set
    handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def stop(signum: int, _frame: FrameType | None) -> None:
        if os.getpid() == owner:  # not a worker forked before its initializer reset the handlers
            remove_own_temporaries(target)
            tidy = "\r\x1b[2K\x1b[?25h" if os.isatty(2) else ""  # the progress bar's line, its hidden cursor
            name = signal.Signals(signum).name
            os.write(2, f"{tidy}error: stopped by {name}; nothing written to {target}\n".encode(errors="replace"))
        os._exit(128 + signum)  # raw writes and _exit: the interrupted code may hold the stderr or a pool lock

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)  # None: set outside Python


class WorkerDied(RuntimeError):
    """A worker process ended in the middle of the run (killed, out of memory); nothing was written."""


def _worker_started(parent: int) -> None:
    """Signals are the parent's business (it stops the workers), and a worker whose parent was killed
    outright exits at once, quietly, instead of failing to send its result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _work(tasks: Connection, siblings: list[Connection], parent: int, strict: bool, scrubber: Scrubber) -> None:
    """A worker: span tasks in, outcomes (or the InputError of a strict run) out, until None or end of file.
    ``scrubber`` is this worker's own: the parent's, copied by fork with the reference data it loaded once."""
    _worker_started(parent)
    for inherited in siblings:  # the parent's ends of earlier workers' pipes, copied by fork
        inherited.close()
    try:
        while (task := tasks.recv()) is not None:
            source, start, size, first_line = task
            try:
                reply: tuple[bool, Any] = (True, scrub_span(source, start, size, first_line, strict, scrubber))
            except Exception as exc:  # InputError of a strict run (or a bug): raised again in the parent
                reply = (False, exc)
            tasks.send(reply)
    except (EOFError, OSError):
        pass  # the parent is gone: nobody to report to


class _Workers:
    """Worker processes with a pipe each: chunk n goes to worker n mod N and its outcome is read back from
    that worker, so input order is kept, and a worker that dies, even in the middle of sending, shows as end
    of file on its own pipe. (multiprocessing.Pool waits forever for a dead worker's chunk, and
    ProcessPoolExecutor's shared result pipe hangs on a message cut short.)"""

    def __init__(self, count: int, strict: bool, scrubber: Scrubber) -> None:
        context = multiprocessing.get_context("fork")  # each worker gets a copy of ``scrubber``, not a pickle
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            arguments = (theirs, list(self.pipes), os.getpid(), strict, scrubber)
            process = context.Process(target=_work, args=arguments, daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def submit(self, number: int, task: tuple[Path, int, int, int]) -> None:
        index = number % len(self.pipes)
        try:
            self.pipes[index].send(task)
        except OSError:  # a broken pipe: the worker is gone
            raise self._died(index) from None

    def outcome(self, number: int) -> ChunkOutcome:
        index = number % len(self.pipes)
        try:
            succeeded, value = self.pipes[index].recv()
        except (EOFError, OSError):
            raise self._died(index) from None
        if not succeeded:
            raise value
        assert isinstance(value, ChunkOutcome)
        return value

    def _died(self, index: int) -> WorkerDied:
        return WorkerDied(f"worker process {self.processes[index].pid} ended in the middle of the run")

    def close(self) -> None:
        """After the last outcome: let the workers end (one that already did has nothing left to give)."""
        for pipe in self.pipes:
            with suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join()

    def kill(self) -> None:
        for process in self.processes:
            process.kill()
            process.join()


@dataclass(slots=True)
class ChunkOutcome:
    output: bytes
    visits: int = 0
    lines: int = 0
    visits_with_errors: int = 0
    errors_by_rule: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class BatchSummary:
    visits: int = 0
    lines: int = 0
    visits_with_errors: int = 0
    errors_by_rule: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    @property
    def visits_per_second(self) -> float:
        return self.visits / self.seconds if self.seconds else 0.0

    def add(self, outcome: ChunkOutcome) -> None:
        self.visits += outcome.visits
        self.lines += outcome.lines
        self.visits_with_errors += outcome.visits_with_errors
        self.errors_by_rule.update(outcome.errors_by_rule)
        self.skipped.extend(outcome.skipped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "visits": self.visits,
            "lines": self.lines,
            "visits_with_errors": self.visits_with_errors,
            "errors_by_rule": dict(sorted(self.errors_by_rule.items())),
            "skipped": [{"line": n, "error": message} for n, message in self.skipped],
            "seconds": round(self.seconds, 3),
            "visits_per_second": round(self.visits_per_second, 1),
            "workers": self.workers,
        }


def scrub_chunk(chunk: Chunk, strict: bool, scrubber: Scrubber) -> ChunkOutcome:
    """Scrub a chunk of raw lines; malformed lines are skipped (or raise, when ``strict``)."""
    parts: list[bytes] = []
    outcome = ChunkOutcome(b"")
    for number, raw in chunk:
        try:
            result = scrubber.scrub(decode_visit(raw))
        except InputError as exc:
            if strict:
                raise exc.at_line(number) from None
            outcome.skipped.append((number, str(exc.at_line(number))))
            continue
        outcome.visits += 1
        outcome.lines += len(result.lines)
        errors = [f.rule for f in result.findings if f.severity == "error"]
        if errors:
            outcome.visits_with_errors += 1
            outcome.errors_by_rule.update(errors)
        parts.append(encode_result(result))
    outcome.output = b"\n".join(parts) + b"\n" if parts else b""
    return outcome


def read_chunks(stream: IO[bytes], size: int = CHUNK_LINES) -> Iterator[tuple[Chunk, int]]:
    """Yield chunks of non-blank lines with their 1-based numbers, and the bytes they took."""
    chunk: Chunk = []
    consumed = 0
    for number, raw in enumerate(stream, start=1):
        consumed += len(raw)
        if raw.strip():
            chunk.append((number, raw))
        if len(chunk) >= size:
            yield chunk, consumed
            chunk, consumed = [], 0
    if chunk or consumed:
        yield chunk, consumed


def scrub_span(source: Path, start: int, size: int, first_line: int, strict: bool, scrubber: Scrubber) -> ChunkOutcome:
    """Scrub the ``size`` bytes of ``source`` at ``start`` (whole lines, the first numbered ``first_line``).
    Workers read their lines themselves: a task is a few bytes in the pool's pipe, not a pickled chunk."""
    with source.open("rb") as stream:
        stream.seek(start)
        lines = io.BytesIO(stream.read(size))
    return scrub_chunk([(n, raw) for n, raw in enumerate(lines, start=first_line) if raw.strip()], strict, scrubber)


def _outcomes(
    source: Path, stream: IO[bytes], workers: int, strict: bool, scrubber: Scrubber
) -> Generator[tuple[ChunkOutcome, int]]:
    if workers <= 1:
        for chunk, consumed in read_chunks(stream):
            yield scrub_chunk(chunk, strict, scrubber), consumed
        return
    pool = _Workers(workers, strict, scrubber)
    try:
        sizes: deque[int] = deque()  # bytes of each chunk sent out and not yet back, in input order
        start, first_line, returned = 0, 1, 0
        for chunk, consumed in read_chunks(stream):
            pool.submit(returned + len(sizes), (source, start, consumed, first_line))
            sizes.append(consumed)
            start += consumed
            first_line = chunk[-1][0] + 1 if chunk else first_line  # a chunk ends on its last non-blank line
            if len(sizes) >= 2 * workers:
                yield pool.outcome(returned), sizes.popleft()
                returned += 1
        while sizes:
            yield pool.outcome(returned), sizes.popleft()
            returned += 1
    except BaseException:
        pool.kill()
        raise
    pool.close()


def run_batch(
    source: Path,
    target: Path,
    workers: int = 1,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    practice: Path | None = None,
    reference: Reference | None = None,
) -> BatchSummary:
    """Scrub ``source`` into ``target`` (which must not be ``source``) against ``reference`` (when None, loaded
    now with the ``practice`` file: a bad rule or practice file raises DataFileError before any worker
    starts). Raises InputError (nothing written) on a bad line when strict; on any error nothing is written
    either."""
    if same_file(source, target):
        raise ValueError(f"{target} is the input file: writing there would destroy it")
    summary = BatchSummary(workers=max(1, workers))
    started = time.perf_counter()
    scrubber = Scrubber(reference or load_reference(practice))  # loaded once; each worker forks a copy
    with (
        source.open("rb") as stream,
        atomic_writer(target, private=True) as out,
        closing(_outcomes(source, stream, workers, strict, scrubber)) as outcomes,  # on an error: workers killed
    ):
        for outcome, consumed in outcomes:
            out.write(outcome.output)
            summary.add(outcome)
            if progress:
                progress(consumed)
    summary.seconds = time.perf_counter() - started
    return summary
