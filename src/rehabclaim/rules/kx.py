"""Therapy threshold rules (Medicare): KX above the yearly amount, and the targeted medical review amount.

They run after the fee estimate: the year's allowed amount includes this visit's expected payment.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from rehabclaim.context import ScrubContext
from rehabclaim.fees.estimate import cents
from rehabclaim.fees.medicare_policy import medicare_payment
from rehabclaim.history import BENEFIT_OF
from rehabclaim.lines import WorkLine
from rehabclaim.rules.base import Hit, rule

BENEFIT_LABEL = {"PT_SLP": "PT and SLP combined", "OT": "OT"}


def _year_to_date(ctx: ScrubContext) -> tuple[Decimal, str, list[tuple[WorkLine, Decimal]]] | None:
    """Allowed amount before the visit, its source, and each therapy line with the running total after it."""
    found = ctx.history.allowed_ytd(ctx.visit, BENEFIT_OF[ctx.visit.discipline])
    if found is None:
        return None
    running, totals = found.value, []
    for line in ctx.lines:
        if line.code.therapy and line.unit_amounts:
            running += sum(line.unit_amounts, Decimal(0))
            totals.append((line, running))
    return found.value, found.source, totals


@rule(
    "K001",
    "kx-threshold",
    "warning",
    "KX added: the year's allowed therapy amount passes the threshold",
    stage="payment",
)
def kx_threshold(ctx: ScrubContext) -> Iterator[Hit]:
    """Adds KX to each therapy line from the one at which the patient's allowed amount for the calendar
    year (this visit's expected payments included) passes the year's KX threshold, and warns that medical
    necessity must be documented. PT and SLP share one amount, OT has its own. The year-to-date amount comes
    from the ledger, or from the visit (``therapy_allowed_ytd``); the finding says which.

    Why: Medicare denies therapy above the threshold without KX; KX attests that the services are
    reasonable and necessary and that the record justifies them.

    Example: 2026, PT, $2,450 allowed before a visit expected at $80 -> KX on the line that passes $2,480.

    Fix: make sure the record justifies continued skilled therapy; if the services are no longer
    necessary, do not use KX: give an ABN and use GA instead.

    Source: Pub. 100-04 ch. 5 s. 10.3.3; thresholds by year in ``data/medicare-payment.toml``
    (reference modifiers.md s. 3: 2026 $2,480 partly confirmed).
    """
    if not ctx.payer.modifiers.kx:
        return
    threshold = medicare_payment().kx_threshold_for(ctx.visit.date.year)
    known = _year_to_date(ctx)
    if threshold is None or known is None:
        return
    before, source, totals = known
    marked = [line for line, total in totals if total > threshold.amount]
    for line in marked:
        if "KX" not in line.added_modifiers and "KX" not in line.input_modifiers:
            line.added_modifiers.append("KX")
    if marked:
        benefit = BENEFIT_LABEL[BENEFIT_OF[ctx.visit.discipline]]
        yield (
            None,
            (
                f"allowed {ctx.visit.date.year} therapy ({benefit}) ${cents(before)} before this visit "
                f"(from the {source}) passes the ${threshold.amount} KX threshold with this visit: KX on "
                f"{', '.join(line.code.code for line in marked)}; document medical necessity"
            ),
        )


@rule(
    "K002",
    "targeted-review-threshold",
    "warning",
    "The year's allowed therapy amount passes the review threshold",
    stage="payment",
)
def targeted_review_threshold(ctx: ScrubContext) -> Iterator[Hit]:
    """Warns when the patient's allowed therapy amount for the year, this visit included, passes the
    targeted medical review threshold ($3,000 until 2028).

    Why: claims above it may be selected for targeted medical review; the record must stand on its own.

    Example: $2,990 allowed before a visit expected at $60 -> warning.

    Fix: review the documentation of medical necessity for the episode.

    Source: BBA 2018 s. 50202, SSA s. 1833(g)(7)(B), NGS (reference modifiers.md s. 3).
    """
    if not ctx.payer.modifiers.kx:
        return
    review = medicare_payment().review_threshold_for(ctx.visit.date.year)
    known = _year_to_date(ctx)
    if review is None or known is None or not known[2]:
        return
    before, source, totals = known
    reached = cents(totals[-1][1])
    if reached > review.amount:
        yield (
            None,
            (
                f"allowed therapy this year reaches ${reached} with this visit "
                f"(${cents(before)} before, from the {source}), "
                f"above the ${review.amount} targeted medical review threshold"
            ),
        )
