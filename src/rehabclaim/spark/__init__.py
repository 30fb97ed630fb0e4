"""Scrubbing a Spark DataFrame of visits with the engine ``batch`` uses (the optional extra ``rehabclaim[spark]``;
Spark needs a Java 17 runtime).

The input is the JSON contract: one JSON visit per row, in a ``value`` column (string or binary, as
``spark.read.text`` of a JSON Lines file gives), and its input line number in ``line`` (``read_visits`` adds
it). Each row goes through ``services.scrub.scrub_line``, the per-line function of the API's JSON Lines scrub:
a result, or a line error naming the line and field, as ``batch`` reports a skipped line.

The reference data (catalog, payers, CMS tables, the practice file, the drop-in rules folder) is loaded once,
on the driver, so a bad data file fails there before any task, and executors need none of those files; it is
broadcast, and each Python worker unpickles it once (pyspark keeps a broadcast's value in the worker process)
and scrubs every batch of every task with one Scrubber for it (``scrub_line`` keeps that Scrubber).

Every visit is scrubbed once: the frames are views of one persisted frame (``ScrubFrames.scrubbed``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pyspark.core.broadcast import Broadcast
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from rehabclaim.model import ScrubResult
from rehabclaim.reference import Reference, load_reference
from rehabclaim.scrubber import encode_result
from rehabclaim.services.scrub import LineError, scrub_line

Format = Literal["parquet", "jsonl"]
FRAMES = ("results", "lines", "findings", "errors")


def _field(name: str, kind: Any, nullable: bool = False) -> StructField:
    return StructField(name, kind, nullable)


def _from_struct(fields: list[StructField]) -> list[StructField]:
    """``fields`` as Spark types them when read out of a struct that can be null (the result of a visit is
    null on an error's row): nullable, whatever the values. The README says when a value is null."""
    return [StructField(f.name, f.dataType, True) for f in fields]


# --- the documented schemas (README "Spark"); tests/test_spark.py checks each against the frame produced ---

VISITS_SCHEMA = StructType([_field("line", LongType()), _field("value", BinaryType(), True)])
"""The input: the line number (from 1) and the line's bytes (a blank or null value is skipped, as by batch)."""

_RESULT_FIELDS = [
    _field("id", StringType()),
    _field("payer", StringType()),
    _field("method", StringType()),
    _field("total_timed_minutes", IntegerType()),
    _field("total_timed_units", IntegerType()),
    _field("total_charge", DoubleType()),
    _field("total_expected", DoubleType()),
    _field("has_error", BooleanType()),  # a finding of severity error
    _field("documentation_score", DoubleType(), True),  # null: the visit has no documentation object
    _field("result", StringType()),  # the result JSON, byte for byte what `rehabclaim batch` writes
]
LINE_FIELDS = [
    _field("code", StringType()),
    _field("units", IntegerType()),
    _field("modifiers", ArrayType(StringType(), containsNull=False)),
    _field("minutes", IntegerType(), True),
    _field("why", StringType()),
    _field("charge", DoubleType(), True),
    _field("expected", DoubleType(), True),
    _field("expected_why", StringType()),
]
FINDING_FIELDS = [
    _field("rule", StringType()),
    _field("severity", StringType()),
    _field("code", StringType(), True),
    _field("message", StringType()),
]
_ERROR_FIELDS = [_field("field", StringType()), _field("error", StringType())]
_LINE = _field("line", LongType())  # the input line number, from 1
_SEQ = _field("seq", IntegerType())  # the claim line's or the finding's place in the visit's result, from 1
RESULT_SCHEMA = StructType([_LINE, *_from_struct(_RESULT_FIELDS)])
LINE_SCHEMA = StructType([_LINE, *_from_struct(_RESULT_FIELDS[:1]), _SEQ, *LINE_FIELDS])
FINDING_SCHEMA = StructType([_LINE, *_from_struct(_RESULT_FIELDS[:1]), _SEQ, *FINDING_FIELDS])
ERROR_SCHEMA = StructType([_LINE, *_from_struct(_ERROR_FIELDS)])

# What the Python workers return, one row per non-blank input line: a result or an error.
_RESULT_STRUCT = StructType(
    [
        *_RESULT_FIELDS,
        _field("lines", ArrayType(StructType(LINE_FIELDS), containsNull=False)),
        _field("findings", ArrayType(StructType(FINDING_FIELDS), containsNull=False)),
    ]
)
SCRUBBED_SCHEMA = StructType(
    [
        _LINE,
        _field("result", _RESULT_STRUCT, True),
        _field("error", StructType(_ERROR_FIELDS), True),
    ]
)
_ARROW_SCRUBBED = to_arrow_schema(SCRUBBED_SCHEMA)


@dataclass(frozen=True)
class ScrubFrames:
    """The scrub of a DataFrame of visits, each frame with its documented schema (``RESULT_SCHEMA``,
    ``LINE_SCHEMA``, ``FINDING_SCHEMA``, ``ERROR_SCHEMA``); ``scrubbed`` (``SCRUBBED_SCHEMA``) is the persisted
    frame they all read. Order rows by ``line`` (and ``seq``) for input order."""

    results: DataFrame
    lines: DataFrame
    findings: DataFrame
    errors: DataFrame
    scrubbed: DataFrame

    def unpersist(self) -> None:
        self.scrubbed.unpersist()


def scrub_dataframe(df: DataFrame, *, practice: Path | None = None, reference: Reference | None = None) -> ScrubFrames:
    """Scrub every row of ``df`` (``value``: one JSON visit; ``line``: its line number, else rows are
    numbered in frame order) against ``reference`` (when None, loaded now on the driver with the ``practice``
    file: DataFileError for a bad one). Lazy, like any DataFrame: the scrub runs at the first action."""
    spark = df.sparkSession
    visits = df if "line" in df.columns else number_rows(df)
    cores = spark.sparkContext.defaultParallelism
    if visits.rdd.getNumPartitions() < cores:  # a file under 128 MB is one partition: one core would scrub it
        visits = visits.repartition(cores)
    shared = spark.sparkContext.broadcast(reference or load_reference(practice))
    scrubbed = (
        visits.select(F.col("line").cast("long"), F.col("value").cast("binary"))
        .mapInArrow(functools.partial(_scrub_batches, shared), SCRUBBED_SCHEMA)
        .persist()
    )
    done = scrubbed.where(F.col("result").isNotNull())
    return ScrubFrames(
        results=done.select("line", *(f"result.{name}" for name in RESULT_SCHEMA.names[1:])),
        lines=_exploded(done, "lines", LINE_FIELDS),
        findings=_exploded(done, "findings", FINDING_FIELDS),
        errors=scrubbed.where(F.col("error").isNotNull()).select("line", "error.field", "error.error"),
        scrubbed=scrubbed,
    )


def _exploded(done: DataFrame, name: str, fields: list[StructField]) -> DataFrame:
    rows = done.select("line", "result.id", F.posexplode(f"result.{name}").alias("seq", "item"))
    return rows.select("line", "id", (F.col("seq") + 1).alias("seq"), *(f"item.{f.name}" for f in fields))


def _scrub_batches(shared: Broadcast[Reference], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A Python worker's part: Arrow batches of (line, value) in, ``SCRUBBED_SCHEMA`` batches out."""
    reference = shared.value  # unpickled once per worker process, then kept by pyspark
    for batch in batches:
        columns = _Columns()
        for number, raw in zip(batch.column("line").to_pylist(), batch.column("value").to_pylist(), strict=True):
            if raw and raw.strip():
                columns.add(number, scrub_line(reference, number=number, raw=raw))
        yield columns.batch()


class _Columns:
    """One output batch, built column by column: Arrow makes flat lists of values into arrays far faster than
    it converts a dict per row (``RecordBatch.from_pylist`` cost as much as the scrub itself)."""

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.results: dict[str, list[Any]] = {f.name: [] for f in _RESULT_FIELDS}
        self.lines: dict[str, list[Any]] = {f.name: [] for f in LINE_FIELDS}
        self.findings: dict[str, list[Any]] = {f.name: [] for f in FINDING_FIELDS}
        self.line_ends, self.finding_ends = [0], [0]  # the Arrow list offsets: where each row's items end
        self.errors: dict[str, list[Any]] = {f.name: [] for f in _ERROR_FIELDS}

    def add(self, number: int, outcome: ScrubResult | LineError) -> None:
        self.numbers.append(number)
        result = None if isinstance(outcome, LineError) else outcome
        error = outcome if isinstance(outcome, LineError) else None
        for name, values in self.errors.items():
            values.append(None if error is None else getattr(error, name))
        for name, values in self.results.items():
            values.append(None if result is None else getattr(result, name, None))
        if result is not None:
            self.results["has_error"][-1] = result.has_error
            self.results["documentation_score"][-1] = result.documentation and result.documentation.score
            self.results["result"][-1] = encode_result(result).decode()
            _extend(self.lines, result.lines)
            _extend(self.findings, result.findings)
        self.line_ends.append(len(self.lines["code"]))
        self.finding_ends.append(len(self.findings["rule"]))

    def batch(self) -> pa.RecordBatch:
        result_type = _ARROW_SCRUBBED.field("result").type
        no_result = pa.array([value is None for value in self.results["id"]])
        items = [
            pa.ListArray.from_arrays(
                pa.array(ends, pa.int32()),
                _struct(result_type.field(name).type.value_type, found),
                type=result_type.field(name).type,
            )
            for name, ends, found in (
                ("lines", self.line_ends, self.lines),
                ("findings", self.finding_ends, self.findings),
            )
        ]
        results = _struct(result_type, self.results, no_result, items)
        errors = _struct(
            _ARROW_SCRUBBED.field("error").type, self.errors, pa.array([e is None for e in self.errors["error"]])
        )
        return pa.RecordBatch.from_arrays([pa.array(self.numbers, pa.int64()), results, errors], schema=_ARROW_SCRUBBED)


def _extend(columns: dict[str, list[Any]], items: list[Any]) -> None:
    for name, values in columns.items():
        values.extend(getattr(item, name) for item in items)


def _struct(kind: Any, values: dict[str, list[Any]], nulls: Any = None, arrays: Any = ()) -> Any:
    """A StructArray of ``kind`` from its fields' values (then ready ``arrays`` for its last fields)."""
    fields = list(kind)
    built = [pa.array(values[f.name], f.type) for f in fields[: len(fields) - len(arrays)]]
    return pa.StructArray.from_arrays([*built, *arrays], fields=fields, mask=nulls)


def number_rows(df: DataFrame) -> DataFrame:
    """``df``'s ``value`` with a ``line`` column: 1, 2, ... in frame order (a file's line order for one file
    read by ``spark.read.text``), counted in the JVM: one pass counts each partition's rows, the next adds the
    partition's offset to the row's position in it (what ``RDD.zipWithIndex`` does, without Python)."""
    tagged = df.select(
        F.spark_partition_id().alias("part"),
        F.monotonically_increasing_id().alias("position"),  # the partition id << 33 + the row's index in it
        F.col("value").cast("binary"),
    )
    counts = sorted((row["part"], row["count"]) for row in tagged.groupBy("part").count().collect())
    offsets: list[Column] = []
    total = 0
    for part, count in counts:
        offsets += [F.lit(part), F.lit(total)]
        total += count
    found = F.element_at(F.create_map(*offsets), F.col("part")) if offsets else F.lit(0)
    first = F.coalesce(found, F.lit(0))  # every part is in the map; coalesce tells Spark `line` is never null
    index = F.col("position") - F.shiftleft(F.col("part").cast("long"), 33)
    return tagged.select((first + index + 1).cast("long").alias("line"), "value")


def read_visits(spark: SparkSession, path: str | Path, format: Format = "jsonl") -> DataFrame:
    """Visits to scrub (``VISITS_SCHEMA``): a JSON Lines file, each line's bytes as they are (split on
    ``\\n`` only, as ``batch`` reads), numbered from 1 blank lines included; or a Parquet file with a
    ``value`` column (and ``line``, else rows are numbered in file order). One file: a folder's files are
    not read in name order."""
    if format == "parquet":
        frame = spark.read.parquet(str(path))
        visits = frame if "line" in frame.columns else number_rows(frame)
        return visits.select(F.col("line").cast("long"), F.col("value").cast("binary"))
    return number_rows(spark.read.text(str(path), lineSep="\n"))


def write_frames(frames: ScrubFrames, path: str | Path, format: Format = "parquet") -> None:
    """Each frame into ``path``/<results|lines|findings|errors>, in input order (Spark's part files, read in
    name order). In ``jsonl``, ``results`` holds the result JSON only, line for line what ``batch`` writes
    for the same input; the others are Spark's JSON Lines of their columns. An existing output is refused."""
    root = str(path).rstrip("/")
    for name in FRAMES:
        frame: DataFrame = getattr(frames, name)
        ordered = frame.orderBy(*(["line", "seq"] if "seq" in frame.columns else ["line"]))
        target = f"{root}/{name}"
        if format == "parquet":
            ordered.write.parquet(target)
        elif name == "results":
            ordered.select("result").write.text(target)
        else:
            ordered.write.json(target)
