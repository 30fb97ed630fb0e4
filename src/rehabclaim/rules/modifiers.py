"""Modifier rules: discipline (GP/GO/GN) and assistant (CQ/CO) modifiers. The modifiers are put on by the
discipline and assistant stages (``rehabclaim.pipeline``); these rules report what those stages decided."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.rules.base import NO_HITS, Hit, Hits, rule


@rule(
    "M001",
    "discipline-modifier",
    "error",
    "Every therapy line carries the discipline modifier of the visit's plan of care",
    stage="modifiers",
)
def discipline_modifier(ctx: ScrubContext) -> Hits:
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
    hits: list[Hit] = []
    for line in ctx.lines:
        for modifier in line.other_discipline_modifiers:  # the caller's, which the discipline stage took off
            wanted = ctx.catalog.discipline_modifier(ctx.visit.discipline)
            hits.append(
                (
                    line.code.code,
                    (
                        f"{line.code.code} carries {modifier} ({ctx.catalog.modifiers[modifier].discipline}) on a "
                        f"{ctx.visit.discipline} visit; the plan of care calls for {wanted}"
                    ),
                )
            )
    return hits


@rule(
    "M002",
    "assistant-modifier",
    "info",
    "CQ/CO added where an assistant furnished more than the de minimis share",
    stage="modifiers",
)
def assistant_modifier(ctx: ScrubContext) -> Hits:
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
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.assistant_reason is not None:  # the assistant stage put the modifier on some of its units
            hits.append(
                (
                    line.code.code,
                    f"{line.code.code}: {line.assistant_reason} ({ctx.payer.name} requires {line.assistant_modifier})",
                )
            )
    return hits


@rule(
    "M003",
    "no-assistant-modifier-for-discipline",
    "warning",
    "An assistant furnished an SLP service, for which no assistant modifier exists",
    stage="modifiers",
)
def no_assistant_modifier(ctx: ScrubContext) -> Hits:
    """Warns when a visit of a discipline without an assistant modifier (speech-language pathology)
    says an assistant furnished services.

    Why: CQ is for PT assistants and CO for OT assistants only; there is no SLP-assistant modifier, so the
    payer's policy on SLP assistants decides whether the service is billable at all.

    Example: an SLP visit with ``rendered_by: "assistant"`` -> warning.

    Fix: check the payer's policy for services by SLP assistants before submitting.

    Source: CMS "Billing Examples Using CQ/CO Modifiers" lists only CQ and CO (reference modifiers.md s. 2).
    """
    if ctx.catalog.assistant_modifier(ctx.visit.discipline) is not None:
        return NO_HITS
    hits: list[Hit] = []
    if ctx.visit.rendered_by == "assistant" or any(line.assistant_minutes for line in ctx.lines):
        hits.append(
            (
                None,
                (
                    f"an assistant furnished services on this {ctx.visit.discipline} visit; no assistant modifier "
                    "exists for this discipline: check the payer's policy"
                ),
            )
        )
    return hits
