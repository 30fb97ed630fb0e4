"""The engine's caches are bounded: a full cache keeps what it holds and stores no more."""

from __future__ import annotations

from rehabclaim.memo import MEMO_ENTRIES, remember


def test_a_full_cache_keeps_its_entries_and_stores_no_more() -> None:
    cache: dict[int, str] = {}
    for key in range(10):
        assert remember(cache, key, f"v{key}", limit=4) == f"v{key}"  # the value comes back either way
    assert cache == {0: "v0", 1: "v1", 2: "v2", 3: "v3"}


def test_the_default_bound_keeps_a_worker_small() -> None:
    # six caches of this many entries stay in the tens of megabytes (bench: 123 MB peak for 300k visits)
    assert 1_000 <= MEMO_ENTRIES <= 50_000
