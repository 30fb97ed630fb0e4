"""Turning timed minutes into units.

CMS total-time method (Medicare Claims Processing Manual, Pub. 100-04, ch. 5, s. 20.2; reference
``units.md`` s. 1-4). The total timed minutes of the visit decide the total units
(``(total + 7) // 15``). Each code first gets its whole 15-minute blocks; the units still owed go one each
to the codes with the most minutes left over. The manual lets either code take a unit when leftovers tie
(its examples 2 and 5); we break ties by more total minutes on the code, then by the lower code, so the
result never depends on the order services were written, and the explanation says a tie was broken.

Per-code method (many commercial payers; ``units.md`` s. 6): each code's minutes are converted on their
own with the same table (8-22 minutes = 1 unit, 23-37 = 2, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from rehabclaim.citations import cited
from rehabclaim.datafiles import load_toml
from rehabclaim.memo import MEMO_ENTRIES, Memo, remember

CMS = "cms"
PER_CODE = "per-code"
METHODS = (CMS, PER_CODE)
# the citations the explanations print (data/citations.toml)
CMS_CITATION = cited("cms-total-time")
PER_CODE_CITATION = cited("per-code")


# init=False and a written __init__: the one dataclasses generates runs as interpreted Python even where mypyc
# compiles this module (scripts/compile); one plan a visit
@dataclass(slots=True, init=False)
class UnitPlan:
    """Units per timed code with the reasoning for each."""

    method: str
    total_minutes: int
    total_units: int
    units: dict[str, int] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        method: str,
        total_minutes: int,
        total_units: int,
        units: dict[str, int] | None = None,
        why: dict[str, str] | None = None,
    ) -> None:
        self.method = method
        self.total_minutes = total_minutes
        self.total_units = total_units
        self.units = {} if units is None else units
        self.why = {} if why is None else why


# what a code's explanation says besides its code and minutes (the key of UnitTexts.parts): CMS, bit 1 a unit
# for leftover minutes, bit 2 a broken tie; or the per-code method
_EXTRA, _TIE, _PER_CODE_PART = 1, 2, 4


class UnitTexts:
    """Explanations already written, kept by a caller across visits (a Scrubber's state; bounded,
    ``rehabclaim.memo``): a code's part by (code, minutes, what it says) and the CMS visit total's by total
    minutes. A visit's timed minutes seldom repeat as a whole; a code's minutes and a visit's total do."""

    __slots__ = ("parts", "tails")

    def __init__(self, limit: int = MEMO_ENTRIES) -> None:
        self.parts: dict[tuple[str, int, int], str] = Memo(limit)
        self.tails: dict[int, str] = Memo(limit)


# Cached: two figures of thresholds.toml, package data that cannot change while the process runs; the unit
# functions are called per line without a Reference at hand.
@cache
def _unit_table() -> tuple[int, int]:
    table = load_toml("thresholds.toml")["units"]
    return int(table["unit_minutes"]), int(table["min_minutes_for_unit"])


def units_for_minutes(minutes: int) -> int:
    """The time-to-units table (units.md s. 1): 0-7 -> 0, 8-22 -> 1, 23-37 -> 2, ..."""
    unit, least = _unit_table()
    return (minutes + unit - least) // unit


