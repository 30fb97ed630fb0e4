"""Plan-of-care rules: certification window and progress reports (Medicare Benefit Policy Manual ch. 15)."""

from __future__ import annotations

from datetime import timedelta

from rehabclaim.context import ScrubContext
from rehabclaim.dates import DateRange
from rehabclaim.rules.base import NO_HITS, Hit, Hits, rule


@rule("R001", "progress-report-due", "warning", "A progress report is due by the payer's treatment-day interval")
def progress_report_due(ctx: ScrubContext) -> Hits:
    """Warns when this visit is at or past the payer's progress-report interval (Medicare: every 10 treatment
    days) counted from the last progress report, and the visit does not include one
    (``"progress_report": true``).

    Why: Medicare requires a progress report at least once every 10 treatment days; missing reports are a
    common reason for denials on review.

    Example: 9 treatment days since the last report and no report at this visit -> warning (this is day 10).

    Fix: write the progress report at this visit (assessment of progress toward each goal, plan, changes).

    Source: Pub. 100-02 ch. 15 s. 220.3 D (reference medicare-policy.md s. 2); interval from the payer file.
    """
    interval = ctx.payer.plan_of_care.progress_report_every_treatment_days
    if interval is None or ctx.visit.progress_report:
        return NO_HITS
    found = ctx.history.treatment_days_since_progress_report(ctx.visit)
    hits: list[Hit] = []
    if found is not None and found.value + 1 >= interval:
        hits.append(
            (
                None,
                (
                    f"this is treatment day {found.value + 1} since the last progress report "
                    f"(from the {found.source}); {ctx.payer.name} requires one at least every {interval} treatment days"
                ),
            )
        )
    return hits


@rule("R002", "outside-plan-of-care", "error", "Treatment outside the certified plan-of-care dates")
def outside_plan_of_care(ctx: ScrubContext) -> Hits:
    """Reports a visit whose date of service falls outside the certified plan of care, for payers that
    require certification: before its first day, after its last, or after the most a certification covers
    (90 calendar days, its first day counted as day 1) when the plan runs longer.

    Why: Medicare pays therapy only under a plan of care certified by a physician/NPP; a certification
    covers the plan's duration or 90 calendar days, whichever is less, and recertification is needed to
    go on. A plan written for 120 days is certified for its first 90 only.

    Example: plan certified 2026-03-01 to 2026-05-29, visit on 2026-06-01 -> error; plan certified
    2026-03-01 to 2026-07-15, visit on 2026-06-01 -> error "covers at most 90 calendar days (through
    2026-05-29)".

    Fix: obtain a recertification covering the date (delayed certification needs evidence of diligence).

    Source: Pub. 100-02 ch. 15 s. 220.1.3, "the lesser of" the plan's duration and 90 calendar days (BPM
    p.181; reference medicare-policy.md s. 1); the 90 days in ``data/thresholds.toml``.
    """
    if not ctx.payer.plan_of_care.certification_required:
        return NO_HITS
    found = ctx.history.plan_of_care(ctx.visit)
    if found is None:
        return NO_HITS
    plan, day = found.value, ctx.visit.date
    certified = (
        f"the plan of care is certified {plan.certified_from.isoformat()} to {plan.certified_through.isoformat()}"
    )
    window = DateRange.if_ordered(plan.certified_from, plan.certified_through)  # reversed (as given): no day
    hits: list[Hit] = []
    if window is None or not window.covers(day):
        hits.append((None, f"{certified}, not {day.isoformat()} (from the {found.source})"))
        return hits
    most = ctx.thresholds.plan_of_care_certified_days_max
    if (day - plan.certified_from).days >= most:
        through = plan.certified_from + timedelta(days=most - 1)
        hits.append(
            (
                None,
                (
                    f"{certified}, but a certification covers at most {most} calendar days (through "
                    f"{through.isoformat()}), not {day.isoformat()} (from the {found.source}): recertify"
                ),
            )
        )
    return hits


@rule("R003", "no-plan-of-care-certification", "warning", "No plan-of-care certification is known")
def no_plan_of_care_certification(ctx: ScrubContext) -> Hits:
    """Warns when the payer requires a certified plan of care and none is known from the ledger or the visit.

    Why: the claim may pay, but auditors check certification after payment and recover what was paid.

    Example: a Medicare visit with no ``plan_of_care`` and no ledger record -> warning.

    Fix: record the certification (dates and certifying physician/NPP), or get it signed (within 30 days of
    the first treatment for the initial certification).

    Source: Pub. 100-02 ch. 15 s. 220.1.3 (reference medicare-policy.md s. 1).
    """
    if ctx.payer.plan_of_care.certification_required and ctx.history.plan_of_care(ctx.visit) is None:
        return [(None, f"{ctx.payer.name} requires a certified plan of care and none is on file")]
    return NO_HITS
