"""The telehealth stage: the payer's telehealth modifier (95) on the therapy lines it covers by telehealth
(rule P005 reports what it does not cover)."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine
from rehabclaim.pipeline.decisions import TelehealthDecision


def add_telehealth_modifier(ctx: ScrubContext) -> None:
    """On a telehealth visit the payer covers on its date, put the payer's modifier on every therapy line
    whose code it covers; what it decided is kept in ``ctx.telehealth``."""
    if not ctx.visit.telehealth:
        return
    policy = ctx.payer.telehealth
    if not policy.allowed or not policy.dates.covers(ctx.visit.date):
        ctx.telehealth = TelehealthDecision(covered=False, place_accepted=True, not_listed=[])
        return
    place = ctx.visit.place_of_service
    not_listed: list[WorkLine] = []
    for line in ctx.lines:
        if not line.code.therapy:
            continue
        if policy.codes and line.code.code not in policy.codes:
            not_listed.append(line)
        elif policy.modifier:
            line.added_modifiers.append(policy.modifier)
    accepted = not policy.place_of_service or place in policy.place_of_service
    ctx.telehealth = TelehealthDecision(covered=True, place_accepted=accepted, not_listed=not_listed)
