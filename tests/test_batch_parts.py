"""`batch` on workers that read their own spans of the input and write their own part files: the output is
byte-identical to the batch before spans (golden digests, computed with that code on these inputs), skipped
lines keep their true numbers across span boundaries, a strict run reports the input's first bad line, and
the parent receives counts only, never results."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rehabclaim import batch
from rehabclaim.batch import WorkerDied, plan_spans, run_batch
from rehabclaim.errors import InputError
from tests.conftest import BASE_VISIT
from tests.fuzzing import bench_module, temporaries

# sha256 of the output and of the summary (as_dict less the timing) of the batch before spans (commit
# dca6bee), on the inputs below.
GENERATED_OUTPUT = "c4a4c41c31605ba0e59f42eb4a2e97094436f322555b7a1cfb722c51ce8e507d"
MIXED_OUTPUT = "d301b6c414e626fa0d7b876db9b7134d50cb545287ffdd0eb730be09f716b443"
MIXED_SUMMARY = "d81459a20a1d84309322133dae87c4d9a5d71f4a6ff4e64a41cf40378fe52bc8"
BAD_LINES = (1, 2, 9, 40, 41, 777, 1500)


def generated(folder: Path) -> Path:
    """bench/generate.py's seeded visits, as the benchmark makes them (about 5 % with mistakes)."""
    path: Path = bench_module("generate").generate(3000, folder / "generated.jsonl", seed=7)
    return path


def mixed(folder: Path) -> Path:
    """Visits with bad lines (the first two, neighbours, near the end), blank and whitespace-only lines, a
    CRLF line, and a last line without its newline."""
    rows: list[bytes] = []
    for number in range(1, 1501):
        if number in BAD_LINES:
            rows.append(b'{"id": "broken", "services": [}\n' if number % 2 else b'{"id": "v", "date": "2026-13-01"}\n')
        elif number % 97 == 0:
            rows.append(b"\n" if number % 2 else b"   \t \n")
        else:
            minutes = number % 70
            codes = [{"code": "97110", "minutes": minutes}, {"code": "97140", "minutes": 70 - minutes}]
            ending = b"\r\n" if number == 500 else b"\n"
            rows.append(json.dumps({**BASE_VISIT, "id": f"v{number}", "services": codes}).encode() + ending)
    path = folder / "mixed.jsonl"
    path.write_bytes(b"".join(rows).rstrip(b"\n"))
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def summary_digest(summary: batch.BatchSummary) -> str:
    counts = {k: v for k, v in summary.as_dict().items() if k not in ("seconds", "visits_per_second", "workers")}
    return sha256(json.dumps(counts, sort_keys=True).encode())


