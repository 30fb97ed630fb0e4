"""The assistant stage: CQ or CO on the units an assistant furnished (rule M002 reports it)."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine


def assistant_share(line: WorkLine, de_minimis_percent: int, unit_minutes: int) -> int:
    """How many of the line's units carry CQ/CO.

    Untimed service: all or nothing, by the assistant's share of the whole service. Timed service, per
    unit: whole 15-minute blocks go to whoever furnished them; a remaining unit goes to the assistant only
    when the assistant furnished more of its minutes than the therapist and more than the de minimis share
    of a unit; when two units remain (each furnished 9-14 minutes) one of them carries the modifier.
    """
    minutes = line.counted_minutes
    assistant = min(line.assistant_minutes, minutes)
    if not line.code.timed:
        return line.units if assistant * 100 > de_minimis_percent * minutes else 0
    therapist = minutes - assistant
    assistant_blocks, therapist_blocks = assistant // unit_minutes, therapist // unit_minutes
    remaining = line.units - assistant_blocks - therapist_blocks
    assistant_left, therapist_left = assistant % unit_minutes, therapist % unit_minutes
    above_de_minimis = assistant_left * 100 > de_minimis_percent * unit_minutes
    if (remaining >= 2 and above_de_minimis) or (
        remaining == 1 and above_de_minimis and assistant_left > therapist_left
    ):
        extra = 1
    else:
        extra = 0
    return min(line.units, assistant_blocks + extra)


def add_assistant_modifiers(ctx: ScrubContext) -> None:
    """Put the discipline's assistant modifier on the units an assistant furnished, for payers that require
    it from the date it is required; each such line keeps why (``assistant_reason``, also in its notes)."""
    modifier = ctx.catalog.assistant_modifier(ctx.visit.discipline)
    if modifier is None or not ctx.payer.modifiers.assistant:
        return
    if ctx.visit.date < ctx.thresholds.assistant_required_from:
        return
    whole_visit = ctx.visit.rendered_by == "assistant"
    for line in ctx.lines:
        if not line.code.therapy or line.units == 0 or line.code.evaluation is not None:
            continue  # an evaluation is the therapist's or an error (E001), never a reduced-rate CQ/CO line
        if whole_visit:
            line.assistant_minutes = line.counted_minutes
            line.assistant_units = line.units
        elif line.assistant_minutes:
            line.assistant_units = assistant_share(
                line, ctx.thresholds.assistant_de_minimis_percent, ctx.thresholds.unit_minutes
            )
        if line.assistant_units:
            line.assistant_modifier = modifier
            who = (
                "the assistant furnished the whole visit"
                if whole_visit
                else (f"assistant furnished {line.assistant_minutes} of {line.counted_minutes} min independently")
            )
            reason = f"{modifier} on {line.assistant_units} of {line.units} unit(s): {who}"
            line.assistant_reason = reason
            line.notes.append(reason)
