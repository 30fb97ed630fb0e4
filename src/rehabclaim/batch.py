"""Scrubbing a JSON Lines file of visits on one machine, streamed, in input order, on N processes.

With more than one worker the parent does almost nothing per visit: it splits the input into spans of
whole lines (``plan_spans``: start, size, first line number), hands them out, and appends each finished
part to the output in input order. Each worker reads its own span from the file and writes its results to
its own part file (``scrub_span_to``); only the counts and the skipped lines come back through the pipe.
With one worker the process reads, scrubs and writes the lines itself. Memory stays flat whatever the
input size: a worker holds one span (at most ``MAX_SPAN_BYTES``) and one chunk of results at a time.

The output goes through ``rehabclaim.atomic`` (a temporary file renamed into place at the end, owner-only:
it holds visit ids and findings), so it never holds a half-written record; a run killed outright leaves a
temporary that the next run removes. Part files have no name at all (``O_TMPFILE`` in the output's folder,
made by the parent and passed to a worker over its pipe), so they vanish with the processes that hold them,
however those end. A worker that dies fails the run (``WorkerDied``) instead of hanging it; workers die
with the parent; ``stop_on_signals`` makes SIGTERM, SIGINT and SIGHUP remove the temporary before exiting.

The reference data is loaded once per run (or given by the caller) into one ``Scrubber``, before any worker
starts; each worker is forked with its own copy of it. Nothing is kept between runs: the next run reads the
rules folder as it is then.
"""

from __future__ import annotations

import ctypes
import io
import multiprocessing
import multiprocessing.reduction
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rehabclaim.atomic import atomic_writer, remove_own_temporaries, same_file
from rehabclaim.errors import InputError
from rehabclaim.reference import Reference, load_reference
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result

CHUNK_LINES = 1000
SPANS_PER_WORKER = 16  # spans a worker gets in a run: the last one's wait for the others stays short
MIN_SPAN_BYTES = 256 * 1024  # below this the parent's few syscalls a span start to count
MAX_SPAN_BYTES = 8 * 1024 * 1024  # what a worker holds of the input at once
AHEAD_PER_WORKER = 4  # spans handed out beyond the next one to append: bounds the parts waiting on disk
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
    """A worker: span tasks in, the counts of each span (or the InputError of a strict run) out, until None or
    end of file. ``scrubber`` is this worker's own: the parent's, copied by fork with the reference data."""
    _worker_started(parent)
    for inherited in siblings:  # the parent's ends of earlier workers' pipes, copied by fork
        inherited.close()
    try:
        while (task := tasks.recv()) is not None:
            source, start, size, first_line = task
            part = multiprocessing.reduction.recv_handle(tasks)  # the part file, opened by the parent
            try:
                outcome = scrub_span_to(source, start, size, first_line, strict, scrubber, part)
                reply: tuple[bool, Any] = (True, outcome)
            except Exception as exc:  # InputError of a strict run (or a bug): raised again in the parent
                reply = (False, exc)
            tasks.send(reply)
    except (EOFError, OSError):
        pass  # the parent is gone: nobody to report to


Span = tuple[int, int, int]  # (start, size, first line number) of whole lines of the input
SpanTask = tuple[Path, int, int, int]  # the input and its span


class _Workers:
    """Worker processes with a pipe each; a task goes to an idle worker and its reply is read back from that
    worker's pipe, so a worker that dies, even in the middle of sending, shows as end of file on its own
    pipe. (multiprocessing.Pool waits forever for a dead worker's task, and ProcessPoolExecutor's shared
    result pipe hangs on a message cut short.)"""

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

    def submit(self, index: int, task: SpanTask, part: int) -> None:
        """``task`` to worker ``index``, its results to go to the file ``part`` (a descriptor, sent along)."""
        try:
            self.pipes[index].send(task)
            multiprocessing.reduction.send_handle(self.pipes[index], part, self.processes[index].pid)
        except OSError:  # a broken pipe: the worker is gone
            raise self._died(index) from None

    def replied(self) -> list[int]:
        """Blocks until some workers have replied (or died); their indexes."""
        ready = set(wait(self.pipes))
        return [index for index, pipe in enumerate(self.pipes) if pipe in ready]

    def reply(self, index: int) -> tuple[bool, Any]:
        """(True, the ChunkOutcome of its span) or (False, the exception to raise in its turn)."""
        try:
            reply: tuple[bool, Any] = self.pipes[index].recv()
        except (EOFError, OSError):
            raise self._died(index) from None
        return reply

    def _died(self, index: int) -> WorkerDied:
        return WorkerDied(f"worker process {self.processes[index].pid} ended in the middle of the run")

    def close(self) -> None:
        """After the last reply: let the workers end (one that already did has nothing left to give)."""
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
        _add_counts(self, outcome)

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


