"""The engine's caches (unit explanations, fee outcomes for every fee schedule) carry nothing
from one visit into another: a visit scrubbed by a warm engine, after hundreds of others, gives the same
bytes as by a fresh engine, and caches are filled and then hit."""

from __future__ import annotations

import json
import random
from datetime import date

from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.fuzzing import bench_module


def _visits(count: int) -> list[bytes]:
    generator = bench_module("generate")
    rng = random.Random(23)
    return [json.dumps(generator.visit(rng, n, date(2026, 1, 5))).encode() for n in range(1, count + 1)]


def test_a_warm_engine_gives_what_a_fresh_one_gives() -> None:
    reference = load_reference()
    warm = Scrubber(reference)
    visits = _visits(400)
    warm_results = [warm.scrub_json(raw) for raw in visits]
    for raw, got in list(zip(visits, warm_results, strict=True))[::20]:
        assert Scrubber(reference).scrub_json(raw) == got
    assert warm.scrub_json(visits[0]) == warm_results[0]  # replayed from the caches


def test_the_caches_are_used_and_hold_each_fee_schedule() -> None:
    warm = Scrubber(load_reference())
    timed_lines = 0
    for raw in _visits(400):
        warm.scrub_json(raw)
        timed_lines += sum(line.is_timed_therapy for line in warm.run_stages(decode_visit(raw)).lines)
    # a line's outcome key: a payer schedule's starts with its name, a Medicare one with the line's code
    first = {key[0] for key in warm.fees._outcomes}
    assert {"contracted", "percent-of-medicare"} <= first
    assert any(isinstance(head, str) and warm.catalog.get(head) is not None for head in first)
    assert 0 < len(warm._unit_texts.parts) < timed_lines  # shared by lines with the same code and minutes
    assert 0 < len(warm._unit_texts.tails) < 400  # shared by visits with the same timed total
