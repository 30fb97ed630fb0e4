"""Documentation rules (family T): does the visit's note back every billed code and every unit?

These rules run only for a visit with a ``documentation`` object (the scrubber skips the family otherwise,
so a visit without one costs nothing). They report from one review of the note
(``ScrubContext.documentation_review``, ``rehabclaim.documentation``) against the per-code checklists in
``data/documentation.toml``. XR and VR codes (0770T-0774T) are left to the XR rules. Messages name the
element and the code, never the note's own words.
"""

from __future__ import annotations

from itertools import combinations

from rehabclaim.context import ScrubContext
from rehabclaim.documentation import Interval, clock_minutes, documented_minutes, union_minutes
from rehabclaim.model import EvaluationNote
from rehabclaim.rules.base import NO_HITS, Hit, Hits, rule
from rehabclaim.units import allocate_units
from rehabclaim.units.assign import counted_minutes


def _missing(ctx: ScrubContext, severity: str) -> Hits:
    return [
        (verdict.code, verdict.text)
        for verdict in ctx.documentation_review.missing()
        if not verdict.payer and not verdict.reported_as_fitting_only and verdict.severity == severity
    ]


@rule("T001", "documentation-element-missing", "error", "A billed code's note lacks an element payers deny without")
def documentation_element_missing(ctx: ScrubContext) -> Hits:
    """Reports each element of a billed code's checklist (``data/documentation.toml``) that the note does
    not hold and that payers deny without: for 97760/97763 the diagnosis and functional limitation, the
    minutes, what was trained (donning/doffing, skin inspection, wearing schedule, care), the plan-of-care
    reference and its certifying physician; for every timed code its minutes (or start and stop times);
    for 97150 a group size of 2 or more; for an evaluation each complexity component its level needs (PT
    97161-97163: comorbidities, exam elements, clinical presentation, decision complexity; OT 97165-97167:
    occupational profile, performance deficits, decision complexity). One finding per element and code.

    Why: reviewers deny what the note does not show: no medical necessity (5D164), no plan of care
    (5D162), no certification (5D165), services not documented (5D169), time not documented (CERT's most
    cited therapy finding); an evaluation level is paid only when every component is documented.

    Example: 97760 with a note giving minutes and a device but no diagnosis and functional limitation ->
    error "97760: the note does not document the diagnosis and the functional limitation treated".

    Fix: complete the note (``documentation`` in the visit: see the README's Documentation section), or
    bill what the note supports.

    Source: reference documentation.md s. 1b, 1d, 2, 2a, 4 (BPM ch. 15 s. 220.3; Palmetto and Noridian
    TPE results; CERT) and orthotics.md s. 4 (AOTA); elements and severities in ``data/documentation.toml``.
    """
    return _missing(ctx, "error")


@rule(
    "T002",
    "documentation-element-recommended",
    "warning",
    "A billed code's note lacks an element reviewers ask for",
)
def documentation_element_recommended(ctx: ScrubContext) -> Hits:
    """Warns for each element of a billed code's checklist that the note does not hold and that reviewers
    ask for without payers denying outright: for 97760/97763 the device type (custom or prefabricated),
    its body region and the patient's response; for a timed code whose own minutes are not given while
    the note gives the visit's total timed minutes and several timed codes are billed (the units of each
    code cannot then be verified).

    Why: Medicare requires total timed minutes, not minutes per code, but without them the split of units
    between codes cannot be checked; the patient's response and the device details are what AOTA lists
    and what shows the service was skilled.

    Example: 97763 with no device type in its note -> warning "97763: the note does not document the device
    type (custom or prefabricated)"; 97110 and 97140 with only ``total_timed_minutes`` -> warning for each.

    Fix: add the element to the note.

    Source: reference documentation.md s. 1d (per-code minutes optional for Medicare; skilled detail
    recommended [partly confirmed]) and s. 2 (97760 seed list [unconfirmed as a published checklist]);
    orthotics.md s. 4 (AOTA); severities in ``data/documentation.toml``.
    """
    return _missing(ctx, "warning")