def units_past_midpoint(minutes: int, unit: int) -> int:
    """Units of ``unit`` minutes each, a unit counting once more than half of it has passed (CPT's time
    convention, units.md s. 6): for 15-minute units 0-7 -> 0, 8-22 -> 1, 23-37 -> 2, ..."""
    return (minutes + unit - (unit // 2 + 1)) // unit


def cms_total_time(minutes_by_code: Sequence[tuple[str, int]], texts: UnitTexts | None = None) -> UnitPlan:
    """Allocate units by the CMS total-time method. ``minutes_by_code`` holds each timed code once; ``texts``
    keeps the explanations written (a caller's cache)."""
    unit, _ = _unit_table()
    total = blocks = 0
    for _, minutes in minutes_by_code:
        total += minutes
        blocks += minutes // unit
    plan = UnitPlan(CMS, total, units_for_minutes(total))
    winners, tie_leftover = _leftover_winners(minutes_by_code, plan.total_units - blocks, unit)
    tail = _cms_tail(total, plan.total_units, texts)
    for code, minutes in minutes_by_code:
        extra = code in winners
        plan.units[code] = minutes // unit + extra
        how = (_EXTRA if extra else 0) | (_TIE if minutes % unit == tie_leftover else 0)
        plan.why[code] = _cms_part(code, minutes, unit, how, texts) + tail
    return plan


def _leftover_winners(minutes_by_code: Sequence[tuple[str, int]], owed: int, unit: int) -> tuple[set[str], int]:
    """The codes that get the ``owed`` units, and the leftover minutes of a tie broken at the last of them
    (-1: none). Most leftover minutes first; ties: more total minutes, then the lower code (order-independent;
    each code once, so no two ranks are equal)."""
    if not owed:
        return set(), -1
    ranked = sorted([(-(minutes % unit), -minutes, code) for code, minutes in minutes_by_code])
    winners = {code for _, _, code in ranked[:owed]}
    if owed < len(ranked) and ranked[owed][0] == ranked[owed - 1][0]:
        return winners, -ranked[owed][0]
    return winners, -1


def _cms_tail(total: int, units: int, texts: UnitTexts | None) -> str:
    """What every code's CMS explanation ends with: the visit total (``units`` follow from ``total``)."""
    found = None if texts is None else texts.tails.get(total)
    if found is None:
        found = f". Visit total {total} timed min = {units} units (CMS total-time method, {CMS_CITATION})"
        if texts is not None:
            remember(texts.tails, total, found)
    return found


def _cms_part(code: str, minutes: int, unit: int, how: int, texts: UnitTexts | None) -> str:
    key = (code, minutes, how)
    found = None if texts is None else texts.parts.get(key)
    if found is None:
        blocks, leftover = divmod(minutes, unit)
        found = _cms_why(code, minutes, unit, blocks, leftover, bool(how & _EXTRA), bool(how & _TIE))
        if texts is not None:
            remember(texts.parts, key, found)
    return found


def _cms_why(code: str, minutes: int, unit: int, blocks: int, leftover: int, extra: bool, tie: bool) -> str:
    """How one code's units came about; the caller adds the visit total."""
    parts = [f"{code}: {minutes} min"]
    if blocks:
        parts.append(f"{blocks} whole {unit}-min unit{'s' if blocks > 1 else ''}")
    if extra:
        parts.append(f"+1 unit for the {leftover} leftover min (among the largest leftovers)")
    elif leftover:
        parts.append(f"{leftover} leftover min earned no further unit")
    if tie:
        parts.append("tie on leftover minutes broken by more total minutes, then lower code")
    return "; ".join(parts)


def per_code(minutes_by_code: Sequence[tuple[str, int]], texts: UnitTexts | None = None) -> UnitPlan:
    """Convert each code's minutes on its own (8+ minutes earns a unit); ``texts`` keeps the explanations
    written (a caller's cache)."""
    plan = UnitPlan(PER_CODE, 0, 0)
    for code, minutes in minutes_by_code:
        units = units_for_minutes(minutes)
        plan.units[code] = units
        plan.total_minutes += minutes
        plan.total_units += units
        plan.why[code] = _per_code_why(code, minutes, units, texts)
    return plan


def _per_code_why(code: str, minutes: int, units: int, texts: UnitTexts | None) -> str:
    key = (code, minutes, _PER_CODE_PART)
    found = None if texts is None else texts.parts.get(key)
    if found is None:
        found = (
            f"{code}: {minutes} min = {units} unit{'' if units == 1 else 's'} "
            f"(per-code method: each code's own minutes, 8+ min per unit; {PER_CODE_CITATION})"
        )
        if texts is not None:
            remember(texts.parts, key, found)
    return found


def allocate_units(method: str, minutes_by_code: Sequence[tuple[str, int]], texts: UnitTexts | None = None) -> UnitPlan:
    if method == CMS:
        return cms_total_time(minutes_by_code, texts)
    if method == PER_CODE:
        return per_code(minutes_by_code, texts)
    raise ValueError(f"unknown unit method {method!r}; expected one of {', '.join(METHODS)}")
