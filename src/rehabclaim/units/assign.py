"""Putting units on working lines: timed therapy codes by the payer's method, untimed codes once."""

from __future__ import annotations

from rehabclaim.citations import cited
from rehabclaim.lines import WorkLine
from rehabclaim.units.methods import UnitPlan, UnitTexts, allocate_units, units_past_midpoint

# the citations the explanations print (data/citations.toml)
TRAINING_CITATION = cited("orthosis-training")
UNTIMED_CITATION = cited("untimed")
MIDPOINT_CITATION = cited("time-midpoint")


def counted_minutes(line: WorkLine, has_orthosis: bool) -> int:
    """Minutes that earn units. Beside an orthosis code an initial orthotic/prosthetic training code
    counts its documented training minutes only: fitting is paid in the device code (AOTA,
    reference orthotics.md s. 2)."""
    if has_orthosis and line.code.encounter == "initial" and line.training_minutes is not None:
        return min(line.training_minutes, line.minutes or 0)
    return line.minutes or 0


def assign_units(lines: list[WorkLine], method: str, texts: UnitTexts | None = None) -> UnitPlan:
    """Set ``units``, ``counted_minutes`` and ``why`` on every line; return the timed-unit plan. ``texts``
    keeps the explanations written across visits (a caller's cache, ``UnitTexts``)."""
    has_orthosis = False
    for line in lines:
        has_orthosis = has_orthosis or line.code.is_orthosis
    timed = []
    for line in lines:
        if line.is_timed_therapy:
            line.counted_minutes = counted_minutes(line, has_orthosis)
            if not line.minutes_unknown:
                timed.append((line.code.code, line.counted_minutes))
        else:
            line.counted_minutes = line.minutes or 0
    plan = allocate_units(method, timed, texts)
    for line in lines:
        if line.is_timed_therapy and line.minutes_unknown:
            line.units = line.stated_units or 0
            line.why = f"{line.code.code}: {line.units} unit(s) as billed; minutes unknown, units not computed"
        elif line.is_timed_therapy:
            line.units = plan.units[line.code.code]
            line.why = plan.why[line.code.code]
            if line.counted_minutes != (line.minutes or 0):
                line.why = (
                    f"counted {line.counted_minutes} training min of {line.minutes} documented "
                    f"(fitting is part of the orthosis code; {TRAINING_CITATION}). {line.why}"
                )
        elif line.code.therapy:
            line.units = 1
            line.why = f"{line.code.code}: untimed, billed once per session whatever the minutes ({UNTIMED_CITATION})"
        else:
            line.units, line.why = _other_units(line)
    return plan


def _other_units(line: WorkLine) -> tuple[int, str]:
    """Units of a code that is not a therapy code: from its own minutes when it is billed per so many
    minutes (0772T/0774T: each further 15 minutes of intraservice time) and they are documented, else as
    stated (one when not stated)."""
    code, per_unit = line.code.code, line.code.minutes_per_unit
    if per_unit is not None and line.minutes is not None:
        units = units_past_midpoint(line.minutes, per_unit)
        return units, (
            f"{code}: {line.minutes} min of its own time = {units} unit(s) of {per_unit} min "
            f"(a unit once more than half of it has passed; CPT time convention, {MIDPOINT_CITATION})"
        )
    units = 1 if line.stated_units is None else line.stated_units
    return units, f"{code}: {units} unit(s) as documented (not a timed therapy code)"
