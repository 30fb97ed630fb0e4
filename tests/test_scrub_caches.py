"""The engine's caches (unit plans, fee outcomes for every fee schedule, PTP edits in force) carry nothing
from one visit into another: a visit scrubbed by a warm engine, after hundreds of others, gives the same
bytes as by a fresh engine, and caches are filled and then hit."""

from __future__ import annotations

import json
import random
from datetime import date

from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber
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
    for raw in _visits(400):
        warm.scrub_json(raw)
    schedules = {key[0] for key in warm.fees._outcomes}
    assert {"medicare", "contracted", "percent-of-medicare"} <= schedules
    assert 0 < len(warm._plans) < 400  # shared by visits with the same timed minutes
    assert warm._ptp_found
