"""Modifier rules: discipline (GP/GO/GN) and assistant (CQ/CO) modifiers."""

from __future__ import annotations

from collections.abc import Iterator

from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine
from rehabclaim.rules.base import Hit, rule


@rule(
    "M001",
    "discipline-modifier",
    "error",
    "Every therapy line carries the discipline modifier of the visit's plan of care",
    stage="modifiers",
)
def discipline_modifier(ctx: ScrubContext) -> Iterator[Hit]:
    """Adds GP, GO or GN to every therapy line from the visit's discipline (for payers whose policy
    requires discipline modifiers), and reports a line that carries another discipline's modifier.

    Why: Medicare identifies outpatient therapy by these modifiers; a line without one, or with the wrong
    one, is returned or paid under the wrong therapy benefit.

    Example: a PT visit bills 97110 with GO supplied by the caller -> error; the engine adds GP.

    Fix: bill the service under the plan of care it was furnished in (remove the other modifier, or move
    the service to a visit of that discipline).

    Source: Pub. 100-04 ch. 5 s. 20.1 "Discipline Specific Outpatient Rehabilitation Modifiers - All
    Claims"; Noridian JE, Per-Beneficiary KX Modifier Thresholds (reference modifiers.md s. 1).
    """
    wanted = ctx.catalog.discipline_modifier(ctx.visit.discipline)
    required = ctx.payer.modifiers.discipline
    for line in ctx.lines:
        if not line.code.therapy:
            continue
        for modifier in line.input_modifiers:
            info = ctx.catalog.modifiers[modifier]
            if info.role == "discipline" and modifier != wanted:
                yield (
                    line.code.code,
                    (
                        f"{line.code.code} carries {modifier} ({info.discipline}) on a {ctx.visit.discipline} visit; "
                        f"the plan of care calls for {wanted}"
                    ),
                )
        if line.input_modifiers:
            line.input_modifiers = [m for m in line.input_modifiers if ctx.catalog.modifiers[m].role != "discipline"]
        line.discipline_modifier = wanted if required else None


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


@rule(
    "M002",
    "assistant-modifier",
    "info",
    "CQ/CO added where an assistant furnished more than the de minimis share",
    stage="modifiers",
)
def assistant_modifier(ctx: ScrubContext) -> Iterator[Hit]:
    """Adds CQ (PT assistant) or CO (OT assistant) to the units an assistant furnished in whole or in part,
    for payers that require it, and says so in an info finding (the units are paid at a reduced rate).

    The visit's ``rendered_by: "assistant"`` means the assistant furnished all of every service; a
    service's ``assistant_minutes`` are the minutes the assistant furnished independently of the therapist
    (time treating together counts as the therapist's). The 10% de minimis share is applied per unit for
    timed codes and to the whole service for untimed codes. An evaluation never carries CQ/CO: an assistant
    may not furnish it at all, which E001 reports as an error.

    Why: claims for services furnished in whole or in part by a PTA/OTA must carry CQ/CO from 2020-01-01;
    Medicare pays those services at 85% from 2022-01-01.

    Example: 97110 36 min (PTA 23 independent, PT 13) under Medicare -> 2 units, 1 with CQ (the PTA's
    whole 15-minute block), 1 without (the remaining unit: PT 13 min > PTA 8 min).

    Fix: nothing to fix; check that the assistant's minutes are documented as furnished independently.

    Source: BBA 2018 s. 53107 (SSA s. 1834(v)); CY2020 PFS final rule (84 FR 62702-62707, de minimis);
    CY2022 PFS final rule as summarised by PT Management and codingmcw (final-unit policy; secondary);
    CMS "Billing Examples Using CQ/CO Modifiers" (reference modifiers.md s. 2).
    """
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
            note = f"{modifier} on {line.assistant_units} of {line.units} unit(s): {who}"
            line.notes.append(note)
            yield line.code.code, f"{line.code.code}: {note} ({ctx.payer.name} requires {modifier})"


@rule(
    "M003",
    "no-assistant-modifier-for-discipline",
    "warning",
    "An assistant furnished an SLP service, for which no assistant modifier exists",
    stage="modifiers",
)
def no_assistant_modifier(ctx: ScrubContext) -> Iterator[Hit]:
    """Warns when a visit of a discipline without an assistant modifier (speech-language pathology)
    says an assistant furnished services.

    Why: CQ is for PT assistants and CO for OT assistants only; there is no SLP-assistant modifier, so the
    payer's policy on SLP assistants decides whether the service is billable at all.

    Example: an SLP visit with ``rendered_by: "assistant"`` -> warning.

    Fix: check the payer's policy for services by SLP assistants before submitting.

    Source: CMS "Billing Examples Using CQ/CO Modifiers" lists only CQ and CO (reference modifiers.md s. 2).
    """
    if ctx.catalog.assistant_modifier(ctx.visit.discipline) is not None:
        return
    if ctx.visit.rendered_by == "assistant" or any(line.assistant_minutes for line in ctx.lines):
        yield (
            None,
            (
                f"an assistant furnished services on this {ctx.visit.discipline} visit; no assistant modifier "
                "exists for this discipline: check the payer's policy"
            ),
        )
