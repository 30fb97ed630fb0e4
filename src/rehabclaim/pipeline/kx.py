"""The KX stage (Medicare therapy threshold): after the fee estimate, KX on the therapy lines above the year's
KX threshold (rule K001 reports what it decided; K002 reads the same crossing for the review threshold).

Once the year's allowed amount before the visit is at or past a threshold, every therapy line of the visit is
above it, whatever the line's price; below it, the visit's lines cross it by their estimates, and a line
without an estimate cannot be decided (K001 names it with the reason instead of silently leaving it without
KX).
"""

from __future__ import annotations

from decimal import Decimal

from rehabclaim.context import ScrubContext
from rehabclaim.history import BENEFIT_OF, Sourced
from rehabclaim.lines import WorkLine
from rehabclaim.pipeline.decisions import Crossing, KxDecision

KX = "KX"
ZERO = Decimal(0)


def cross(before: Decimal, threshold: Decimal, lines: list[WorkLine]) -> Crossing:
    """Which lines are above ``threshold``, given the year's allowed amount ``before`` the visit. A line is
    above it when the amount before the line is at or past it (whatever the line costs) or when its estimate
    takes the amount past it; a line without an estimate below it cannot be decided, nor can the priced
    lines after it that only its price would take past it."""
    past: list[WorkLine] = []
    undecided: list[WorkLine] = []
    unpriced: list[WorkLine] = []
    running, room = before, ZERO
    for line in lines:
        amounts = line.unit_amounts
        if amounts is None:
            if running >= threshold:
                past.append(line)
                continue
            if not unpriced:
                room = threshold - running
            unpriced.append(line)
            undecided.append(line)
            continue
        after = running + sum(amounts, ZERO)
        if after > threshold or running >= threshold:
            past.append(line)
        elif unpriced:  # priced, but past the threshold only if the unpriced lines before it cost enough
            undecided.append(line)
        running = after
    return Crossing(past, undecided, unpriced, room, running)


def year_to_date(ctx: ScrubContext) -> tuple[Sourced[Decimal], list[WorkLine]] | None:
    """The allowed amount before the visit with its source, and the visit's billed therapy lines; None when
    the payer takes no KX, the amount is unknown or nothing on the visit is therapy."""
    if not ctx.payer.modifiers.kx:
        return None
    found = ctx.history.allowed_ytd(ctx.visit, BENEFIT_OF[ctx.visit.discipline])
    if found is None:
        return None
    lines = [line for line in ctx.lines if line.code.therapy and line.units > 0]
    return (found, lines) if lines else None


def add_kx(ctx: ScrubContext) -> None:
    """Put KX on the billed therapy lines above the year's KX threshold (not on a line carrying a liability
    modifier: GA, an ABN, says the service is not necessary and KX that it is); the decision is kept in
    ``ctx.kx``."""
    known = year_to_date(ctx)
    if known is None:
        return
    found, lines = known
    threshold = ctx.medicare.kx_threshold_for(ctx.visit.date.year)
    if threshold is None:
        ctx.kx = KxDecision(found, lines, None, None, [], [])
        return
    crossing = cross(found.value, threshold.amount, lines)
    marked: list[WorkLine] = []
    left: list[WorkLine] = []
    if crossing.past:
        liability = ctx.catalog.modifiers_by_role.get("liability", frozenset())
        for line in crossing.past:
            if not liability.isdisjoint(line.input_modifiers):
                left.append(line)
                continue
            if KX not in line.added_modifiers and KX not in line.input_modifiers:
                line.added_modifiers.append(KX)
            marked.append(line)
    ctx.kx = KxDecision(found, lines, threshold.amount, crossing, marked, left)