@rule("T003", "fitting-only-note", "warning", "97760 with a note that records fitting but no training")
def fitting_only_note(ctx: ScrubContext) -> Hits:
    """Warns when 97760's note says ``fitting_only: true``, or names no training activity (donning/doffing,
    skin inspection, wearing schedule, care of the device, training or education). A 97760 with no note
    at all is reported by T001 instead.

    Why: 97760 is orthotic management and training; a note that shows only fitting (or plain dispensing of
    a device) draws review, and beside an L-code only training minutes count at all.

    Example: 97760 whose note's activities are "fitted wrist orthosis" -> warning.

    Fix: document the training given (what, and the patient's response), or do not bill 97760 for a
    fitting alone.

    Source: reference orthotics.md s. 2 (AOTA: with an L-code, training only) and s. 5 (plain dispensing
    without skilled fitting/training: MedPayIQ); codes and training words in ``data/documentation.toml``.
    """
    review = ctx.documentation_review
    hits: list[Hit] = []
    for line in review.lines:
        code = line.code.code
        notes = review.notes.get(code)
        if code not in review.checklists.fitting_only_codes or not notes:
            continue
        if any(note.fitting_only for note in notes):
            hits.append(
                (code, f"{code}: the note records fitting only; 97760 needs training documented (reviewers ask)")
            )
        elif not review.training_documented(code):
            hits.append(
                (
                    code,
                    f"{code}: the note names no training (donning/doffing, skin inspection, wearing schedule, care); "
                    "a fitting-only note draws review",
                )
            )
    return hits


@rule("T004", "minutes-do-not-support-units", "error", "A timed code billed for more units than its note's minutes")
def minutes_do_not_support_units(ctx: ScrubContext) -> Hits:
    """Reports a timed code billed for more units than the minutes its note documents support, by the
    payer's unit method (Medicare's 8-minute rule pooled over the visit, or per code). The note's minutes
    are its ``minutes``, or its start and stop times; where a note gives both and they differ, the fewer.

    Why: units must be backed by documented minutes; "units exceed documented minutes" is an audit
    trigger and the excess is recovered.

    Example: 97110 billed for 30 minutes (2 units) whose note says 20 min -> error "the note documents 20
    min, which support 1 unit; 2 are billed"; a note with start 09:00 and stop 09:10 for 25 billed minutes
    -> error.

    Fix: bill the units the note supports, or correct the note if it is wrong.

    Source: reference documentation.md s. 1d (billing and total timed minutes consistent, BPM p.206), s. 5;
    units.md s. 1-3 (8-minute rule); orthotics.md s. 5.
    """
    review = ctx.documentation_review
    timed = [line for line in ctx.lines if line.is_timed_therapy]
    has_orthosis = ctx.has_orthosis
    documented = {line.code.code: documented_minutes(review.notes.get(line.code.code, [])) for line in timed}
    minutes = []
    for line in timed:
        found = documented[line.code.code]
        counted = line.counted_minutes if found is None else min(found.minutes, counted_minutes(line, has_orthosis))
        minutes.append((line.code.code, counted))
    supported = allocate_units(ctx.payer.units.method, minutes).units
    hits: list[Hit] = []
    for line in timed:
        found = documented[line.code.code]
        if found is None or line.units <= supported[line.code.code]:
            continue
        can = supported[line.code.code]
        hits.append(
            (
                line.code.code,
                f"{line.code.code}: the note documents {found.how}, which support {can} unit{'s' * (can != 1)}; "
                f"{line.units} are billed",
            )
        )
    return hits


