"""A bounded memo for the engine's worked-out results (unit explanation texts, fee outcomes per line, diagnosis
verdicts per date, ...).

The caches are the engine's instance state, never module globals (reference data can change; an engine is
built from one Reference). Their keys come from input (dates, codes, minutes), so each is bounded: once it
holds its limit of entries it keeps them and stores no more (what is common shows up early; emptying a full
cache instead made it thrash when a night's distinct keys outnumber the limit, slower than no cache). A
cache that grew without bound made each batch worker hold about 400 MB on a million visits.

The limit is the engine's (``Memo(limit)``, ``Scrubber(cache_entries=...)``): the claim run keeps its caches
small (its memory is flat; on the 100k-visit benchmark 4,096 entries a cache lost no speed against 20,000,
bench/claim_bench.py), a plain dict keeps ``MEMO_ENTRIES``.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

# Entries per cache: enough for the working set of a night's visits (a few thousand distinct code sets,
# minutes and dates), small enough that the engine's caches stay in the tens of megabytes.
MEMO_ENTRIES = 20_000


class Memo(dict[K, V]):
    """An engine cache holding at most ``limit`` entries (a dict: look-ups cost what a dict's cost)."""

    def __init__(self, limit: int = MEMO_ENTRIES) -> None:
        super().__init__()
        self.limit = limit


def remember(cache: dict[K, V], key: K, value: V, limit: int | None = None) -> V:
    """Store ``value`` under ``key`` unless ``cache`` is full (``limit``, else its ``Memo`` limit, else
    ``MEMO_ENTRIES``); return ``value``."""
    if limit is None:
        limit = cache.limit if isinstance(cache, Memo) else MEMO_ENTRIES
    if len(cache) < limit:
        cache[key] = value
    return value
