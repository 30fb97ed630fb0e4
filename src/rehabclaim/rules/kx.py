"""Therapy threshold rules (Medicare): KX above the yearly amount, and the targeted medical review amount.

They report after the fee estimate. The KX stage (``rehabclaim.pipeline.kx``) puts KX on the lines and keeps
its decision; K001 reports it, K002 weighs the same lines against the review threshold. Once the year's
allowed amount before the visit is at or past a threshold, every therapy line of the visit is above it,
whatever the line's price; below it, the visit's lines cross it by their estimates, and a line without an
estimate is named with the reason instead of silently staying without KX.
"""

from __future__ import annotations

from decimal import Decimal

from rehabclaim.context import ScrubContext
from rehabclaim.fees.estimate import cents
from rehabclaim.fees.medicare_policy import ORIGIN
from rehabclaim.history import BENEFIT_OF, Sourced
from rehabclaim.lines import WorkLine
from rehabclaim.pipeline.kx import KX, cross, year_to_date
from rehabclaim.rules.base import NO_HITS, Hit, Hits, rule

BENEFIT_LABEL = {"PT_SLP": "PT and SLP combined", "OT": "OT"}


def _codes(lines: list[WorkLine]) -> str:
    return ", ".join([line.code.code for line in lines])


def _no_estimate(lines: list[WorkLine]) -> str:
    """The unpriced lines grouped by why they have no estimate: '97110, 97140 (no PPRRVU/GPCI file ...)'."""
    by_reason: dict[str, list[WorkLine]] = {}
    for line in lines:
        by_reason.setdefault("; ".join(line.fee_steps) or "no fee estimate", []).append(line)
    return "; ".join(f"{_codes(group)} ({reason})" for reason, group in by_reason.items())


@rule(
    "K001",
    "kx-threshold",
    "warning",
    "KX added: the year's allowed therapy amount passes the threshold (or KX could not be decided)",
    stage="payment",
)
def kx_threshold(ctx: ScrubContext) -> Hits:
    """Adds KX to the therapy lines above the year's KX threshold, and warns that medical necessity must
    be documented. When the patient's allowed amount for the calendar year before this visit is already at
    or past the threshold, every therapy line of the visit takes KX, whatever its price (even a line the fee
    estimate cannot price); below it, KX goes on the line whose estimate takes the amount past the threshold
    and on every line after it. A line without an estimate that may or may not cross (no fee for the code,
    no fee file for the date) gets a warning that KX could not be decided for it, with the reason, as does a
    year with no threshold figure. PT and SLP share one amount, OT has its own. The year-to-date amount
    comes from the ledger, or from the visit (``therapy_allowed_ytd``); the finding says which. A line
    carrying GA (an ABN: the service is not necessary) never takes KX.

    Why: Medicare denies therapy above the threshold without KX; KX attests that the services are
    reasonable and necessary and that the record justifies them. The threshold follows the allowed amounts
    of the year, not this visit's estimate: a line the engine cannot price is still above it.

    Example: 2026, PT, $2,450 allowed before a visit expected at $80 -> KX on the line that passes $2,480;
    $2,600 before -> KX on every therapy line, 0770T (contractor-priced) included; $2,450 before with 0770T
    first -> KX could not be decided for 0770T ($30.00 left under the threshold).

    Fix: make sure the record justifies continued skilled therapy; if the services are no longer
    necessary, do not use KX: give an ABN and use GA instead. Where KX could not be decided, find the
    line's allowed amount (the MAC's fee, or load the fee files for the date) and add KX if it passes.

    Source: Pub. 100-04 ch. 5 s. 10.3 (s. 10.3.3, KX); thresholds by year in ``data/medicare-payment.toml``
    (reference modifiers.md s. 3: 2026 $2,480 partly confirmed); KX and GA never together (modifiers.md
    s. 4, NGS).
    """
    decision = ctx.kx  # the KX stage's (rehabclaim.pipeline.kx)
    if decision is None:
        return NO_HITS
    found, threshold, crossing = decision.allowed_before, decision.threshold, decision.crossing
    hits: list[Hit] = []
    if threshold is None or crossing is None:
        hits.append(
            (
                None,
                (
                    f"KX could not be decided for {_codes(decision.lines)}: {ORIGIN} has no {ctx.visit.date.year} KX "
                    f"threshold; {_allowed(ctx, found)}"
                ),
            )
        )
        return hits
    if not (crossing.past or crossing.undecided):
        return hits
    if crossing.past:
        already = found.value >= threshold
        hits.append((None, _kx_added(decision.marked, decision.left, already, _allowed(ctx, found), threshold)))
    liability = ctx.catalog.modifiers_by_role.get("liability", frozenset())
    if crossing.undecided and not all(_caller_decided(line, liability) for line in crossing.undecided):
        hits.append(
            (
                None,
                (
                    f"KX could not be decided for {_codes(crossing.undecided)}: no fee estimate for "
                    f"{_no_estimate(crossing.unpriced)}; {_allowed(ctx, found)} leaves ${cents(crossing.room)} "
                    f"under the ${threshold} KX threshold before {crossing.unpriced[0].code.code}: find its allowed "
                    "amount and add KX from the line where the year's total passes the threshold on; document "
                    "medical necessity"
                ),
            )
        )
    return hits


