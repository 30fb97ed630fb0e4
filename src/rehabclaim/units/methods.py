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

CMS = "cms"
PER_CODE = "per-code"
METHODS = (CMS, PER_CODE)
# the citations the explanations print (data/citations.toml)
CMS_CITATION = cited("cms-total-time")
PER_CODE_CITATION = cited("per-code")


@dataclass(slots=True)
class UnitPlan:
    """Units per timed code with the reasoning for each."""

    method: str
    total_minutes: int
    total_units: int
    units: dict[str, int] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)


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


def cms_total_time(minutes_by_code: Sequence[tuple[str, int]]) -> UnitPlan:
    """Allocate units by the CMS total-time method. ``minutes_by_code`` holds each timed code once."""
    unit, _ = _unit_table()
    total = sum(m for _, m in minutes_by_code)
    plan = UnitPlan(CMS, total, units_for_minutes(total))
    owed = plan.total_units - sum(m // unit for _, m in minutes_by_code)
    winners: set[str] = set()
    tie_leftover = -1
    if owed:
        # Most leftover minutes first; ties: more total minutes, then the lower code (order-independent).
        ranked = sorted(minutes_by_code, key=lambda cm: (-(cm[1] % unit), -cm[1], cm[0]))
        winners = {code for code, _ in ranked[:owed]}
        if owed < len(ranked) and ranked[owed][1] % unit == ranked[owed - 1][1] % unit:
            tie_leftover = ranked[owed][1] % unit
    tail = (
        f". Visit total {plan.total_minutes} timed min = {plan.total_units} units "
        f"(CMS total-time method, {CMS_CITATION})"
    )
    for code, minutes in minutes_by_code:
        blocks, leftover = divmod(minutes, unit)
        extra = code in winners
        plan.units[code] = blocks + extra
        plan.why[code] = _cms_why(code, minutes, unit, blocks, leftover, extra, leftover == tie_leftover) + tail
    return plan


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


def per_code(minutes_by_code: Sequence[tuple[str, int]]) -> UnitPlan:
    """Convert each code's minutes on its own (8+ minutes earns a unit)."""
    plan = UnitPlan(PER_CODE, sum(m for _, m in minutes_by_code), 0)
    for code, minutes in minutes_by_code:
        units = units_for_minutes(minutes)
        plan.units[code] = units
        plan.total_units += units
        plan.why[code] = (
            f"{code}: {minutes} min = {units} unit{'' if units == 1 else 's'} "
            f"(per-code method: each code's own minutes, 8+ min per unit; {PER_CODE_CITATION})"
        )
    return plan


def allocate_units(method: str, minutes_by_code: Sequence[tuple[str, int]]) -> UnitPlan:
    if method == CMS:
        return cms_total_time(minutes_by_code)
    if method == PER_CODE:
        return per_code(minutes_by_code)
    raise ValueError(f"unknown unit method {method!r}; expected one of {', '.join(METHODS)}")
