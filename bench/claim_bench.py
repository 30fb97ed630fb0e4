"""`rehabclaim claim` end to end, before and after, side by side in one run: wall time, CPU and peak RSS of
the child process, and a digest of the 837P.

    python bench/generate.py 100000 bench/out/claims.jsonl --claims
    cp -r src /tmp/claim-before-src            # the code before the change (once)
    python bench/claim_bench.py bench/out/claims.jsonl --before /tmp/claim-before-src

Each side runs `python -m rehabclaim claim FILE --837 OUT --json` in a subprocess with PYTHONPATH set to its
source tree and a fresh SQLite ledger (REHABCLAIM_DATA_DIR: a new temporary folder). The digest masks the
interchange's date and time (ISA09/10, GS04/05, BHT04/05: the clock's), so equal digests mean equal files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLOCK = re.compile(rb"\*\d{6}\*\d{4}\*(?=\^\*00501)|\*\d{8}\*\d{4}\*(?=\d+\*X\*)|\*\d{8}\*\d{4}\*CH~")


def digest(path: Path) -> str:
    return hashlib.sha256(CLOCK.sub(b"*DATE*TIME*", path.read_bytes())).hexdigest()[:16]


def run(source: Path, visits: Path) -> dict[str, float | str]:
    folder = Path(tempfile.mkdtemp(prefix="claim-bench-"))
    out = folder / "claims.837"
    env = {**os.environ, "PYTHONPATH": str(source), "REHABCLAIM_DATA_DIR": str(folder / "data")}
    command = [sys.executable, "-m", "rehabclaim", "claim", str(visits), "--837", str(out), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # 1: some visits held back
        raise SystemExit(f"{source}: exit {done.returncode}: {done.stderr.decode()[-500:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    report = hashlib.sha256(done.stdout).hexdigest()[:16]
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: the sides run largest-last would hide it,
    # so each side runs in its own measuring child (see main)
    return {"wall": wall, "cpu": cpu, "rss_mb": after.ru_maxrss / 1024, "837": digest(out), "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("visits", type=Path)
    parser.add_argument("--before", type=Path, default=Path("/tmp/claim-before-src"))
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    parser.add_argument("--side", choices=["before", "after"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # a measuring child: one side, its figures on stdout
        print(json.dumps(run(args.before if args.side == "before" else args.after, args.visits)))
        return
    lines = sum(1 for _ in args.visits.open("rb"))
    print(f"`rehabclaim claim` on {lines:,} visits ({args.visits})")
    results = {}
    for side in ("before", "after"):
        child = [sys.executable, __file__, str(args.visits), "--before", str(args.before), "--after", str(args.after)]
        figures = subprocess.run([*child, "--side", side], stdout=subprocess.PIPE, check=True).stdout
        results[side] = json.loads(figures)
    print(f"{'':8}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}  {'837P digest':<18}{'--json digest'}")
    for side, r in results.items():
        print(f"{side:8}{r['wall']:9.2f}{r['cpu']:9.2f}{r['rss_mb']:13.1f}  {r['837']:<18}{r['report']}")
    b, a = results["before"], results["after"]
    same = "identical" if (b["837"], b["report"]) == (a["837"], a["report"]) else "DIFFERENT"
    print(f"speed-up (wall) {b['wall'] / a['wall']:.2f}x; peak RSS {b['rss_mb'] / a['rss_mb']:.1f}x smaller; {same}")


if __name__ == "__main__":
    main()