@rule("T005", "total-timed-minutes-differ", "error", "The note's total timed minutes differ from the minutes billed")
def total_timed_minutes_differ(ctx: ScrubContext) -> Hits:
    """Reports a note whose ``total_timed_minutes`` is not the sum of the minutes billed for timed codes.

    Why: Medicare reads the total timed minutes to check the units billed; the total and the billing must
    agree, to the minute.

    Example: 97110 25 min and 97140 15 min billed (40) with ``total_timed_minutes: 30`` -> error.

    Fix: correct the total in the note, or the minutes billed.

    Source: reference documentation.md s. 1d (tn.total_timed_minutes, BPM p.206) and s. 5 derived check 2.
    """
    total = ctx.documentation_review.documentation.total_timed_minutes
    billed = sum(line.minutes or 0 for line in ctx.lines if line.is_timed_therapy)
    hits: list[Hit] = []
    if total is not None and total != billed:
        hits.append(
            (None, f"the note's total timed minutes ({total}) differ from the {billed} minutes billed for timed codes")
        )
    return hits


@rule(
    "T012",
    "total-treatment-below-timed",
    "error",
    "The note's total treatment minutes are fewer than its timed minutes",
)
def total_treatment_below_timed(ctx: ScrubContext) -> Hits:
    """Reports a note whose ``total_treatment_minutes`` are fewer than its timed minutes: the note's
    ``total_timed_minutes`` when it gives them, else the minutes billed for timed codes.

    Why: total treatment time is the timed minutes plus the untimed ones; it can never be less than the
    timed part. A note where it is less contradicts itself, and a reviewer then trusts neither figure.

    Example: ``total_timed_minutes: 40`` and ``total_treatment_minutes: 35`` -> error "the note's total
    treatment minutes (35) are fewer than its 40 timed minutes".

    Fix: correct the total treatment time (timed plus untimed minutes, without rests) or the timed total.

    Source: reference documentation.md s. 1d (tn.total_treatment_minutes: timed + untimed, BPM p.206) and
    s. 5 derived check 2 (per-code minutes ... at most tn.total_treatment_minutes).
    """
    documentation = ctx.documentation_review.documentation
    treatment = documentation.total_treatment_minutes
    if treatment is None:
        return NO_HITS
    timed = documentation.total_timed_minutes
    if timed is None:
        timed = sum(line.minutes or 0 for line in ctx.lines if line.is_timed_therapy)
    hits: list[Hit] = []
    if treatment < timed:
        hits.append(
            (None, f"the note's total treatment minutes ({treatment}) are fewer than its {timed} timed minutes")
        )
    return hits


def _one_on_one(ctx: ScrubContext, interval: Interval) -> bool:
    code = ctx.catalog.get(interval.code)
    review = ctx.documentation_review
    return (
        code is not None
        and code.therapy
        and code.category not in review.checklists.skip_categories
        and interval.code not in review.checklists.group_codes
        and interval.one_on_one is not False
    )


@rule("T006", "overlapping-one-on-one-intervals", "error", "One clinician's one-on-one services overlap in time")
def overlapping_one_on_one_intervals(ctx: ScrubContext) -> Hits:
    """Reports two services of the visit given by the same clinician (or with no clinician named) whose
    start and stop times overlap, both one-on-one: the same minutes cannot be billed twice.

    Why: one-on-one codes need direct contact for their minutes; one clinician cannot furnish two of them
    at once, and the overlapping minutes are billed twice.

    Example: 97110 09:00-09:30 and 97140 09:20-09:40, same clinician -> error "overlap by 10 min".

    Fix: correct the times, or bill the overlapping minutes under one code.

    Source: reference documentation.md s. 5 (one-on-one codes need direct contact; derived interval check 2).
    """
    intervals = [interval for interval in ctx.documentation_review.intervals if _one_on_one(ctx, interval)]
    hits: list[Hit] = []
    for first, second in combinations(intervals, 2):
        overlap = first.overlap(second)
        if overlap and first.clinician == second.clinician:
            hits.append(
                (
                    second.code,
                    f"{first.code} ({first.text}) and {second.code} ({second.text}) by the same clinician overlap by "
                    f"{overlap} min: one-on-one minutes cannot be billed twice",
                )
            )
    return hits


