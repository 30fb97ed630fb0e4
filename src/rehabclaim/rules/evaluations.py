"""Evaluation rules: who may furnish an evaluation, and how many one discipline bills on a date."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine
from rehabclaim.rules.base import Hit, Hits, codes_where, rule

_KIND = {"initial": "an evaluation", "re-evaluation": "a re-evaluation"}


@rule(
    "E001",
    "evaluation-by-assistant",
    "error",
    "An evaluation or re-evaluation furnished by an assistant",
    triggers=codes_where(lambda code: code.evaluation is not None),
)
def evaluation_by_assistant(ctx: ScrubContext) -> Hits:
    """Reports an evaluation or re-evaluation code (97161-97168, 92521-92524, 92610) on a visit furnished
    by an assistant (``"rendered_by": "assistant"``) or with minutes an assistant furnished independently
    (``assistant_minutes``). Such a line gets no CQ/CO (M002 leaves it alone): it is not billable at all.

    Why: evaluation needs clinical judgment, which is outside an assistant's scope: PTAs may not provide
    evaluative or assessment services, and no assistant may furnish a therapy evaluation, re-evaluation or
    formal test. Billed as a CQ line it would be paid at 85% and then recovered in full on review.

    Example: a PT visit with ``rendered_by: "assistant"`` billing 97162 -> error (not a CQ line at 85%);
    97164 with ``assistant_minutes: 10`` -> error.

    Fix: bill the evaluation only when the therapist furnished it; the assistant's treatment that day is
    billed with its own codes (with CQ/CO).

    Source: Pub. 100-02 ch. 15 s. 230.1 B (BPM p.214: PTAs "may not provide evaluative or assessment
    services"); MAC billing article A53309 (evaluation and formal testing are outside therapy assistants'
    scope); TRICARE Policy Manual ch. 11 s. 3.17 for OTAs; evaluation codes marked in ``data/codes.toml``.
    """
    whole_visit = ctx.visit.rendered_by == "assistant"
    hits: list[Hit] = []
    for line in ctx.lines:
        evaluation = line.code.evaluation
        if evaluation is None or not (whole_visit or line.assistant_minutes):
            continue
        who = (
            "the visit was furnished by an assistant"
            if whole_visit
            else f"an assistant furnished {line.assistant_minutes} min of it"
        )
        hits.append(
            (
                line.code.code,
                (
                    f"{line.code.code} is {_KIND[evaluation]}, which only a therapist may furnish, and {who}: "
                    "not billable, with or without CQ/CO"
                ),
            )
        )
    return hits


@rule(
    "E002",
    "evaluations-same-day",
    "error",
    "Two evaluations of one discipline, or an evaluation and a re-evaluation, on one date",
    triggers=codes_where(lambda code: code.evaluation_group is not None),
)
def evaluations_same_day(ctx: ScrubContext) -> Hits:
    """Reports a visit billing more than one PT evaluation service (97161-97164), or more than one OT
    evaluation service (97165-97168): two evaluation codes, the same evaluation twice, or an evaluation and
    a re-evaluation. SLP evaluations (92521-92524) are exempt: each disorder has its own evaluation code.

    Why: one therapist per discipline completes one initial evaluation that covers every referred
    condition, billed once (one unit) whatever its length; a re-evaluation revises an established plan of
    care, so it is not billed on the day the plan is first written. The second code is denied, or
    recovered on review.

    Example: 97161 and 97162 on one visit -> error; 97162 and 97164 -> error "bill the evaluation only";
    97161 and 97165 (PT and OT) -> no finding.

    Fix: bill the one evaluation code whose complexity the record supports, once; drop the re-evaluation
    on the day of an initial evaluation.

    Source: MAC billing article A53309 (one initial evaluation per discipline for all conditions); 97164 and
    97168 re-evaluate an established plan of care (CPT descriptor, as quoted by WebPT); Cigna CPG111 (one
    initial-evaluation code per encounter); evaluation groups in ``data/codes.toml`` (partly confirmed: no
    NCCI policy text was read).
    """
    groups: dict[str, list[WorkLine]] = {}
    for line in ctx.lines:
        if line.code.evaluation_group is not None:
            groups.setdefault(line.code.evaluation_group, []).append(line)
    hits: list[Hit] = []
    for group, lines in groups.items():
        if sum(len(line.service_indexes) for line in lines) < 2:
            continue
        billed = ", ".join(_times(line) for line in lines)
        reevaluations = [line for line in lines if line.code.evaluation == "re-evaluation"]
        if reevaluations and len(reevaluations) < len(lines):
            hits.append(
                (
                    reevaluations[0].code.code,
                    (
                        f"a {group} evaluation and re-evaluation on one date ({billed}): a re-evaluation revises an "
                        "established plan of care; bill the evaluation only"
                    ),
                )
            )
        else:
            hits.append(
                (
                    None,
                    (
                        f"more than one {group} evaluation on one date ({billed}): one evaluation covers every "
                        "condition; bill one code, once"
                    ),
                )
            )
    return hits


def _times(line: WorkLine) -> str:
    count = len(line.service_indexes)
    return line.code.code if count == 1 else f"{line.code.code} x{count}"
