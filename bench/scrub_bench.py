"""Batch scrub throughput against a bare JSON round trip, and peak memory.

    python bench/scrub_bench.py [--visits 200000] [--seed 7]

Each measurement runs in its own process on the same generated file: a bare ``json.loads`` +
``json.dumps`` of every line (read and written like the batch does), then ``rehabclaim batch`` with 1 and
2 workers. Prints visits/s, the ratio to the bare round trip, and peak resident memory (the main process
and the largest worker). Targets (issue #3): 20,000 visits/s per core, within 4x of the bare round trip,
under 500 MB for 1,000,000 visits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

BARE = """
import json, resource, sys, time
started = time.perf_counter()
count = 0
with open(sys.argv[1], "rb") as source, open(sys.argv[2], "w") as out:
    for raw in source:
        out.write(json.dumps(json.loads(raw)) + "\\n")
        count += 1
seconds = time.perf_counter() - started
print(json.dumps({"visits": count, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "worker_peak_mb": 0}))
"""

SCRUB = """
import json, resource, sys
from pathlib import Path
from rehabclaim.diagnoses import diagnosis_index
diagnosis_index()  # the cached ICD-10-CM index, as every CLI call and worker loads it
from rehabclaim.batch import run_batch
summary = run_batch(Path(sys.argv[1]), Path(sys.argv[2]), workers=int(sys.argv[3]))
print(json.dumps({"visits": summary.visits, "seconds": summary.seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measure(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out = HERE / "out"
    source = out / f"visits-{args.visits}-{args.seed}.jsonl"
    if not source.exists():
        generate(args.visits, source, args.seed)
    size_mb = source.stat().st_size / 1e6
    print(f"input: {args.visits:,} visits, {size_mb:.1f} MB, {os.cpu_count()} cores")
    bare = measure(BARE, str(source), str(out / "bare.jsonl"))
    rows = [("bare json.loads+json.dumps", bare)]
    for workers in (1, 2):
        rows.append(
            (
                f"scrub, {workers} worker{'s' if workers > 1 else ''}",
                measure(SCRUB, str(source), str(out / f"scrub-{workers}.jsonl"), str(workers)),
            )
        )
    bare_rate = bare["visits"] / bare["seconds"]
    print(f"{'run':<30}{'visits/s':>12}{'x bare':>9}{'main MB':>10}{'worker MB':>11}")
    for name, figures in rows:
        rate = figures["visits"] / figures["seconds"]
        print(
            f"{name:<30}{rate:>12,.0f}{bare_rate / rate:>9.2f}{figures['peak_mb']:>10.0f}"
            f"{figures['worker_peak_mb']:>11.0f}"
        )


if __name__ == "__main__":
    main()
