"""The modifier stages, in order (``MODIFIER_STAGES``): discipline, assistant, distinct service, telehealth.
They run after units and before the fee estimate, which reads the assistant's units."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.pipeline.assistant import add_assistant_modifiers
from rehabclaim.pipeline.discipline import add_discipline_modifiers
from rehabclaim.pipeline.distinct import add_distinct_modifiers
from rehabclaim.pipeline.telehealth import add_telehealth_modifier


def add_modifiers(ctx: ScrubContext) -> None:
    """Run the modifier stages on the visit's lines, in order."""
    add_discipline_modifiers(ctx)
    add_assistant_modifiers(ctx)
    add_distinct_modifiers(ctx)
    add_telehealth_modifier(ctx)
