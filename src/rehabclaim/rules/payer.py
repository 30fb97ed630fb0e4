"""Payer policy rules: unit limits, prior authorization, device bundling, telehealth, Category III coverage.

Each reads the payer's policy file (``data/payers/*.toml`` or a drop-in), so the same visit may pass for
one payer and fail for another.
"""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.dates import DateRange
from rehabclaim.errors import quote
from rehabclaim.rules.base import NO_HITS, Hit, Hits, codes_where, rule


@rule("P001", "payer-unit-limit", "error", "More units than the payer allows per visit or per code")
def payer_unit_limit(ctx: ScrubContext) -> Hits:
    """Reports a visit whose therapy units exceed the payer's per-visit limit, or a code whose units exceed
    the payer's per-code limit (``[units] max_per_visit``, ``max_per_code``).

    Why: units above a payer's limit are denied, and the limit is in the contract, not on the claim form.

    Example: the sample Medicaid plan allows 2 units of 97110; 97110 for 38 minutes (3 units) -> error.

    Fix: bill within the limit, or get the payer's approval for more.

    Source: the payer's policy file (sample figures in the bundled sample payers).
    """
    limits = ctx.payer.units
    hits: list[Hit] = []
    for line in ctx.lines:
        limit = limits.max_per_code.get(line.code.code)
        if limit is not None and line.units > limit:
            hits.append(
                (line.code.code, f"{line.code.code}: {line.units} units; {ctx.payer.name} allows {limit} per visit")
            )
    total = sum(line.units for line in ctx.lines if line.code.therapy)
    if limits.max_per_visit is not None and total > limits.max_per_visit:
        hits.append((None, f"{total} therapy units on the visit; {ctx.payer.name} allows {limits.max_per_visit}"))
    return hits


@rule("P002", "authorization-exhausted", "error", "The visit uses more visits or units than the authorization left")
def authorization_exhausted(ctx: ScrubContext) -> Hits:
    """Reports a visit that goes past the prior authorization: the visits (or units, as the payer counts
    them) used before this visit plus this visit's exceed the number authorized.

    Why: services past the authorized number are denied and usually cannot be billed to the patient.

    Example: 12 visits authorized, 12 used -> the 13th visit is an error.

    Fix: ask the payer for more visits before treating, or hold the claim.

    Source: the payer's policy file (``[authorization] counts``); the authorization from the ledger or
    the visit (``authorization``).
    """
    found = ctx.history.authorization(ctx.visit)
    if found is None:
        return NO_HITS
    auth, counts = found.value, ctx.payer.authorization.counts
    allowed = auth.visits if counts == "visits" else auth.units
    this_visit = 1 if counts == "visits" else sum(line.units for line in ctx.lines if line.code.therapy)
    hits: list[Hit] = []
    if allowed is not None and auth.used + this_visit > allowed:
        number = f" {auth.number}" if auth.number else ""
        hits.append(
            (
                None,
                (
                    f"authorization{number}: {auth.used} of {allowed} {counts} used before this visit, which needs "
                    f"{this_visit} more (from the {found.source})"
                ),
            )
        )
    return hits


@rule(
    "P003",
    "authorization-missing-or-expired",
    "error",
    "The payer requires prior authorization and none covers the date of service",
)
def authorization_missing_or_expired(ctx: ScrubContext) -> Hits:
    """Reports a visit for a payer that requires prior authorization when no authorization is known, or
    the date of service falls outside the authorization's dates.

    Why: the payer denies therapy without a valid authorization on the date of service.

    Example: the sample PPO requires authorization; a visit with none -> error; an authorization through
    2026-05-31 and a visit on 2026-06-01 -> error.

    Fix: obtain or extend the authorization, then record it.

    Source: the payer's policy file (``[authorization] required``).
    """
    if not ctx.payer.authorization.required:
        return NO_HITS
    found = ctx.history.authorization(ctx.visit)
    hits: list[Hit] = []
    if found is None:
        hits.append((None, f"{ctx.payer.name} requires prior authorization and none is on file"))
        return hits
    auth, day = found.value, ctx.visit.date
    window = DateRange.if_ordered(auth.valid_from, auth.valid_through)  # reversed (as given): covers no day
    if window is None or not window.covers(day):
        hits.append(
            (
                None,
                (
                    f"authorization{' ' + auth.number if auth.number else ''} covers {auth.valid_from.isoformat()} to "
                    f"{auth.valid_through.isoformat()}, not {day.isoformat()} (from the {found.source})"
                ),
            )
        )
    return hits


