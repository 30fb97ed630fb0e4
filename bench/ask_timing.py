"""Timing of ``rehabclaim ask``: the first build of the index, reading it back from the cache file (a new
process), and warm answers. Run: ``.venv/bin/python bench/ask_timing.py`` (a fresh temporary cache folder;
no network). The ranking quality benchmark over tests/fixtures/assistant/questions.jsonl is separate."""

from __future__ import annotations

import os
import statistics
import tempfile
import time

QUESTIONS = (
    "can I bill 97760 with an L-code?",
    "what does CQ mean",
    "units for 97110 33 min and 97140 7 min?",
    "is 97530 with 97140 ok for Medicare?",
    "fee for 97110 in 2026?",
    "KX threshold 2026",
    "when is a progress report due",
    "purple giraffe quantum banana",
)
WARM_ROUNDS = 20


def main() -> None:
    os.environ["REHABCLAIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="ask-bench-")
    from rehabclaim.assistant import index
    from rehabclaim.assistant.ask import ask
    from rehabclaim.reference import load_reference

    reference = load_reference()
    started = time.perf_counter()
    ask(reference, question=QUESTIONS[0])
    first = time.perf_counter() - started
    index._indexes.clear()  # as a new process would: the cache file is read back
    started = time.perf_counter()
    ask(reference, question=QUESTIONS[0])
    from_file = time.perf_counter() - started
    warm: list[float] = []
    for _ in range(WARM_ROUNDS):
        for question in QUESTIONS:
            started = time.perf_counter()
            ask(reference, question=question)
            warm.append(time.perf_counter() - started)
    docs = len(index.documents(reference))
    print(f"documents indexed: {docs}")
    print(f"first answer (index built): {first * 1000:.1f} ms")
    print(f"first answer in a new process (index read from the cache file): {from_file * 1000:.1f} ms")
    print(
        f"warm answers ({len(warm)}): median {statistics.median(warm) * 1000:.1f} ms, "
        f"p95 {sorted(warm)[int(len(warm) * 0.95)] * 1000:.1f} ms, max {max(warm) * 1000:.1f} ms"
    )
    assert max(warm) < 0.3, "a warm answer took 0.3 s or more"


if __name__ == "__main__":
    main()
