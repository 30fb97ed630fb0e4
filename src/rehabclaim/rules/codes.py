"""Code validity rules: dates of service, add-on codes and their primaries, discipline fit."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.rules.base import Hit, Hits, codes_where, rule


@rule(
    "C001",
    "deleted-code",
    "error",
    "A code billed after its end date; the replacement is named",
    triggers=codes_where(lambda code: code.end is not None),
)
def deleted_code(ctx: ScrubContext) -> Hits:
    """Reports a code whose end date in the catalog is before the date of service, naming the code that
    replaced it.

    Why: a deleted code is rejected by every payer; 97762 is still suggested by outdated pages for
    follow-up orthotic visits although it was deleted on 2018-01-01.

    Example: 97762 on 2026-03-02 -> error "deleted after 2017-12-31; bill 97763".

    Fix: bill the replacement code.

    Source: code end dates in ``data/codes.toml``; 97762: PT Management 2018 changes, AOTA "Orthotics"
    (reference orthotics.md s. 1, errata #2-3).
    """
    hits: list[Hit] = []
    for line in ctx.lines:
        end = line.code.dates.end
        if end is not None and line.code.dates.ended_before(ctx.visit.date):
            instead = f"; bill {line.code.replaced_by}" if line.code.replaced_by else ""
            hits.append((line.code.code, f"{line.code.code} was deleted after {end.isoformat()}{instead}"))
    return hits


@rule(
    "C002",
    "code-not-yet-effective",
    "error",
    "A code billed before its effective date",
    triggers=codes_where(lambda code: code.effective is not None),
)
def not_yet_effective(ctx: ScrubContext) -> Hits:
    """Reports a code whose effective date in the catalog is after the date of service.

    Why: payers reject a code before it exists (for example 0770T before 2023-01-01 or 97763 before
    2018-01-01), and a corrected claim needs the code valid on that date.

    Example: 0770T on 2022-06-01 -> error.

    Fix: bill the code valid on the date of service.

    Source: effective dates in ``data/codes.toml`` (0770T: ABA Coding Coalition, AAPC; 97763: AOTA).
    """
    hits: list[Hit] = []
    for line in ctx.lines:
        effective = line.code.dates.start
        if effective is not None and line.code.dates.starts_after(ctx.visit.date):
            hits.append(
                (
                    line.code.code,
                    (
                        f"{line.code.code} is not valid before {effective.isoformat()} "
                        f"(date of service {ctx.visit.date.isoformat()})"
                    ),
                )
            )
    return hits


@rule(
    "C003",
    "addon-without-primary",
    "error",
    "An add-on code billed without any of its primary codes",
    triggers=codes_where(lambda code: code.is_addon),
)
def addon_without_primary(ctx: ScrubContext) -> Hits:
    """Reports an add-on code when none of the codes it may follow is on the same visit. For an add-on
    that the catalog allows beside any therapy primary (0770T), another therapy code on the visit
    satisfies this rule and C004 warns instead.

    Why: an add-on code is never paid alone; 0770T (XR-assisted therapy) is reported only with a primary
    therapy code, 0772T only after 0771T.

    Example: 0772T without 0771T -> error; 0770T alone -> error.

    Fix: bill the primary service the add-on belongs to, or remove the add-on.

    Source: add-on relations in ``data/codes.toml``; reference xr-vr-codes.md s. 1-2 (ABA Coding
    Coalition; American Medical Coding).
    """
    codes = ctx.codes
    hits: list[Hit] = []
    for line in ctx.lines:
        code = line.code
        if not code.is_addon or codes.intersection(code.addon_of):
            continue
        if code.addon_any_therapy_primary and any(
            other.code.therapy and not other.code.is_addon for other in ctx.lines
        ):
            continue
        hits.append(
            (
                code.code,
                f"{code.code} is an add-on and needs one of {', '.join(code.addon_of)} on the same visit",
            )
        )
    return hits


@rule(
    "C004",
    "addon-primary-not-designated",
    "warning",
    "An add-on billed with a therapy code that is not one of its designated primaries",
    triggers=codes_where(lambda code: code.addon_any_therapy_primary),
)
def addon_primary_not_designated(ctx: ScrubContext) -> Hits:
    """Warns when an add-on that accepts other therapy primaries (0770T) is billed only beside therapy
    codes outside its designated primary list.

    Why: CPT designates the base codes for 0770T; some vendor pages name others (gait training 97116),
    which payers may deny.

    Example: 0770T with 97116 only -> warning.

    A payer that accepts other primaries lists them in its policy
    (``[category_iii] accepted_primaries = {"0770T" = ["97116"]}``); the rule is then silent for them.

    Fix: confirm the payer accepts the pairing (then list it in the payer's policy), or report the XR use
    with a designated primary service.

    Source: ABA Coding Coalition list of CPT 2023 designated primaries; NeuroVirt page naming 97116
    (reference xr-vr-codes.md s. 1, errata #4).
    """
    codes = ctx.codes
    hits: list[Hit] = []
    for line in ctx.lines:
        code = line.code
        accepted = ctx.payer.category_iii.accepted_primaries.get(code.code, ())
        if not code.addon_any_therapy_primary or codes.intersection(code.addon_of) or codes.intersection(accepted):
            continue
        others = [o.code.code for o in ctx.lines if o.code.therapy and not o.code.is_addon]
        if others:
            hits.append(
                (
                    code.code,
                    (
                        f"{code.code} is billed with {', '.join(others)}, not a designated primary "
                        f"({', '.join(code.addon_of)}); the payer may deny it"
                    ),
                )
            )
    return hits


@rule("C005", "code-outside-discipline", "warning", "A code not usually billed by the visit's discipline")
def code_outside_discipline(ctx: ScrubContext) -> Hits:
    """Warns when a therapy code is not one the visit's discipline usually bills.

    Why: an SLP code on a PT plan of care (or a PT evaluation on an OT visit) points to a wrong
    discipline or a wrong code, and the discipline modifier would then be wrong too.

    Example: 92507 on a PT visit -> warning.

    Fix: check the code and the visit's discipline.

    Source: disciplines per code in ``data/codes.toml``.
    """
    discipline = ctx.visit.discipline
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.code.therapy and discipline not in line.code.disciplines:
            hits.append(
                (
                    line.code.code,
                    (
                        f"{line.code.code} is usually billed by {'/'.join(line.code.disciplines)}, "
                        f"not on a {discipline} visit"
                    ),
                )
            )
    return hits