@pytest.fixture
def small_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans of 4 KiB (about a dozen visits): many spans, bad lines at their edges, the ahead limit reached."""
    monkeypatch.setattr(batch, "MIN_SPAN_BYTES", 4096)
    monkeypatch.setattr(batch, "MAX_SPAN_BYTES", 4096)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_generated_visits_give_the_same_bytes_as_before(tmp_path: Path, workers: int) -> None:
    run_batch(generated(tmp_path), tmp_path / "out.jsonl", workers=workers)
    assert sha256((tmp_path / "out.jsonl").read_bytes()) == GENERATED_OUTPUT


@pytest.mark.usefixtures("small_spans")
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_bad_lines_keep_their_numbers_across_many_spans(tmp_path: Path, workers: int) -> None:
    summary = run_batch(mixed(tmp_path), tmp_path / "out.jsonl", workers=workers)
    assert [number for number, _ in summary.skipped] == list(BAD_LINES)
    assert all(message.startswith(f"line {number}: ") for number, message in summary.skipped)
    assert sha256((tmp_path / "out.jsonl").read_bytes()) == MIXED_OUTPUT
    assert summary_digest(summary) == MIXED_SUMMARY


@pytest.mark.usefixtures("small_spans")
def test_generated_visits_in_many_spans_give_the_same_bytes(tmp_path: Path) -> None:
    run_batch(generated(tmp_path), tmp_path / "out.jsonl", workers=2)
    assert sha256((tmp_path / "out.jsonl").read_bytes()) == GENERATED_OUTPUT


@pytest.mark.parametrize("size", [1, 40, 333, 4096, 1 << 20])
def test_spans_cover_the_input_in_whole_lines_with_their_first_line_numbers(tmp_path: Path, size: int) -> None:
    data = mixed(tmp_path).read_bytes()
    spans = list(plan_spans(io.BytesIO(data), size))
    assert "".join(data[start : start + length].decode() for start, length, _ in spans) == data.decode()
    assert all(data[start + length - 1 : start + length] == b"\n" for start, length, _ in spans[:-1])
    assert [first for _, _, first in spans] == [data[:start].count(b"\n") + 1 for start, _, _ in spans]


@pytest.mark.usefixtures("small_spans")
@pytest.mark.parametrize("workers", [2, 3])
def test_strict_reports_the_first_bad_line_and_writes_nothing(tmp_path: Path, workers: int) -> None:
    source = mixed(tmp_path)
    with pytest.raises(InputError) as caught:
        run_batch(source, tmp_path / "out" / "results.jsonl", workers=workers, strict=True)
    assert caught.value.line == 1
    assert not (tmp_path / "out" / "results.jsonl").exists() and temporaries(tmp_path / "out") == []


def test_strict_reports_a_late_bad_line_when_later_spans_fail_first(tmp_path: Path) -> None:
    """Span 1 of 2 holds the only bad line near its end; nothing earlier fails: that line is reported."""
    source = mixed(tmp_path)
    lines = source.read_bytes().split(b"\n")
    good = [line for number, line in enumerate(lines, 1) if number not in BAD_LINES]
    source.write_bytes(b"\n".join([*good[:1200], b"{", *good[1200:]]) + b"\n")
    with pytest.raises(InputError) as caught:
        run_batch(source, tmp_path / "out.jsonl", workers=2, strict=True)
    assert caught.value.line == 1201 and list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize("workers", [2, 3])
def test_every_span_is_scrubbed_when_the_workers_finish_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """The parent slow to look (every worker done, the ahead limit reached): it hands out the rest after
    appending, instead of ending with a short output."""
    monkeypatch.setattr(batch, "MIN_SPAN_BYTES", 64 * 1024)
    monkeypatch.setattr(batch, "MAX_SPAN_BYTES", 64 * 1024)
    monkeypatch.setattr(batch, "AHEAD_PER_WORKER", 1)
    original = batch._Workers.replied

    def late(self: batch._Workers) -> list[int]:
        time.sleep(0.1)
        return original(self)

    monkeypatch.setattr(batch._Workers, "replied", late)
    summary = run_batch(generated(tmp_path), tmp_path / "out.jsonl", workers=workers)
    assert summary.visits == 3000
    assert sha256((tmp_path / "out.jsonl").read_bytes()) == GENERATED_OUTPUT


@pytest.mark.usefixtures("small_spans")
def test_the_parent_receives_counts_never_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replies: list[Any] = []
    original = batch._Workers.reply

    def spy(self: batch._Workers, index: int) -> tuple[bool, Any]:
        reply = original(self, index)
        replies.append(reply)
        return reply

    monkeypatch.setattr(batch._Workers, "reply", spy)
    summary = run_batch(generated(tmp_path), tmp_path / "out.jsonl", workers=2)
    assert len(replies) > 100 and all(ok and outcome.output == b"" for ok, outcome in replies)
    assert sum(outcome.visits for _, outcome in replies) == summary.visits == 3000


@pytest.mark.usefixtures("small_spans")
def test_a_worker_killed_mid_run_fails_it_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = batch._Workers.submit
    sent: list[int] = []

    def kill_on_the_tenth(self: batch._Workers, index: int, task: batch.SpanTask, part: int) -> None:
        sent.append(index)
        if len(sent) == 10:
            pid = self.processes[index].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            self.processes[index].join()
        original(self, index, task, part)

    monkeypatch.setattr(batch._Workers, "submit", kill_on_the_tenth)
    out = tmp_path / "out" / "results.jsonl"
    with pytest.raises(WorkerDied):
        run_batch(generated(tmp_path), out, workers=2)
    assert list(out.parent.iterdir()) == []


def test_part_files_are_nameless_and_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[int] = []
    original = batch._Parts.create

    def watch(self: batch._Parts, number: int) -> int:
        handle = original(self, number)
        modes.append(os.fstat(handle).st_mode & 0o777)
        assert len(temporaries(tmp_path / "out")) == 1 == len(list((tmp_path / "out").iterdir()))  # the output's
        return handle

    monkeypatch.setattr(batch._Parts, "create", watch)
    run_batch(generated(tmp_path), tmp_path / "out" / "results.jsonl", workers=2)
    assert modes and set(modes) == {0o600}


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        yield json.loads(line)


def test_results_are_in_input_order_with_three_workers(tmp_path: Path) -> None:
    run_batch(generated(tmp_path), tmp_path / "out.jsonl", workers=3)
    assert [result["id"] for result in _lines(tmp_path / "out.jsonl")] == [f"V{n:08d}" for n in range(1, 3001)]
