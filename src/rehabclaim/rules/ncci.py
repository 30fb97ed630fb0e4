"""NCCI rules: procedure-to-procedure (PTP) edits and medically unlikely edits (MUE), read from the CMS files.
The distinct-service modifiers are put on by the distinct stage (``rehabclaim.pipeline.distinct``); N002
reports the pairs it could not mark."""

from __future__ import annotations

from collections.abc import Iterable

from rehabclaim.catalog import Catalog
from rehabclaim.cms.mue import MAI_MEANING
from rehabclaim.cms.ptp import PtpEdit
from rehabclaim.cms.tables import CmsTables
from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine
from rehabclaim.pipeline.distinct import edit_text
from rehabclaim.rules.base import Hit, Hits, rule


def PTP_CODES(_catalog: Catalog, tables: CmsTables) -> Iterable[str]:
    """Codes paired with another in some PTP edit."""
    return tables.ptp.partners.keys()


def MUE_CODES(_catalog: Catalog, tables: CmsTables) -> Iterable[str]:
    """Codes with an MUE."""
    return tables.mue.keys()


def _edits_with(ctx: ScrubContext, indicator: str) -> list[tuple[PtpEdit, WorkLine, WorkLine]]:
    """Edits with ``indicator`` in force on the date of service between two billed lines."""
    return [found for found in ctx.ptp_edits if found[0].indicator == indicator]


@rule(
    "N001",
    "ptp-never-together",
    "error",
    "A column 2 code billed with its column 1 code under a 0-indicator edit",
    triggers=PTP_CODES,
)
def ptp_never_together(ctx: ScrubContext) -> Hits:
    """Reports a pair of codes billed on the same date that an active NCCI procedure-to-procedure edit with
    modifier indicator 0 forbids: the column 2 code is not paid, whatever modifier it carries.

    Why: with indicator 0 no modifier (59, X{EPSU}) can bypass the edit; the column 2 line is denied
    (CARC 236).

    Example: 97150 and 97164 the same day under the sample edit (indicator 0) -> error on 97164.

    Fix: bill only the column 1 code, or bill the services on the dates they were really furnished.

    Source: CMS NCCI PTP practitioner file loaded (bundled sample or the user's drop-in); modifier indicator
    meanings per First Coast "CO 236" (reference ncci-mue.md s. 1-2). Edits are applied by effective and
    deletion date against the date of service.
    """
    hits: list[Hit] = []
    for edit, column_1, column_2 in _edits_with(ctx, "0"):
        hits.append(
            (
                column_2.code.code,
                (
                    f"{column_2.code.code} (column 2) is not paid with {column_1.code.code} (column 1) on the "
                    f"same day; no modifier bypasses it ({edit_text(edit)})"
                ),
            )
        )
    return hits


@rule(
    "N002",
    "ptp-needs-distinct-modifier",
    "error",
    "A pair under a 1-indicator edit not documented as distinct services",
    stage="modifiers",
    triggers=PTP_CODES,
)
def ptp_needs_distinct_modifier(ctx: ScrubContext) -> Hits:
    """For a pair under an active NCCI edit with modifier indicator 1, adds the payer's distinct-service
    modifier to the column 2 line when the visit documents the services as distinct (``"distinct": true``
    on a service, or ``time_blocks`` that do not overlap); otherwise reports what to document.

    The modifier is the payer's preference (``[modifiers] distinct`` in its policy): ``X`` adds the
    X{EPSU} modifier the service names in ``distinct_modifier`` or XU (unusual non-overlapping service)
    for services separated in time; ``59`` adds 59. A caller's own 59/X on either line satisfies the edit
    (Medicare Part B accepts the modifier on either code since 2019-07-01).

    Why: without the modifier the column 2 code is denied; with it but without documentation it fails
    review. 59/X belongs only where the services were truly distinct, for therapy in separate 15-minute
    blocks (CMS example cited by WebPT).

    Example: 97140 and 97530 both 15 minutes, no documentation -> error; with ``time_blocks`` 09:00-09:15
    and 09:15-09:30 -> XU added to 97530.

    Fix: document the separate time blocks (or regions/sessions) and mark the service distinct, or bill
    only the column 1 code.

    Source: CMS NCCI PTP file (indicator 1); CR 8863 (X{EPSU}, 59 only when no X fits); First Coast "CO 236"
    (either code since 2019-07-01); WebPT on 97530/97140 (reference modifiers.md s. 5, ncci-mue.md s. 1, 4).
    """
    hits: list[Hit] = []
    for edit, column_1, column_2 in ctx.distinct_missing:  # pairs the distinct stage found undocumented
        hits.append(
            (
                column_2.code.code,
                (
                    f"{column_2.code.code} needs a distinct-service modifier beside {column_1.code.code} "
                    f"({edit_text(edit)}): document that they were furnished in separate time blocks "
                    "(time_blocks) or as distinct services (distinct: true)"
                ),
            )
        )
    return hits


def _mue_hits(ctx: ScrubContext, per_date_of_service: bool) -> Hits:
    hits: list[Hit] = []
    mues = ctx.cms.mue  # the tables are not a compiled class: one attribute read, not one a line
    for line in ctx.lines:
        mue = mues.get(line.code.code)
        if mue is None or line.units <= mue.units or mue.per_date_of_service != per_date_of_service:
            continue
        if mue.units == 0:
            continue  # not a unit limit: a code Medicare does not pay on a practitioner claim (B001-B003 say why)
        hits.append(
            (
                line.code.code,
                (
                    f"{line.code.code}: {line.units} units exceed the MUE of {mue.units} (MAI {mue.indicator}, "
                    f"{MAI_MEANING[mue.indicator]}; {mue.rationale}; {mue.origin})"
                ),
            )
        )
    return hits


@rule(
    "N003",
    "mue-date-of-service",
    "error",
    "Units above a date-of-service MUE (adjudication indicator 2 or 3)",
    triggers=MUE_CODES,
)
def mue_date_of_service(ctx: ScrubContext) -> Hits:
    """Reports a code whose units on the date of service exceed its MUE when the MUE adjudication
    indicator is 2 (policy) or 3 (clinical).

    Why: MAI 2 and 3 edits apply to the whole date of service and are absolute: the units above the
    value are denied and, for MAI 2, cannot be appealed. An MUE of 0 is not a unit limit but a code Medicare
    does not pay on a practitioner claim: B001-B003 report those, for Medicare only.

    Example: 97035 for 45 minutes (3 units) against the sample MUE of 2 (MAI 3) -> error.

    Fix: check the minutes and units; bill no more than the MUE.

    Source: CMS practitioner MUE file loaded (bundled sample or drop-in); MAI meanings per DenialStop
    (reference ncci-mue.md s. 3).
    """
    return _mue_hits(ctx, per_date_of_service=True)


@rule("N004", "mue-line", "warning", "Units above a line MUE (adjudication indicator 1)", triggers=MUE_CODES)
def mue_line(ctx: ScrubContext) -> Hits:
    """Warns when a code's units exceed its MUE and the adjudication indicator is 1 (line edit).

    Why: an MAI 1 edit applies per claim line; units above it are denied unless they are reported on
    separate lines with the appropriate modifiers, which needs documentation.

    Example: a code with an MUE of 2 (MAI 1) billed for 3 units -> warning.

    Fix: split the units over lines with the modifier the record supports, or bill the MUE.

    Source: CMS practitioner MUE file loaded; MAI 1 per DenialStop (reference ncci-mue.md s. 3).
    """
    return _mue_hits(ctx, per_date_of_service=False)
