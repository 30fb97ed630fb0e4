"""rehabclaim.spark on a local-mode SparkSession (local[2], one per test session): the Spark path gives what
`rehabclaim batch` gives on the same file, byte for byte, bad lines included; the frames have the documented
schemas; Parquet and JSON Lines outputs read back as written; the `python -m rehabclaim.spark` entry.

pyspark and Java come with `scripts/setup` (the dev extra pulls in `rehabclaim[spark]`). Without them these
tests skip on a developer's machine and FAIL under CI=true: CI must run them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rehabclaim.batch import BatchSummary, run_batch
from rehabclaim.datafiles import DataFileError
from tests.fuzzing import bench_module

VISITS = 300
BAD_LINES = [
    b'{"id": "bad", "date": "2026-13-01"}\n',  # a field the contract refuses
    b"\n",  # blank: skipped, still counted as a line
    b"\xff\xfe not UTF-8\n",
    b"{ not json\n",
]


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the Spark tests (scripts/setup installs them)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local SparkSession for every test here: it takes seconds to start."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        _missing("pyspark is not installed (pip install -e '.[dev]')")
    if shutil.which("java") is None:
        _missing("no Java runtime (apt-get install openjdk-17-jre-headless)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need this venv's pyarrow and rehabclaim
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("rehabclaim tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def visits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench/generate.py's visits, bad lines among them, and a CRLF-ended copy of the first visit."""
    path = tmp_path_factory.mktemp("spark") / "visits.jsonl"
    bench_module("generate").generate(VISITS, path, seed=11)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[5:5] = BAD_LINES
    lines.append(lines[0].rstrip(b"\n") + b"\r\n")
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture(scope="session")
def batch(visits_file: Path) -> tuple[bytes, BatchSummary]:
    target = visits_file.with_name("batch.jsonl")
    summary = run_batch(visits_file, target)
    return target.read_bytes(), summary


@pytest.fixture(scope="session")
def frames(spark: Any, visits_file: Path) -> Any:
    from rehabclaim.spark import read_visits, scrub_dataframe

    return scrub_dataframe(read_visits(spark, visits_file).repartition(3))  # more partitions than lines' order


def _rows(frame: Any, *order: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in frame.orderBy(*order).collect()]


def test_spark_results_are_batch_results_byte_for_byte(frames: Any, batch: tuple[bytes, BatchSummary]) -> None:
    output, summary = batch
    rows = frames.results.orderBy("line").collect()
    assert len(rows) == summary.visits == VISITS + 1
    assert "".join(row.result + "\n" for row in rows).encode() == output
    assert [row.line for row in rows[:6]] == [1, 2, 3, 4, 5, 10]  # true line numbers, after the bad lines
    assert rows[-1].line == VISITS + len(BAD_LINES) + 1 and rows[-1].result == rows[0].result  # the CRLF copy


def test_bad_lines_are_the_errors_batch_reports(frames: Any, batch: tuple[bytes, BatchSummary]) -> None:
    errors = _rows(frames.errors, "line")
    assert [(line, error) for line, _field, error in errors] == batch[1].skipped
    assert [(line, field) for line, field, _error in errors] == [(6, "date"), (8, ""), (9, "")]
    assert errors[0][2].startswith("line 6: date: ")


def test_summary_columns_say_what_the_result_json_says(frames: Any) -> None:
    for row in frames.results.collect():
        result = msgspec.json.decode(row.result)
        assert (row.id, row.payer, row.total_timed_units, row.total_charge) == (
            result["id"],
            result["payer"],
            result["total_timed_units"],
            result["total_charge"],
        )
        assert row.has_error == any(f["severity"] == "error" for f in result["findings"])
        assert row.documentation_score == (result["documentation"] or {}).get("score")


