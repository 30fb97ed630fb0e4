"""The engine's cache size is the engine's (``Scrubber(cache_entries=...)``): every cache stops at it, and
the results do not depend on it (a cache only remembers what it would work out again)."""

from __future__ import annotations

from collections.abc import Sized
from datetime import date, timedelta
from importlib import resources

import msgspec

from rehabclaim.memo import Memo, remember
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result
from rehabclaim.services.claims import CLAIM_CACHE_ENTRIES


def _visits() -> list[bytes]:
    examples = resources.files("rehabclaim.data").joinpath("examples")
    lines = []
    for name in ("visits.jsonl", "claims.jsonl"):
        lines += [line for line in examples.joinpath(name).read_bytes().splitlines() if line.strip()]
    return lines


def _caches(engine: Scrubber) -> dict[str, Sized]:
    return {
        "selected": engine._selected,
        "diagnosis days": engine._diagnosis_days,
        "money": engine._money,
        "rounded": engine._rounded,
        "unit texts": engine._unit_texts.parts,
        "unit tails": engine._unit_texts.tails,
        "outcomes": engine.fees._outcomes,
        "line_fees": engine.fees._line_fees,
        "fee_numbers": engine.fees._fee_numbers,
        **{f"line_fees on {day}": codes for day, codes in engine.fees._line_fees.items()},
        "diagnosis verdicts (every date's)": engine._verdicts,
    }


def test_a_memo_keeps_at_most_its_own_limit() -> None:
    cache: Memo[int, str] = Memo(3)
    for key in range(10):
        assert remember(cache, key, str(key)) == str(key)
    assert cache == {0: "0", 1: "1", 2: "2"}


def test_every_engine_cache_stops_at_the_engines_size_and_results_do_not_change() -> None:
    reference = load_reference()
    small, default = Scrubber(reference, cache_entries=1), Scrubber(reference)
    visits = _visits()
    assert len(visits) >= 10
    for raw in visits * 2:  # the second pass reads the caches
        visit = decode_visit(raw)
        for_small = encode_result(small.scrub(visit, for_claim=True))
        assert for_small == encode_result(default.scrub(visit, for_claim=True))
    sizes = {name: len(cache) for name, cache in _caches(small).items()}
    assert all(size <= 1 for size in sizes.values()), sizes
    assert sum(len(cache) for cache in _caches(default).values()) > len(sizes)  # the default kept more


def test_the_claim_runs_caches_are_small_but_hold_a_working_set() -> None:
    assert 1_000 <= CLAIM_CACHE_ENTRIES <= 10_000


def test_diagnosis_verdicts_are_bounded_over_all_dates_together() -> None:
    """Diagnosis codes come from input, as written: the verdicts of every date share the engine's one limit
    (a limit per date would let many dates times many codes grow past it)."""
    engine = Scrubber(load_reference(), cache_entries=40)
    visit = decode_visit(_visits()[0])
    for day in range(60):
        dated = msgspec.structs.replace(
            visit, date=date(2026, 1, 1) + timedelta(days=day), diagnoses=[f"Z{day:02d}{n}" for n in range(3)]
        )
        engine.scrub(dated)
    assert len(engine._diagnosis_days) == 40
    assert len(engine._verdicts) == 40  # not 40 a date
