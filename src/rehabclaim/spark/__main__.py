"""Scrub a JSON Lines file of visits on Spark: ``python -m rehabclaim.spark INPUT OUTPUT [--format parquet|jsonl]``.

Also the driver file for ``spark-submit`` (which runs a Python file, not a module), with the wheel shipped to the
executors: ``spark-submit --py-files dist/rehabclaim-0.1.0-py3-none-any.whl src/rehabclaim/spark/__main__.py
INPUT OUTPUT`` (README, "Spark"). The master and the rest come from spark-submit or the Spark defaults.
Prints one JSON line of counts; a bad input, output or data file is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehabclaim.spark", description=__doc__.split("\n")[0])
    parser.add_argument("input", help="a JSON Lines file of visits (a path or a URI Spark reads)")
    parser.add_argument("output", help="a folder, not there yet: results/, lines/, findings/, errors/ go in it")
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    parser.add_argument("--practice", type=Path, help="a practice file (the demo practice when not given)")
    args = parser.parse_args(argv)

    from pyspark.errors import AnalysisException
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from rehabclaim.datafiles import DataFileError
    from rehabclaim.spark import read_visits, scrub_dataframe, write_frames

    running = SparkSession.getActiveSession()  # a caller's session (a notebook, a test): left running
    spark = running or SparkSession.builder.appName("rehabclaim scrub").getOrCreate()
    try:
        frames = scrub_dataframe(read_visits(spark, args.input), practice=args.practice)
        write_frames(frames, args.output, args.format)
        counts = frames.scrubbed.agg(
            F.count("result").alias("visits"),
            F.count_if(F.col("result.has_error")).alias("visits_with_errors"),
            F.count("error").alias("skipped"),
        ).first()
        assert counts is not None
        print(json.dumps({**counts.asDict(), "output": args.output, "format": args.format}))
        return 0
    except (DataFileError, AnalysisException) as exc:  # a bad practice or rules file; no such input; output exists
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    finally:
        if running is None:
            spark.stop()


if __name__ == "__main__":
    sys.exit(main())