@rule(
    "P004",
    "training-bundled-with-device",
    "error",
    "97760/97761 beside an orthosis code for a payer that bundles them",
    triggers=codes_where(lambda code: code.encounter == "initial"),
)
def training_bundled_with_device(ctx: ScrubContext) -> Hits:
    """Reports an initial orthotic/prosthetic training code billed with an orthosis device code for a payer
    whose policy bundles the training into the device (``[orthotics] pays_training_with_device = false``).

    Why: AOTA allows 97760 beside an L-code when training exceeds 8 minutes, but some payers deny it on the
    date of the device code whatever the training time.

    Example: the sample HMO with 97760 (12 training minutes) and L1906 -> error.

    Fix: do not bill the training code to this payer on the device's date (it is paid in the device).

    Source: the payer's policy file; MedPayIQ versus AOTA (reference orthotics.md s. 2, 6; errata #11).
    """
    if ctx.payer.orthotics.pays_training_with_device or not ctx.has_orthosis:
        return NO_HITS
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.code.encounter == "initial":
            hits.append(
                (line.code.code, f"{ctx.payer.name} bundles {line.code.code} into the orthosis code on the same date")
            )
    return hits


@rule("P005", "telehealth", "error", "A telehealth visit the payer does not cover as billed", stage="modifiers")
def telehealth(ctx: ScrubContext) -> Hits:
    """For a telehealth visit (``"telehealth": true``), adds the payer's telehealth modifier (95) to every
    therapy line the payer covers by telehealth, and reports what it does not cover: telehealth at all, on
    that date, the code, or the place of service.

    Why: Medicare's coverage of therapists' telehealth has lapsed and been restored by date; commercial
    plans cover their own code lists with their own modifier and place-of-service rules.

    Example: a telehealth visit to the sample Medicaid plan -> error; to Medicare on 2026-03-02 with 97110 and
    place of service 10 -> 95 added; to Medicare on 2020-02-14 -> error (therapists were not Medicare
    telehealth practitioners before 2020-03-01); 92507 or 97166 to Medicare in 2026 -> 95 added.

    Fix: bill the visit as in person if it was, or confirm the payer's telehealth policy for the code.

    Source: the payer's policy file ``[telehealth]``. Medicare: from 2020-03-01 (the COVID-19 waiver that made
    PTs, OTs and SLPs telehealth practitioners, retroactive; ASHA, APTA and WebPT pages cited in
    ``payers/medicare.toml``) through 2027-12-31 (reference modifiers.md s. 7, partly confirmed); codes from
    the CMS telehealth list as given by APTA, WebPT and ASHA (same file).
    """
    decision = ctx.telehealth  # the telehealth stage's (rehabclaim.pipeline.telehealth), on a telehealth visit
    if decision is None:
        return NO_HITS
    hits: list[Hit] = []
    if not decision.covered:
        hits.append((None, f"{ctx.payer.name} does not cover therapy by telehealth on {ctx.visit.date.isoformat()}"))
        return hits
    if not decision.place_accepted:
        place = ctx.visit.place_of_service
        hits.append(
            (
                None,
                (
                    f"place of service {quote(place) if place else '(none given)'} is not one {ctx.payer.name} "
                    f"accepts for telehealth ({', '.join(ctx.payer.telehealth.place_of_service)})"
                ),
            )
        )
    for line in decision.not_listed:
        hits.append((line.code.code, f"{line.code.code} is not on {ctx.payer.name}'s telehealth list"))
    return hits


@rule(
    "P006",
    "category-iii-not-covered",
    "warning",
    "A Category III code the payer does not cover: likely denial, patient liability notice",
    triggers=codes_where(lambda code: code.kind == "Category III"),
)
def category_iii_not_covered(ctx: ScrubContext) -> Hits:
    """Warns about a Category III code (0770T-0774T) that the payer's policy does not list as covered.

    Why: Category III codes track emerging technology; many payers do not pay them, and Medicare prices them
    by contractor if at all. The patient can be billed only after a liability notice (an ABN for Medicare)
    signed before the service.

    Example: 0770T with 97110 for Medicare -> warning.

    Fix: give the patient a liability notice before the service (for Medicare an ABN, with modifier GA), or
    do not bill the code.

    Source: the payer's policy file ``[category_iii] covered``; reference xr-vr-codes.md s. 1 (contractor
    pricing), modifiers.md s. 4 (ABN, GA).
    """
    covered = ctx.payer.category_iii.covered
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.code.kind == "Category III" and line.code.code not in covered:
            hits.append(
                (
                    line.code.code,
                    (
                        f"{ctx.payer.name} does not list {line.code.code} as covered: expect a denial; get a signed "
                        "liability notice (ABN for Medicare) before billing the patient"
                    ),
                )
            )
    return hits
