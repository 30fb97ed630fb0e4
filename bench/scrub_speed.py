"""CPU time per visit of the in-process scrub, beside the bare JSON round trip of the same visits, in one run.

    python bench/scrub_speed.py [--visits 20000] [--seed 7] [--before /tmp/before-src] [--repeat 3]

Every figure is CPU time (``time.process_time``) per visit over visits held in memory, each tree measured
in its own process: a bare ``json.loads`` + ``json.dumps`` of every visit, then ``Scrubber.scrub_json`` (the
batch path) of the tree in use and, with ``--before``, of another source tree (a copy of ``src/`` taken
before a change), so before and after come from one run. The best of ``--repeat`` passes counts. Each pass
scrubs visits the engine has not seen (pass k: seed + k), after a warm-up pass over yet others (seed - 1)
that fills the engine's caches as a long batch run has them: a cache only helps as far as new visits hit
it. Each scrub prints the sha256 of its result bytes for the first pass's visits: equal digests mean
byte-identical output. Then a per-stage breakdown of the tree in use from cProfile
(cumulative time per visit; the profiler inflates every figure, so read the shares). Target (issue 14):
scrub at most 0.5x the before figure, within 3.5x of the bare round trip.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from generate import visit  # noqa: E402

# (label, function name as cProfile lists it, file name ending): the engine's stages, as far as the tree has them
STAGES = [
    ("decode_visit", "decode_visit", "scrubber.py"),
    ("build_lines", "build_lines", "lines.py"),
    ("units (assign_units)", "assign_units", "assign.py"),
    ("context (ScrubContext)", "__post_init__", "context.py"),
    ("rules, all stages (_run)", "_run", "scrubber.py"),
    ("fees (estimate)", "estimate", "estimate.py"),
    ("output lines (_output_lines)", "_output_lines", "scrubber.py"),
    ("encode_result", "encode_result", "scrubber.py"),
    ("scrub (everything but decode/encode)", "scrub", "scrubber.py"),
]


def visits_json(count: int, seed: int) -> list[bytes]:
    """The visits bench/generate.py writes for ``seed``, one JSON document each."""
    rng, start = random.Random(seed), date(2026, 4, 1)
    return [json.dumps(visit(rng, n, start), separators=(",", ":")).encode() for n in range(1, count + 1)]


def _best_pass(passes: list[list[bytes]], run: object) -> float:
    """The least CPU time per visit of one pass over each list of visits."""
    best = float("inf")
    for work in passes:
        started = time.process_time()
        for raw in work:
            run(raw)  # type: ignore[operator]
        best = min(best, (time.process_time() - started) / len(work))
    return best * 1e6


def measure_bare(warm_up: list[bytes], passes: list[list[bytes]]) -> dict[str, object]:
    def round_trip(raw: bytes) -> str:
        return json.dumps(json.loads(raw))

    _best_pass([warm_up[:2000]], round_trip)
    return {"us": _best_pass(passes, round_trip)}


def measure_scrub(warm_up: list[bytes], passes: list[list[bytes]], profile: bool) -> dict[str, object]:
    from rehabclaim.diagnoses import diagnosis_index
    from rehabclaim.scrubber import Scrubber

    diagnosis_index()  # the cached ICD-10-CM index, as every CLI call and worker loads it
    engine = Scrubber()
    for raw in warm_up:
        engine.scrub_json(raw)
    figures: dict[str, object] = {"us": _best_pass(passes, engine.scrub_json)}
    digest = hashlib.sha256()
    for raw in passes[0]:
        digest.update(engine.scrub_json(raw) + b"\n")
    figures["digest"] = digest.hexdigest()
    # scripts/compile's extensions: cProfile does not see inside compiled functions
    figures["compiled"] = not sys.modules[Scrubber.__module__].__file__.endswith(".py")  # type: ignore[union-attr]
    if profile:
        figures["stages"] = _stage_breakdown(engine, passes[0])
    return figures


def _stage_breakdown(engine: object, work: list[bytes]) -> list[tuple[str, float]]:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for raw in work:
        engine.scrub_json(raw)  # type: ignore[attr-defined]
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        for label, function, ending in STAGES:
            if name == function and filename.endswith(ending):
                found[label] = found.get(label, 0.0) + cumulative
    return [(label, found[label] / len(work) * 1e6) for label, _, _ in STAGES if label in found]


def _child(kind: str, source: str | None, args: argparse.Namespace) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", kind, "--visits", str(args.visits), "--seed", str(args.seed)]
    command += ["--repeat", str(args.repeat)]
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = source + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", help="a copy of src/ from before a change, measured beside the tree in use")
    parser.add_argument("--child", choices=["bare", "scrub", "scrub-profile"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        warm_up = visits_json(args.visits, args.seed - 1)
        passes = [visits_json(args.visits, args.seed + k) for k in range(args.repeat)]
        if args.child == "bare":
            print(json.dumps(measure_bare(warm_up, passes)))
        else:
            print(json.dumps(measure_scrub(warm_up, passes, args.child == "scrub-profile")))
        return
    print(
        f"{args.visits:,} visits a pass (bench/generate.py, seeds {args.seed}..{args.seed + args.repeat - 1}, after a "
        f"warm-up pass of seed {args.seed - 1}), CPU us/visit, best of {args.repeat} passes"
    )
    bare = float(_child("bare", None, args)["us"])  # type: ignore[arg-type]
    rows: list[tuple[str, dict[str, object]]] = []
    if args.before:
        rows.append((f"scrub_json, before ({args.before})", _child("scrub", args.before, args)))
    rows.append(("scrub_json, this tree", _child("scrub-profile", None, args)))
    print(f"{'bare json.loads+json.dumps':<48}{bare:>8.1f} us{1:>8.2f}x bare")
    for name, figures in rows:
        us = float(figures["us"])  # type: ignore[arg-type]
        print(f"{name:<48}{us:>8.1f} us{us / bare:>8.2f}x bare   sha256 {str(figures['digest'])[:16]}")
    if args.before:
        before, after = (float(figures["us"]) for _, figures in rows)  # type: ignore[arg-type]
        same = rows[0][1]["digest"] == rows[1][1]["digest"]
        print(f"after / before: {after / before:.2f}x; output {'byte-identical' if same else 'DIFFERS'}")
    for name, figures in rows:
        if figures.get("compiled"):
            print(f"{name}: compiled (scripts/compile)")
    if rows[-1][1].get("compiled"):
        print("stages of this tree: not shown, cProfile does not see inside compiled functions (REHABCLAIM_COMPILE=0)")
        return
    print("stages of this tree (cProfile cumulative, us/visit, inflated by the profiler):")
    for label, us in rows[-1][1]["stages"]:  # type: ignore[attr-defined]
        print(f"  {label:<46}{us:>8.1f}")


if __name__ == "__main__":
    main()
