"""Diagnosis rules: at least one diagnosis, each a valid billable ICD-10-CM code for the date of service."""

from __future__ import annotations

from collections.abc import Iterator

from rehabclaim.context import ScrubContext
from rehabclaim.diagnoses.icd10 import normalize, with_dot
from rehabclaim.rules.base import Hit, rule


@rule("D001", "no-diagnosis", "error", "A visit with no diagnosis")
def no_diagnosis(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports a visit without any diagnosis code.

    Why: a professional claim needs at least one ICD-10-CM diagnosis that every line points to.

    Example: ``"diagnoses": []`` -> error.

    Fix: add the treating diagnosis from the plan of care.

    Source: 837P HI segment requires a principal diagnosis (reference x12.md).
    """
    if not ctx.visit.diagnoses:
        yield None, "the visit has no diagnosis; at least one ICD-10-CM code is required"


@rule("D002", "unknown-diagnosis", "error", "A diagnosis that is not an ICD-10-CM code")
def unknown_diagnosis(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports a diagnosis that is not in the ICD-10-CM code set shipped by simple-icd-10-cm.

    Why: an invalid diagnosis rejects the whole claim.

    Example: ``"Z99.999"`` -> error.

    Fix: correct the code from the plan of care.

    Source: ICD-10-CM code set (CMS/NCHS) as shipped by the simple-icd-10-cm package (reference tooling.md).
    """
    for code, status in ctx.diagnosis_status:
        if status is None:
            yield code, f"{code} is not an ICD-10-CM code ({ctx.diagnoses.release.name})"


@rule(
    "D003",
    "non-billable-diagnosis",
    "error",
    "A diagnosis category code that is not billable; its billable codes are named",
)
def non_billable_diagnosis(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports an ICD-10-CM category or subcategory that has more specific codes below it, naming them.

    Why: only the most specific (leaf) codes are valid on a claim; for example M54.5 became a category in
    October 2021 and claims must use M54.50, M54.51 or M54.59.

    Example: ``"M54.5"`` -> error naming M54.50, M54.51, M54.59.

    Fix: code to the highest specificity the record supports.

    Source: ICD-10-CM code set via simple-icd-10-cm (reference tooling.md).
    """
    for code, status in ctx.diagnosis_status:
        if status is False:
            children = ctx.diagnoses.billable_children(code)
            shown = with_dot(normalize(code))
            yield (
                code,
                f"{shown} is a category, not billable; use a specific code such as {', '.join(children)}",
            )


@rule(
    "D004",
    "diagnosis-code-set-date",
    "info",
    "The installed ICD-10-CM release does not cover the date of service",
)
def diagnosis_code_set_date(ctx: ScrubContext) -> Iterator[Hit]:
    """Notes when the date of service falls outside the ICD-10-CM release the checks used.

    Why: ICD-10-CM changes every October 1 (and some April 1); a code added or deleted in another release
    is judged by the installed one.

    Example: a 2026-11-02 visit checked against the April 2026 release -> info.

    Fix: install the simple-icd-10-cm version with the release for that date when one exists.

    Source: ``data/icd10cm.toml`` release windows (reference README s. 4).
    """
    release = ctx.diagnoses.release
    if ctx.visit.diagnoses and not release.covers(ctx.visit.date):
        yield (
            None,
            f"diagnoses checked against {release.name}, which does not cover {ctx.visit.date.isoformat()}",
        )