def test_lines_and_findings_frames_hold_every_line_and_finding_of_the_results(frames: Any) -> None:
    expected_lines: list[tuple[Any, ...]] = []
    expected_findings: list[tuple[Any, ...]] = []
    for row in frames.results.orderBy("line").collect():
        result = msgspec.json.decode(row.result)
        keys = (row.line, row.id)
        expected_lines += [(*keys, n, *item.values()) for n, item in enumerate(result["lines"], start=1)]
        expected_findings += [(*keys, n, *item.values()) for n, item in enumerate(result["findings"], start=1)]
    assert expected_findings, "the generated visits have findings"
    assert _rows(frames.lines, "line", "seq") == expected_lines  # floats too: the JSON keeps every digit
    assert _rows(frames.findings, "line", "seq") == expected_findings


def test_the_documented_schemas_are_the_schemas_produced(spark: Any, frames: Any, visits_file: Path) -> None:
    from rehabclaim import spark as module

    assert module.read_visits(spark, visits_file).schema == module.VISITS_SCHEMA
    assert frames.results.schema == module.RESULT_SCHEMA
    assert frames.lines.schema == module.LINE_SCHEMA
    assert frames.findings.schema == module.FINDING_SCHEMA
    assert frames.errors.schema == module.ERROR_SCHEMA
    assert frames.scrubbed.schema == module.SCRUBBED_SCHEMA


def test_parquet_round_trip(spark: Any, frames: Any, tmp_path: Path) -> None:
    from rehabclaim.spark import FRAMES, write_frames

    write_frames(frames, tmp_path / "out", "parquet")
    for name in FRAMES:
        written, read = getattr(frames, name), spark.read.parquet(str(tmp_path / "out" / name))
        assert read.schema.simpleString() == written.schema.simpleString()  # Parquet reads every column nullable
        order = ["line", "seq"] if "seq" in written.columns else ["line"]
        assert _rows(read, *order) == _rows(written, *order)
        assert read.count() > 0


def test_json_lines_round_trip(spark: Any, frames: Any, batch: tuple[bytes, BatchSummary], tmp_path: Path) -> None:
    from rehabclaim.spark import FRAMES, write_frames

    write_frames(frames, tmp_path / "out", "jsonl")
    parts = sorted((tmp_path / "out" / "results").glob("part-*"))
    assert b"".join(part.read_bytes() for part in parts) == batch[0]  # the result files are batch's output
    for name in FRAMES[1:]:
        written = getattr(frames, name)
        read = spark.read.schema(written.schema).json(str(tmp_path / "out" / name))
        order = ["line", "seq"] if "seq" in written.columns else ["line"]
        assert _rows(read, *order) == _rows(written, *order)


def test_a_bad_practice_file_fails_on_the_driver_before_any_task(spark: Any, visits_file: Path, tmp_path: Path) -> None:
    from rehabclaim.spark import read_visits, scrub_dataframe

    bad = tmp_path / "practice.toml"
    bad.write_text("[locality]\nmac = 'x'\n")
    with pytest.raises(DataFileError, match=re.escape(str(bad))):
        scrub_dataframe(read_visits(spark, visits_file), practice=bad)


def test_the_module_entry_writes_the_frames_and_refuses_an_existing_output(
    spark: Any, visits_file: Path, batch: tuple[bytes, BatchSummary], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rehabclaim.spark.__main__ import main

    out = tmp_path / "out"
    assert main([str(visits_file), str(out), "--format", "jsonl"]) == 0
    counts = msgspec.json.decode(capsys.readouterr().out)
    assert counts["visits"] == batch[1].visits and counts["skipped"] == len(batch[1].skipped)
    assert counts["visits_with_errors"] == batch[1].visits_with_errors
    assert b"".join(p.read_bytes() for p in sorted((out / "results").glob("part-*"))) == batch[0]
    assert main([str(visits_file), str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "already exists" in error and error.count("\n") == 1
    assert not spark.sparkContext._jsc.sc().isStopped()  # the entry leaves a session it did not start running
