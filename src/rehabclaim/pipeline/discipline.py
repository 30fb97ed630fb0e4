"""The discipline stage: GP, GO or GN on every therapy line (rule M001 reports what it removed)."""

from __future__ import annotations

from rehabclaim.context import ScrubContext


def add_discipline_modifiers(ctx: ScrubContext) -> None:
    """Put the visit's discipline modifier on every therapy line (for payers whose policy requires it) and
    take the caller's discipline modifiers off, keeping those of another discipline on the line's record."""
    wanted = ctx.catalog.discipline_modifier(ctx.visit.discipline)
    required = ctx.payer.modifiers.discipline
    modifiers = ctx.catalog.modifiers
    for line in ctx.lines:
        if not line.code.therapy:
            continue
        if line.input_modifiers:
            given = line.input_modifiers
            line.other_discipline_modifiers = tuple(
                m for m in given if modifiers[m].role == "discipline" and m != wanted
            )
            line.input_modifiers = [m for m in given if modifiers[m].role != "discipline"]
        line.discipline_modifier = wanted if required else None
