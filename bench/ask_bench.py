"""How often ``rehabclaim ask`` cites the expected source first, on the tuning set and the held-back set.

    python bench/ask_bench.py [--show-holdout-misses]

Two sets of tests/fixtures/assistant/: ``questions.jsonl`` (the 42 questions ranking may be tuned on) and
``questions-holdout.jsonl`` (20 questions written before the ranking was changed; not to be tuned on). For
each: the share of questions whose first hit is an expected citation, the share with one in the top 3, the
concrete cases computed right, and warm timings. Misses are listed for the tuning set only, unless asked:
the holdout's stay hidden so nobody tunes on them. Scoring reuses bench/assistant_bench.py (``cites``,
``load_jsonl``, the computed-units/rules readers) so both benchmarks count a hit the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from assistant_bench import SET_DIR, _computed_rules, _computed_units, cites, load_jsonl

SETS = (("tuning", "questions.jsonl"), ("holdout", "questions-holdout.jsonl"))


@dataclass
class Figures:
    questions: int = 0
    first: int = 0
    top3: int = 0
    cases: int = 0
    cases_right: int = 0
    seconds: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def score(ask: Any, reference: Any, questions: list[dict[str, Any]]) -> Figures:
    """Ask every question (after one warm-up, so timings are warm) and count the citations and cases."""
    ask(reference, question=questions[0]["question"])
    figures = Figures(questions=len(questions))
    for question in questions:
        expect = question["expect"]
        started = time.perf_counter()
        answer = ask(reference, question=question["question"])
        figures.seconds.append(time.perf_counter() - started)
        ids = [hit.id for hit in answer.hits]
        ranked = [any(cites(hit, cite) for cite in expect["cite"]) for hit in ids]
        figures.first += bool(ranked[:1] and ranked[0])
        figures.top3 += any(ranked[:3])
        if not (ranked[:1] and ranked[0]):
            figures.misses.append(f"  {question['id']}: want {expect['cite']} got {[i[:40] for i in ids[:3]]}")
        for kind, got in (("units", _computed_units(answer)), ("rules", _computed_rules(answer))):
            if kind in expect:
                figures.cases += 1
                right = got == expect[kind] if kind == "units" else set(expect[kind]) <= set(got)
                figures.cases_right += right
                if not right:
                    figures.misses.append(f"  {question['id']}: {kind} want {expect[kind]} got {got}")
    return figures


def line(name: str, figures: Figures) -> str:
    n = figures.questions
    median = 1000 * statistics.median(figures.seconds)
    return (
        f"{name:<8} n={n:<3} first {figures.first:>2}/{n} ({figures.first / n:.3f})  "
        f"top 3 {figures.top3:>2}/{n} ({figures.top3 / n:.3f})  "
        f"cases {figures.cases_right}/{figures.cases}  median {median:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show-holdout-misses", action="store_true", help="also list the holdout's misses")
    args = parser.parse_args()
    from rehabclaim.assistant.ask import ask
    from rehabclaim.reference import load_reference

    reference = load_reference()
    results = {name: score(ask, reference, load_jsonl(SET_DIR / file)) for name, file in SETS}
    for name, figures in results.items():
        print(line(name, figures))
    for name, figures in results.items():
        if name == "tuning" or args.show_holdout_misses:
            print(f"{name} misses (not first):")
            print("\n".join(figures.misses) or "  none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
