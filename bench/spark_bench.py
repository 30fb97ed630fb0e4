"""Spark local mode beside `rehabclaim batch`, visits/s on the same generated file, in one run.

    python bench/spark_bench.py [--visits 50000] [--seed 7]

Each measurement runs in its own process: ``batch`` with 1 and 2 workers (bench/scrub_bench.py's), then
``rehabclaim.spark`` on ``local[1]`` and ``local[2]``: read the JSON Lines file, scrub, write the four frames as
JSON Lines (results in input order, as ``batch`` writes them). The Spark time leaves out the session's start
(printed apart: a cluster pays it once per job); it includes numbering the lines and the writes. The Spark
results are checked byte-identical to ``batch``'s before any figure is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402
from scrub_bench import SCRUB, measure  # noqa: E402

SPARK = """
import json, os, sys, time
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
started = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(sys.argv[3]).config("spark.ui.enabled", "false")
         .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
spark.range(1).count()  # the first job starts the executor side too
ready = time.perf_counter()
from rehabclaim.spark import read_visits, scrub_dataframe, write_frames
frames = scrub_dataframe(read_visits(spark, sys.argv[1]))
write_frames(frames, sys.argv[2], "jsonl")
seconds = time.perf_counter() - ready
visits = frames.results.count()
spark.stop()
print(json.dumps({"visits": visits, "seconds": seconds, "startup": ready - started}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out = HERE / "out"
    source = out / f"visits-{args.visits}-{args.seed}.jsonl"
    if not source.exists():
        generate(args.visits, source, args.seed)
    print(f"input: {args.visits:,} visits, {source.stat().st_size / 1e6:.1f} MB, {os.cpu_count()} cores")
    rows: list[tuple[str, dict[str, float]]] = []
    for workers in (1, 2):
        target = out / f"scrub-{workers}.jsonl"
        name = f"batch, {workers} worker{'s' if workers > 1 else ''}"
        rows.append((name, measure(SCRUB, str(source), str(target), str(workers))))
    expected = (out / "scrub-1.jsonl").read_bytes()
    for cores in (1, 2):
        target = out / f"spark-{cores}"
        shutil.rmtree(target, ignore_errors=True)
        rows.append((f"spark local[{cores}]", measure(SPARK, str(source), str(target), f"local[{cores}]")))
        written = b"".join(part.read_bytes() for part in sorted((target / "results").glob("part-*")))
        if written != expected:
            sys.exit(f"spark local[{cores}]: results differ from batch's")
    print(f"{'run':<24}{'visits/s':>12}{'x batch/1':>11}{'startup s':>11}")
    base = rows[0][1]["visits"] / rows[0][1]["seconds"]
    for name, figures in rows:
        rate = figures["visits"] / figures["seconds"]
        startup = f"{figures['startup']:.1f}" if "startup" in figures else "-"
        print(f"{name:<24}{rate:>12,.0f}{rate / base:>11.2f}{startup:>11}")


if __name__ == "__main__":
    main()
