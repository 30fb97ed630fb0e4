"""Diagnosis rules: at least one diagnosis, each a valid billable ICD-10-CM code on the date of service.

Each visit is judged by the ICD-10-CM code set on its date (``rehabclaim.diagnoses.codeset``): the release
in force when it is loaded, else one derived from the nearest loaded release and the dated changes. A
problem the code set is sure of is an error (D002, D003); one it cannot be sure of, because no release or
dated change data covers the date, is a warning (D005); D004 says when the date has no release loaded.
"""

from __future__ import annotations

from datetime import date

from rehabclaim.context import ScrubContext
from rehabclaim.diagnoses import CodeSetOnDate
from rehabclaim.diagnoses.icd10 import is_code_shaped, normalize, with_dot
from rehabclaim.errors import quote
from rehabclaim.rules.base import NO_HITS, Hit, Hits, rule


@rule("D001", "no-diagnosis", "error", "A visit with no diagnosis")
def no_diagnosis(ctx: ScrubContext) -> Hits:
    """Reports a visit without any diagnosis code.

    Why: a professional claim needs at least one ICD-10-CM diagnosis that every line points to.

    Example: ``"diagnoses": []`` -> error.

    Fix: add the treating diagnosis from the plan of care.

    Source: 837P HI segment requires a principal diagnosis (reference x12.md).
    """
    if not ctx.visit.diagnoses:
        return [(None, "the visit has no diagnosis; at least one ICD-10-CM code is required")]
    return NO_HITS


@rule("D002", "unknown-diagnosis", "error", "A diagnosis that is not an ICD-10-CM code on the date of service")
def unknown_diagnosis(ctx: ScrubContext) -> Hits:
    """Reports a diagnosis that is not in the ICD-10-CM code set on the date of service.

    Why: an invalid diagnosis rejects the whole claim. Codes are added every October 1 (and some April 1),
    so a code is judged by the code set on the date of service: M54.50 was created on October 1, 2021 and
    is refused on a visit of September 30, 2021.

    Example: ``"Z99.999"`` -> error; ``"M54.50"`` on 2021-09-30 -> error (added 2021-10-01).

    Fix: correct the code from the plan of care, using the code set of the date of service.

    Source: the ICD-10-CM release in force on the date (the one simple-icd-10-cm ships, or a CMS order file
    dropped into the rules folder's ``icd10/``), adjusted by the dated changes in
    ``data/icd10cm-changes.toml`` (each with its public source) when that release is not loaded.
    """
    hits: list[Hit] = []
    for code, verdict in ctx.diagnosis_status:
        if verdict.status is None and verdict.certain:
            if not is_code_shaped(normalize(code)):
                hits.append(
                    (code, f"{quote(code)} is not an ICD-10-CM code (a letter, a digit, then 1 to 5 letters or digits)")
                )
                continue
            view = ctx.code_set
            hits.append(
                (
                    code,
                    f"{quote(code)} is not an ICD-10-CM code on {ctx.visit.date}{_basis(view, code, ctx.visit.date)}",
                )
            )
    return hits


@rule(
    "D003",
    "non-billable-diagnosis",
    "error",
    "A diagnosis category code that is not billable on the date of service; its billable codes are named",
)
def non_billable_diagnosis(ctx: ScrubContext) -> Hits:
    """Reports an ICD-10-CM category or subcategory that has more specific codes below it on the date of
    service, naming them.

    Why: only the most specific (leaf) codes are valid on a claim. A billable code can become a category:
    M54.5 was billable through September 30, 2021 and from October 1, 2021 claims must use M54.50, M54.51
    or M54.59.

    Example: ``"M54.5"`` on 2021-10-01 or later -> error naming M54.50, M54.51, M54.59; on 2021-09-30 ->
    no finding.

    Fix: code to the highest specificity the record supports.

    Source: as D002: the release in force on the date, or the nearest loaded release with the dated changes
    of ``data/icd10cm-changes.toml``.
    """
    hits: list[Hit] = []
    for code, verdict in ctx.diagnosis_status:
        if verdict.status is False and verdict.certain:
            view = ctx.code_set
            children = ", ".join(view.billable_children(code))
            shown = with_dot(normalize(code))
            hits.append(
                (
                    code,
                    f"{shown} is a category on {ctx.visit.date}, not billable; use a specific code such as {children}"
                    f"{_basis(view, code, ctx.visit.date)}",
                )
            )
    return hits


