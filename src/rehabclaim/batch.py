"""Scrubbing a JSON Lines file of visits on one machine, streamed, in input order, on N processes.

Memory stays flat whatever the input size: lines are read in chunks, at most ``2 x workers`` chunks are
in flight, and results are written as soon as their turn comes. The output goes to a temporary file in
the target folder and is renamed into place at the end, so it never holds a half-written record.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import IO, Any

from rehabclaim.engine import Engine, decode_visit, encode_result
from rehabclaim.errors import InputError
from rehabclaim.practice import load_practice

CHUNK_LINES = 1000
Chunk = list[tuple[int, bytes]]  # (line number, raw line)


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


_engines: dict[Path | None, Engine] = {}


def _worker_engine(practice: Path | None) -> Engine:
    """One engine per process and practice file, built on first use (catalogs and tables load once)."""
    engine = _engines.get(practice)
    if engine is None:
        engine = _engines[practice] = Engine(practice=load_practice(practice))
    return engine


def scrub_chunk(chunk: Chunk, strict: bool, practice: Path | None = None) -> ChunkOutcome:
    """Scrub a chunk of raw lines; malformed lines are skipped (or raise, when ``strict``)."""
    engine = _worker_engine(practice)
    parts: list[bytes] = []
    outcome = ChunkOutcome(b"")
    for number, raw in chunk:
        try:
            result = engine.scrub(decode_visit(raw))
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


def _outcomes(
    stream: IO[bytes], workers: int, strict: bool, practice: Path | None
) -> Iterator[tuple[ChunkOutcome, int]]:
    if workers <= 1:
        for chunk, consumed in read_chunks(stream):
            yield scrub_chunk(chunk, strict, practice), consumed
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque[tuple[AsyncResult[ChunkOutcome], int]] = deque()
        for chunk, consumed in read_chunks(stream):
            pending.append((pool.apply_async(scrub_chunk, (chunk, strict, practice)), consumed))
            if len(pending) >= 2 * workers:
                result, done = pending.popleft()
                yield result.get(), done
        while pending:
            result, done = pending.popleft()
            yield result.get(), done


def run_batch(
    source: Path,
    target: Path,
    workers: int = 1,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    practice: Path | None = None,
) -> BatchSummary:
    """Scrub ``source`` into ``target``. Raises InputError (nothing written) on a bad line when strict."""
    summary = BatchSummary(workers=max(1, workers))
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with source.open("rb") as stream, os.fdopen(handle, "wb") as out:
            for outcome, consumed in _outcomes(stream, workers, strict, practice):
                out.write(outcome.output)
                summary.add(outcome)
                if progress:
                    progress(consumed)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    summary.seconds = time.perf_counter() - started
    return summary