def _allowed(ctx: ScrubContext, found: Sourced[Decimal]) -> str:
    benefit = BENEFIT_LABEL[BENEFIT_OF[ctx.visit.discipline]]
    return (
        f"allowed {ctx.visit.date.year} therapy ({benefit}) ${cents(found.value)} before this visit "
        f"(from the {found.source})"
    )


def _caller_decided(line: WorkLine, liability: frozenset[str]) -> bool:
    """The caller put KX, or GA (which excludes it), on the line: nothing left to decide."""
    return KX in line.input_modifiers or not liability.isdisjoint(line.input_modifiers)


def _kx_added(marked: list[WorkLine], left: list[WorkLine], already: bool, allowed: str, threshold: Decimal) -> str:
    """The finding that says which lines above the threshold took KX (and which GA lines kept none)."""
    where = f"is at or past the ${threshold} KX threshold" if already else f"passes the ${threshold} KX threshold"
    parts = [f"KX on {_codes(marked)}; document medical necessity"] if marked else []
    if left:
        parts.append(f"no KX on {_codes(left)}: GA (an ABN on file) and KX are never used together")
    return f"{allowed} {where}{'' if already else ' with this visit'}: {'; '.join(parts)}"


@rule(
    "K002",
    "targeted-review-threshold",
    "warning",
    "The year's allowed therapy amount passes the review threshold (or could not be checked)",
    stage="payment",
)
def targeted_review_threshold(ctx: ScrubContext) -> Hits:
    """Warns when the patient's allowed therapy amount for the year, this visit included, passes the
    targeted medical review threshold ($3,000 until 2028). An amount already at or past it before the visit
    warns whatever this visit's lines cost; below it, the visit's estimates decide, and when a therapy line
    has no estimate (no fee for the code, no fee file for the date) and the priced lines stay under it, the
    warning says the threshold could not be checked and why. A year with no threshold figure says so.

    Why: claims above it may be selected for targeted medical review; the record must stand on its own.
    The threshold follows the year's allowed amounts, not what the engine can price on this visit.

    Example: $2,990 allowed before a visit expected at $60 -> warning; $3,100 before a visit on a date no
    fee file covers -> warning; $2,950 before 8 minutes of 97530 ($33.61) and 0770T (contractor-priced)
    -> could not be checked.

    Fix: review the documentation of medical necessity for the episode; where it could not be checked,
    find the line's allowed amount (the MAC's fee, or load the fee files for the date).

    Source: BBA 2018 s. 50202, SSA s. 1833(g)(7)(B), NGS (reference modifiers.md s. 3); Pub. 100-04 ch. 5
    s. 10.3; figures by year in ``data/medicare-payment.toml``.
    """
    known = year_to_date(ctx)
    if known is None:
        return NO_HITS
    found, lines = known
    year = ctx.visit.date.year
    review = ctx.medicare.review_threshold_for(year)
    hits: list[Hit] = []
    if review is None:
        hits.append(
            (
                None,
                f"the targeted medical review threshold could not be checked: {ORIGIN} has no figure for {year} "
                f"(${cents(found.value)} allowed therapy before this visit, from the {found.source})",
            )
        )
        return hits
    crossing = cross(found.value, review.amount, lines)
    if not (crossing.past or crossing.unpriced):
        return hits
    before, reached = cents(found.value), cents(crossing.reached)
    if crossing.past:
        floor = "at least " if any(line.unit_amounts is None for line in lines) else ""
        position = "above" if crossing.reached > review.amount else "at"
        hits.append(
            (
                None,
                (
                    f"allowed therapy this year reaches {floor}${reached} with this visit "
                    f"(${before} before, from the {found.source}), "
                    f"{position} the ${review.amount} targeted medical review threshold"
                ),
            )
        )
    elif crossing.unpriced:
        hits.append(
            (
                None,
                (
                    f"the targeted medical review threshold could not be checked: no fee estimate for "
                    f"{_no_estimate(crossing.unpriced)}; allowed therapy this year reaches ${reached} with this "
                    f"visit's priced lines (${before} before, from the {found.source}), "
                    f"${cents(review.amount - crossing.reached)} under the ${review.amount} targeted medical "
                    "review threshold: the year passes it if Medicare allows more than that for them"
                ),
            )
        )
    return hits