@rule(
    "D004",
    "diagnosis-code-set-date",
    "info",
    "No ICD-10-CM release is loaded for the date of service; the release and dated changes used are named",
)
def diagnosis_code_set_date(ctx: ScrubContext) -> Hits:
    """Notes that the ICD-10-CM release in force on the date of service is not loaded, and says what
    judged the diagnoses instead: the nearest loaded release and the dated changes between it and the date;
    or, when the date lies beyond the releases and dated change data held, that the diagnosis checks there
    are warnings (D005) rather than errors.

    Why: ICD-10-CM changes every October 1 (and some April 1); a visit must be judged by the code set of its
    date, and a code set derived from another release is only as good as the dated changes held.

    Example: a 2021-09-30 visit with only the April 2026 release loaded -> info naming that release and the
    changes undone back to 2021-09-30; a 2026-11-02 visit -> info that no release or dated change covers it.

    Fix: drop the CMS order file of the release in force (``icd10cm_order_<year>.txt``, with a ``.toml``
    sidecar for an April update) into the rules folder's ``icd10/``, or install a simple-icd-10-cm version
    that ships it.

    Source: ``data/icd10cm.toml`` (release calendar) and ``data/icd10cm-changes.toml`` (dated changes), each
    entry with its public source (reference README s. 4).
    """
    if not ctx.visit.diagnoses:
        return NO_HITS
    view = ctx.code_set
    if view.exact:
        return NO_HITS
    day = ctx.visit.date
    first = ctx.diagnoses.calendar.release[0].effective
    in_force = f"in force: {view.in_force}" if view.in_force else "the release in force is not known here"
    if day < first:
        in_force = f"before the first ICD-10-CM release, {first}"
    message = f"no ICD-10-CM release is loaded for {day} ({in_force}); diagnoses judged by {view.judged_by(day)}"
    if not view.certain:
        held = ctx.diagnoses.held()
        span = f"{held[0]} to {held[1]}" if held else "none"
        message += (
            f"; {day} is beyond the releases and dated change data held ({span}), "
            "so diagnosis problems are reported as warnings (D005), not errors"
        )
    return [(None, message)]


@rule(
    "D005",
    "unconfirmed-diagnosis",
    "warning",
    "A diagnosis the nearest ICD-10-CM release refuses, on a date no loaded release or dated change covers",
)
def unconfirmed_diagnosis(ctx: ScrubContext) -> Hits:
    """Reports a diagnosis that is not a billable code in the code set used for the date of service, when
    that code set cannot be relied on for the date: no release for it is loaded and the dated changes held
    do not reach it (or the change the answer rests on is unconfirmed).

    Why: the release in force may differ from the one used (codes are added, split and deleted each
    October 1 and some April 1), so calling the diagnosis an error could be wrong; it is a warning to check.

    Example: ``"Z99.999"`` on 2026-11-02 with only the April 2026 release loaded -> warning; ``"M51.360"``
    on 2024-06-01 (its 2024-10-01 creation is an unconfirmed dated change) -> warning.

    Fix: check the code against the release in force on the date of service, or load that release (see
    D004).

    Source: the nearest loaded release and ``data/icd10cm-changes.toml``; the coverage limits are that file's
    ``complete_from`` and ``complete_through`` and each change's ``status``.
    """
    hits: list[Hit] = []
    for code, verdict in ctx.diagnosis_status:
        if verdict.certain or verdict.status is True:
            continue
        view = ctx.code_set
        base = view.base.name if view.base is not None else "no ICD-10-CM release"
        moved = view.changes_of(code)
        after = f" ({moved})" if moved else ""
        if verdict.status is None:
            finding = f"{quote(code)} is not an ICD-10-CM code in {base}{after}"
        else:
            children = ", ".join(view.billable_children(code))
            finding = f"{with_dot(normalize(code))} is a category in {base}{after}, not billable (such as {children})"
        in_force = view.in_force or "the release in force"
        hits.append((code, f"{finding}; that cannot be confirmed for {ctx.visit.date}: check it against {in_force}"))
    return hits


def _basis(view: CodeSetOnDate, code: str, day: date) -> str:
    """`` (M54.50 added 2021-10-01; judged by ...)``: the dated changes that moved the code, and the code set."""
    moved = view.changes_of(code)
    return f" ({moved}; judged by {view.judged_by(day)})" if moved else f" ({view.judged_by(day)})"
