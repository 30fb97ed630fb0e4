"""835 read speed: our reader as it was (a copy of its source), as it is, and oxedi, side by side in one run.

    python bench/x12_speed.py [--claims 100000] [--rounds 5] [--before /tmp/remit-before-src/src]

The shared machine is noisy, so the three run in turns, each read in its own fresh process (peak memory is that
read's), ``--rounds`` times; best-of-N and median of each, wall and CPU time, and each version's ratio to oxedi
are printed. Then both versions of our reader read the file once more and the sha256 of their output is
compared, on the fields the earlier version has (later versions may add fields: they are named, never
counted as a difference): the speed work must lose nothing (issue 14: within 1.5x of oxedi).
``--before`` is a directory holding the ``rehabclaim`` package as it was, e.g. made with
``git archive <commit> src | tar -x -C /tmp/remit-before-src``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
SRC = HERE.parent / "src"

READ_OURS = """
import json, resource, sys, time
import rehabclaim
from rehabclaim.x12.remit835 import read_835
data = open(sys.argv[1], "rb").read()
wall, cpu = time.perf_counter(), time.process_time()
remittance = read_835(data)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"claims": len(remittance.claims), "wall": wall, "cpu": cpu, "where": rehabclaim.__file__,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

READ_OXEDI = """
import json, resource, sys, time
import oxedi
wall, cpu = time.perf_counter(), time.process_time()
claims = oxedi.parse_file(sys.argv[1]).count_claims()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"claims": claims, "wall": wall, "cpu": cpu, "where": oxedi.__file__,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

DIGEST = """
import hashlib, json, sys
import msgspec
from rehabclaim.x12.remit835 import read_835

def shape(node, path, into):  # every key path the output has
    if isinstance(node, dict):
        for key, value in node.items():
            into.add(path + "." + key)
            shape(value, path + "." + key, into)
    elif isinstance(node, list):
        for item in node:
            shape(item, path + "[]", into)
    return into

def pruned(node, path, keep):  # the output with only the key paths in keep
    if isinstance(node, dict):
        return {k: pruned(v, path + "." + k, keep) for k, v in node.items() if path + "." + k in keep}
    if isinstance(node, list):
        return [pruned(item, path + "[]", keep) for item in node]
    return node

output = msgspec.to_builtins(read_835(open(sys.argv[1], "rb").read()))
paths = shape(output, "", set())
keep = set(json.loads(open(sys.argv[2]).read())) if len(sys.argv) > 2 else paths
digest = hashlib.sha256(msgspec.json.encode(pruned(output, "", keep))).hexdigest()
print(json.dumps({"digest": digest, "paths": sorted(paths), "added": sorted(paths - keep)}))
"""


def run(code: str, path: Path, source: Path | None, *more: str) -> str:
    environment = dict(os.environ)
    if source is not None:  # ahead of the installed package
        environment["PYTHONPATH"] = str(source)
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), *more], capture_output=True, text=True, check=True, env=environment
    )
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path, default=Path("/tmp/remit-before-src/src"))
    args = parser.parse_args()
    remit = HERE / "out" / f"remit-{args.claims}.835"
    if not remit.exists():
        sys.path.insert(0, str(HERE))
        from x12_bench import remit_835_text

        remit.parent.mkdir(exist_ok=True)
        remit.write_text(remit_835_text(args.claims))
    contenders = {"ours before": (READ_OURS, args.before), "ours now": (READ_OURS, SRC), "oxedi": (READ_OXEDI, None)}
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, (code, source) in contenders.items():
            figures[name].append(json.loads(run(code, remit, source)))
    oxedi = figures["oxedi"]
    print(f"{remit.name}, {args.rounds} rounds, each read in a fresh process")
    header = ("best wall", "median", "x oxedi", "best cpu", "median", "x oxedi", "peak MB")
    print(f"{'reader':<12}" + "".join(f"{title:>10}" for title in header))
    for name, runs in figures.items():
        assert len({r["claims"] for r in runs}) == 1, f"{name}: the claim count changed between rounds"
        cells = []
        for clock in ("wall", "cpu"):
            times, reference = [r[clock] for r in runs], [r[clock] for r in oxedi]
            best, median = min(times), statistics.median(times)
            ratios = f"{best / min(reference):.2f}/{median / statistics.median(reference):.2f}"  # best/median
            cells += [f"{best:.3f}", f"{median:.3f}", ratios]
        cells.append(f"{max(r['peak_mb'] for r in runs):.0f}")
        print(f"{name:<12}" + "".join(f"{cell:>10}" for cell in cells) + f"  {runs[0]['claims']} claims")
    print(
        "x oxedi: best/best and median/median; sources: "
        + ", ".join(f"{n} {r[0]['where']}" for n, r in figures.items())
    )
    before = json.loads(run(DIGEST, remit, args.before))
    with tempfile.NamedTemporaryFile("w", suffix=".json") as paths:
        json.dump(before["paths"], paths)
        paths.flush()
        now = json.loads(run(DIGEST, remit, SRC, paths.name))
    same = before["digest"] == now["digest"]
    added = f"; fields added since: {', '.join(now['added'])}" if now["added"] else ""
    print(
        f"output sha256 on the earlier version's fields: before {before['digest'][:16]}, now {now['digest'][:16]}: "
        f"{'identical' if same else 'DIFFERENT'}{added}"
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