def _add_counts(into: ChunkOutcome | BatchSummary, outcome: ChunkOutcome) -> None:
    into.visits += outcome.visits
    into.lines += outcome.lines
    into.visits_with_errors += outcome.visits_with_errors
    into.errors_by_rule.update(outcome.errors_by_rule)
    into.skipped.extend(outcome.skipped)


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


def read_chunks(stream: IO[bytes], size: int = CHUNK_LINES, first_line: int = 1) -> Iterator[tuple[Chunk, int]]:
    """Yield chunks of non-blank lines with their numbers (the stream's first is ``first_line``), and the bytes
    they took."""
    chunk: Chunk = []
    consumed = 0
    for number, raw in enumerate(stream, start=first_line):
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


def scrub_span_to(
    source: Path, start: int, size: int, first_line: int, strict: bool, scrubber: Scrubber, part: int
) -> ChunkOutcome:
    """``scrub_span``, with the results written to the file descriptor ``part`` (closed at the end) chunk by
    chunk as they are made; the outcome returned holds the counts and skipped lines of the whole span, and
    no output."""
    with source.open("rb") as stream:
        stream.seek(start)
        lines = io.BytesIO(stream.read(size))
    total = ChunkOutcome(b"")
    with open(part, "wb") as out:
        for chunk, _consumed in read_chunks(lines, first_line=first_line):
            outcome = scrub_chunk(chunk, strict, scrubber)
            out.write(outcome.output)
            _add_counts(total, outcome)
    return total


