"""The distinct-service stage: 59 or X{EPSU} on the column 2 line of an NCCI pair the record shows were
distinct (rule N002 reports the pairs it could not mark)."""

from __future__ import annotations

from rehabclaim.cms.ptp import PtpEdit
from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine


def edit_text(edit: PtpEdit) -> str:
    """An NCCI PTP edit as findings and notes cite it."""
    return f"NCCI PTP edit, modifier indicator {edit.indicator}, effective {edit.effective.isoformat()} ({edit.origin})"


def documented_distinct(first: WorkLine, second: WorkLine) -> str | None:
    """How the record shows the two services were distinct, or None."""
    if first.distinct or second.distinct:
        return "documented as distinct services"
    if first.time_blocks and second.time_blocks:
        overlaps = any(a.start < b.end and b.start < a.end for a in first.time_blocks for b in second.time_blocks)
        if not overlaps:
            return "furnished in separate time blocks"
    return None


def add_distinct_modifiers(ctx: ScrubContext) -> None:
    """For each pair under an NCCI edit with modifier indicator 1 in force, put the payer's distinct-service
    modifier on the column 2 line (with a note saying why) when the record shows the services were distinct
    and no 59/X is on them yet; a pair it cannot mark is kept in ``ctx.distinct_missing``, in edit order."""
    if ctx.cms.ptp.partners.keys().isdisjoint(ctx.codes):
        return  # no code on the visit is in a PTP edit (the edits in force are not looked up)
    bypass = ctx.catalog.modifiers_by_role["distinct"]
    for edit, column_1, column_2 in ctx.ptp_edits:
        if edit.indicator != "1":
            continue
        if bypass.intersection(column_1.input_modifiers + column_2.input_modifiers + column_2.added_modifiers):
            continue
        how = documented_distinct(column_1, column_2)
        if how is None:
            ctx.distinct_missing += ((edit, column_1, column_2),)  # seldom: no list kept for every visit
            continue
        modifier = _distinct_modifier(ctx, column_2, column_1)
        column_2.added_modifiers.append(modifier)
        column_2.notes.append(f"{modifier} added: {how} from {column_1.code.code} ({edit_text(edit)})")


def _distinct_modifier(ctx: ScrubContext, line: WorkLine, other: WorkLine) -> str:
    if ctx.payer.modifiers.distinct == "59":
        return "59"
    named = line.distinct_modifier or other.distinct_modifier
    return named if named and named != "59" else "XU"