@rule(
    "T007", "concurrent-treatment-is-group", "error", "Time not one-on-one billed with a one-on-one code under Part B"
)
def concurrent_treatment_is_group(ctx: ScrubContext) -> Hits:
    """Reports a one-on-one (timed) code whose note says ``one_on_one: false`` (another patient was treated
    meanwhile) for a payer under which that time is group therapy (Medicare Part B), suggesting 97150.

    Why: under Part B, when a therapist treats two or more patients in the same period, only the group
    code 97150 is reported; "concurrent therapy" is not a Part B category.

    Example: Medicare visit, 97110 whose note has ``"one_on_one": false`` -> error "bill 97150".

    Fix: bill 97150 (one unit) for that time, or correct the note if the treatment was one-on-one.

    Source: reference documentation.md s. 5 (APTA quoting Transmittal 1753; Coding Ahead; Raintree [partly
    confirmed]); the payers in ``data/documentation.toml`` [group].
    """
    review = ctx.documentation_review
    if ctx.payer.key not in review.checklists.concurrent_is_group_for_payers:
        return NO_HITS
    group = ", ".join(sorted(review.checklists.group_codes))
    hits: list[Hit] = []
    for line in review.lines:
        code = line.code.code
        if not line.is_timed_therapy or code in review.checklists.group_codes:
            continue
        if any(note.one_on_one is False for note in review.notes.get(code, ())):
            hits.append(
                (
                    code,
                    f"{code}: the note says the patient was not treated one-on-one; under {ctx.payer.name} "
                    f"that time is group therapy: bill {group}",
                )
            )
    return hits


@rule("T008", "group-and-one-on-one-same-minutes", "error", "97150 billed for minutes also billed one-on-one")
def group_and_one_on_one_same_minutes(ctx: ScrubContext) -> Hits:
    """Reports a group service (97150) whose start and stop times overlap those of a one-on-one service on
    the same visit.

    Why: the same minutes cannot be group and one-on-one time; one of the two codes is billed for time it
    did not have.

    Example: 97150 10:00-10:45 and 97110 10:30-10:50 -> error "overlap by 15 min".

    Fix: correct the times, or bill the overlapping minutes under one code only.

    Source: reference documentation.md s. 2 (97150) and s. 5 (only 97150 for time with two or more
    patients; one-on-one codes need direct contact).
    """
    review = ctx.documentation_review
    groups = [interval for interval in review.intervals if interval.code in review.checklists.group_codes]
    others = [interval for interval in review.intervals if _one_on_one(ctx, interval)]
    hits: list[Hit] = []
    for group in groups:
        for other in others:
            overlap = group.overlap(other)
            if overlap:
                hits.append(
                    (
                        group.code,
                        f"{group.code} ({group.text}) overlaps the one-on-one {other.code} ({other.text}) by {overlap} "
                        "min: the same minutes cannot be billed as group and one-on-one",
                    )
                )
    return hits


@rule("T009", "co-treatment-exceeds-session", "error", "Co-treatment billed for more minutes than the session")
def co_treatment_exceeds_session(ctx: ScrubContext) -> Hits:
    """Reports co-treatment (two different clinicians whose services on this visit overlap in time) when
    the timed minutes billed in total exceed the session: ``session_start`` to ``session_end``, or else the
    time the services' intervals cover together.

    Why: when two therapists treat one patient at the same time, the time billed in total may not exceed
    the session; one bills it all or they split it.

    Example: PT 97110 09:00-09:30 and OT 97530 09:00-09:30, both billed 30 min (60) in a 30-minute session
    -> error.

    Fix: bill the session's minutes once, split between the two clinicians.

    Source: reference documentation.md s. 5 (Part B co-treatment: WebPT; ADVANCE [partly confirmed];
    derived interval check 3).
    """
    review = ctx.documentation_review
    named = [interval for interval in review.intervals if interval.clinician is not None]
    if not any(a.clinician != b.clinician and a.overlap(b) for a, b in combinations(named, 2)):
        return NO_HITS
    doc = review.documentation
    if doc.session_start is not None and doc.session_end is not None:
        session, how = clock_minutes(doc.session_end) - clock_minutes(doc.session_start), "the session"
    else:
        session, how = union_minutes(review.intervals), "the services' times together"
    billed = sum(line.minutes or 0 for line in ctx.lines if line.is_timed_therapy)
    hits: list[Hit] = []
    if session > 0 and billed > session:
        hits.append(
            (
                None,
                f"co-treatment by two clinicians: {billed} timed minutes are billed but {how} last {session} min; "
                "the billed time in total may not exceed the session",
            )
        )
    return hits