def span_bytes(input_size: int, workers: int) -> int:
    """About ``SPANS_PER_WORKER`` spans a worker, within the bounds."""
    return max(MIN_SPAN_BYTES, min(MAX_SPAN_BYTES, input_size // (workers * SPANS_PER_WORKER)))


def plan_spans(stream: IO[bytes], size: int) -> Iterator[Span]:
    """Consecutive spans of whole lines of ``stream``, each ``size`` bytes or a little more (to the end of
    its last line). Reading and counting newlines in blocks is all the parent does with the input."""
    start, first_line = 0, 1
    while block := stream.read(size):
        if not block.endswith(b"\n"):
            block += stream.readline()
        yield start, len(block), first_line
        start += len(block)
        first_line += block.count(b"\n")


class _Parts:
    """The part files of one run, by span number: nameless files in the output's folder (its file system, so
    appending them is a copy in the kernel), gone once closed here and in the worker, however a run ends."""

    def __init__(self, folder: Path, out: int) -> None:
        self.folder, self.out = folder, out
        self.open: dict[int, IO[bytes]] = {}

    def create(self, number: int) -> int:
        part = tempfile.TemporaryFile(dir=self.folder)  # noqa: SIM115 (closed by append or close_all)
        self.open[number] = part
        return part.fileno()

    def append(self, number: int) -> None:
        """Append span ``number``'s part to the output, then let the part go."""
        with self.open.pop(number) as part:
            _copy_to_end(part.fileno(), self.out)

    def close_all(self) -> None:
        for part in self.open.values():
            part.close()
        self.open.clear()


def _copy_to_end(source: int, target: int) -> None:
    """All of the file ``source`` written at ``target``'s current position."""
    size, done = os.fstat(source).st_size, 0
    try:
        while done < size:
            copied = os.copy_file_range(source, target, size - done, done)
            if not copied:
                break
            done += copied
    except (AttributeError, OSError):  # not Linux, or a file system that cannot: copy through user space
        os.lseek(source, done, os.SEEK_SET)
        with open(source, "rb", closefd=False) as part, open(target, "wb", closefd=False) as out:
            shutil.copyfileobj(part, out)
        return
    if done < size:
        raise OSError(f"part file shrank while it was appended ({done} of {size} bytes)")


class _PartRun:
    """One run on worker processes: spans out to idle workers in input order (at most ``AHEAD_PER_WORKER``
    a worker beyond the next one to append), replies in, parts appended in order. A failed span (an
    InputError of a strict run) stops new spans; its error is raised when its turn comes, so the first bad
    line of the input is the one reported."""

    def __init__(self, spans: Iterator[Span], pool: _Workers, parts: _Parts, source: Path) -> None:
        self.spans, self.pool, self.parts, self.source = enumerate(spans), pool, parts, source
        self.upcoming = next(self.spans, None)
        self.idle = list(range(len(pool.pipes)))
        self.running: dict[int, tuple[int, int]] = {}  # worker -> (span number, span size)
        self.finished: dict[int, tuple[int, tuple[bool, Any]]] = {}  # span number -> (size, reply)
        self.next_to_append = 0
        self.failed = False

    def run(self, summary: BatchSummary, progress: Callable[[int], None] | None) -> None:
        while True:
            self._hand_out()
            self._append_finished(summary, progress)
            if self.running:
                self._collect_replies()
            elif self.upcoming is None or self.failed:
                break
            # else every worker is idle because the ahead limit held spans back: appending moved it on
        if self.upcoming is not None or self.finished:  # a bug: never a short output in silence
            raise RuntimeError(f"batch: span {self.next_to_append} neither appended nor failed")

    def _append_finished(self, summary: BatchSummary, progress: Callable[[int], None] | None) -> None:
        while self.next_to_append in self.finished:
            size, (succeeded, value) = self.finished.pop(self.next_to_append)
            if not succeeded:
                raise value
            self.parts.append(self.next_to_append)
            summary.add(value)
            if progress:
                progress(size)
            self.next_to_append += 1

    def _collect_replies(self) -> None:
        for worker in self.pool.replied():
            number, size = self.running.pop(worker)
            reply = self.pool.reply(worker)
            self.finished[number] = (size, reply)
            self.failed = self.failed or not reply[0]
            self.idle.append(worker)

    def _hand_out(self) -> None:
        limit = self.next_to_append + AHEAD_PER_WORKER * len(self.pool.pipes)
        while self.idle and self.upcoming is not None and self.upcoming[0] < limit and not self.failed:
            number, (start, size, first_line) = self.upcoming
            worker = self.idle.pop()
            self.pool.submit(worker, (self.source, start, size, first_line), self.parts.create(number))
            self.running[worker] = (number, size)
            self.upcoming = next(self.spans, None)


def _scrub_in_process(
    stream: IO[bytes],
    out: IO[bytes],
    strict: bool,
    scrubber: Scrubber,
    summary: BatchSummary,
    progress: Callable[[int], None] | None,
) -> None:
    for chunk, consumed in read_chunks(stream):
        outcome = scrub_chunk(chunk, strict, scrubber)
        out.write(outcome.output)
        summary.add(outcome)
        if progress:
            progress(consumed)


def _scrub_in_parts(
    source: Path,
    stream: IO[bytes],
    target: Path,
    out: IO[bytes],
    strict: bool,
    scrubber: Scrubber,
    summary: BatchSummary,
    progress: Callable[[int], None] | None,
) -> None:
    out.flush()  # the parts go straight to its descriptor, after anything buffered
    parts = _Parts(target.parent, out.fileno())
    pool = _Workers(summary.workers, strict, scrubber)
    spans = plan_spans(stream, span_bytes(os.fstat(stream.fileno()).st_size, summary.workers))
    try:
        _PartRun(spans, pool, parts, source).run(summary, progress)
    except BaseException:
        pool.kill()
        parts.close_all()
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
    with source.open("rb") as stream, atomic_writer(target, private=True) as out:
        if summary.workers == 1:
            _scrub_in_process(stream, out, strict, scrubber, summary, progress)
        else:
            _scrub_in_parts(source, stream, target, out, strict, scrubber, summary, progress)
    summary.seconds = time.perf_counter() - started
    return summary
