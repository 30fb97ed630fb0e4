"""What the `batch` parent process costs per visit, throughput by workers, peak memory, and an output digest.

    python bench/batch_parent.py [--visits 100000] [--seed 7] [--workers 1 2]

The seeded visits file (``bench/generate.py``) is generated once into ``--folder`` (``/tmp`` by default:
the 1,000,000-visit file takes a while). Each worker count runs in a fresh process, which loads the
reference data first and then times ``run_batch`` alone. Printed per run:

- parent CPU us/visit: ``os.times()`` user + system of that process itself, not its workers (issue #14
  target: 3 us or less with 2 workers or more, so throughput keeps growing with workers); with 1 worker
  the parent does all the scrubbing itself;
- workers CPU us/visit (``os.times()`` children) and wall visits/s;
- peak RSS: the parent (``RUSAGE_SELF``), the largest worker (``RUSAGE_CHILDREN``), and their total bound
  (parent + workers x the largest; shared copy-on-write pages are counted in each, so the true total is
  lower). Target: under 500 MB for 1,000,000 visits;
- the SHA-256 of the output file: the same for every worker count, and before and after a change.
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

RUN = """
import hashlib, json, os, resource, sys, time
from pathlib import Path
from rehabclaim.batch import run_batch
from rehabclaim.diagnoses import diagnosis_index
from rehabclaim.reference import load_reference
diagnosis_index()  # the cached ICD-10-CM index, as every CLI call loads it before a batch
reference = load_reference(None)
source, target, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
before, started = os.times(), time.perf_counter()
summary = run_batch(source, target, workers=workers, reference=reference)
seconds, after = time.perf_counter() - started, os.times()
digest = hashlib.sha256()
with target.open("rb") as out:
    while block := out.read(1 << 20):
        digest.update(block)
print(json.dumps({
    "visits": summary.visits, "skipped": len(summary.skipped), "seconds": seconds,
    "parent_cpu": (after.user + after.system) - (before.user + before.system),
    "workers_cpu": (after.children_user + after.children_system) - (before.children_user + before.children_system),
    "parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "digest": digest.hexdigest(),
}))
"""


def measure(source: Path, target: Path, workers: int) -> dict[str, float | str]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(source), str(target), str(workers)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/rehabclaim-bench"))
    args = parser.parse_args()
    source = args.folder / f"visits-{args.visits}-{args.seed}.jsonl"
    if not source.exists():
        generate(args.visits, source, args.seed)
    print(f"input: {args.visits:,} visits, {source.stat().st_size / 1e6:.1f} MB, {os.cpu_count()} cores")
    header = f"{'workers':>7}{'visits/s':>10}{'parent us/v':>13}{'workers us/v':>14}"
    print(f"{header}{'parent MB':>11}{'worker MB':>11}{'total MB<=':>12}  sha256")
    for workers in args.workers:
        target = args.folder / f"out-{args.visits}-{args.seed}-{workers}.jsonl"
        run = measure(source, target, workers)
        target.unlink()
        visits, parent_mb, worker_mb = float(run["visits"]), float(run["parent_mb"]), float(run["worker_mb"])
        print(
            f"{workers:>7}{visits / float(run['seconds']):>10,.0f}"
            f"{1e6 * float(run['parent_cpu']) / visits:>13.2f}{1e6 * float(run['workers_cpu']) / visits:>14.2f}"
            f"{parent_mb:>11.0f}{worker_mb:>11.0f}{parent_mb + workers * worker_mb:>12.0f}  {str(run['digest'])[:16]}"
        )


if __name__ == "__main__":
    main()