def _supported_level(ctx: ScrubContext, code: str, evaluation: EvaluationNote) -> tuple[int, int] | None:
    """(billed level, level the note supports) of an evaluation code; None when a component is missing."""
    levels = ctx.documentation_review.checklists.evaluations[code]
    supported = []
    for component in (*levels.counts, *levels.words):
        value = getattr(evaluation, component)
        if value is None:
            return None
        supported.append(levels.level_of(component, value))
    return levels.codes.index(code), min(supported)


@rule(
    "T010", "evaluation-level-not-supported", "error", "An evaluation level above what its complexity elements support"
)
def evaluation_level_not_supported(ctx: ScrubContext) -> Hits:
    """Reports an evaluation (PT 97161-97163, OT 97165-97167) whose documented complexity components only
    support a lower level, naming that level: every component must meet the level billed, so the level
    supported is the lowest any component supports. A component not documented at all is T001's finding.

    Why: the evaluation codes are priced by complexity, and reviewers pay the level the documentation
    supports; "if one falls short, bill the lower level".

    Example: 97163 (high) with 3 comorbidities, 4 exam elements, an evolving presentation and moderate
    decision-making -> error "supports 97162".

    Fix: bill the level the note supports, or document the components that justify the level billed.

    Source: reference documentation.md s. 2a (APTA Pelvic Health; Clinicient "least complex code described
    by all factors"; Gawenda; Therapy Playground); bands in ``data/documentation.toml`` [evaluation].
    """
    review = ctx.documentation_review
    evaluation = review.documentation.evaluation
    if evaluation is None:
        return NO_HITS
    hits: list[Hit] = []
    for line in review.lines:
        code = line.code.code
        if code not in review.checklists.evaluations:
            continue
        found = _supported_level(ctx, code, evaluation)
        if found is None or found[1] >= found[0]:
            continue
        codes = review.checklists.evaluations[code].codes
        instead = f"bill {codes[found[1]]}" if found[1] >= 0 else f"they do not meet even {codes[0]}"
        hits.append((code, f"{code}: the documented complexity elements support a lower level; {instead}"))
    return hits


@rule("T011", "payer-required-element-missing", "error", "An element the payer's profile requires is not in the note")
def payer_required_element_missing(ctx: ScrubContext) -> Hits:
    """Reports each element the payer's profile adds (``[documentation] require`` in its file, e.g.
    ``start_stop``: start and stop times for every timed service; ``session_times``) that the note does not
    hold.

    Why: some payers require more than Medicare, such as the time of each billed service and the session's
    beginning and end, and deny without it.

    Example: a payer requiring ``start_stop`` and a 97110 note giving 20 min but no times -> error "97110:
    the note does not document the start and stop times".

    Fix: record the times in the note.

    Source: reference documentation.md s. 5 (Pinnacol, Colorado workers' comp, Rule 18 -> payer switch);
    the payer's file (docs/payers.md).
    """
    hits: list[Hit] = []
    for verdict in ctx.documentation_review.missing():
        if verdict.payer:
            hits.append((verdict.code, f"{verdict.text}, which {ctx.payer.name} requires"))
    return hits
