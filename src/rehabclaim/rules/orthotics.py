"""Orthotic and prosthetic training rules: encounter sequencing, device codes, regions, units."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine
from rehabclaim.rules.base import NO_HITS, Hit, Hits, codes_where, rule

INITIAL_ENCOUNTER_CODES = codes_where(lambda code: code.encounter == "initial")


def _initial_encounter_lines(ctx: ScrubContext) -> list[WorkLine]:
    return [line for line in ctx.lines if line.code.encounter == "initial"]


@rule(
    "O001",
    "initial-code-on-subsequent-encounter",
    "error",
    "An initial-encounter orthotic/prosthetic code billed at a later encounter",
    triggers=INITIAL_ENCOUNTER_CODES,
)
def initial_code_on_subsequent_encounter(ctx: ScrubContext) -> Hits:
    """Reports 97760 or 97761 on a visit that says it is not the initial orthotic encounter
    (``"initial_orthotic_encounter": false``), naming the code for later encounters.

    Why: since 2018 97760/97761 are for the initial encounter only; every later encounter (adjustments,
    further training, custom or prefabricated) is 97763.

    Example: 97760 with ``initial_orthotic_encounter: false`` -> error "bill 97763".

    Fix: bill 97763 for the same minutes.

    Source: AOTA "Orthotics"; PT Management 2018 changes (reference orthotics.md s. 1-2).
    """
    if ctx.visit.initial_orthotic_encounter is not False:
        return NO_HITS
    hits: list[Hit] = []
    for line in _initial_encounter_lines(ctx):
        instead = f"; bill {line.code.subsequent_code}" if line.code.subsequent_code else ""
        hits.append(
            (
                line.code.code,
                f"{line.code.code} is for the initial encounter only and this is a later one{instead}",
            )
        )
    return hits


@rule(
    "O002",
    "training-beside-device-too-short",
    "error",
    "97760/97761 beside an orthosis L-code without more than 8 minutes of training",
    triggers=INITIAL_ENCOUNTER_CODES,
)
def training_beside_device_too_short(ctx: ScrubContext) -> Hits:
    """Reports 97760 or 97761 billed with an orthosis device code (L-code) the same day when the documented
    training minutes are not more than the threshold (8), or are not documented. With a device code on
    the visit only training minutes count toward the training code's units (fitting is part of the
    device code).

    Why: the L-code pays for fitting the device; the training code is billable beside it only for
    training, and only when the training alone exceeded 8 minutes.

    Example: 97760 20 min with 6 training minutes and L1906 -> error.

    Fix: document the training minutes separately, or do not bill the training code.

    Source: AOTA "Orthotics" (reference orthotics.md s. 2; errata #11).
    """
    if not ctx.has_orthosis:
        return NO_HITS
    over = ctx.thresholds.orthotic_device_training_minutes_over
    hits: list[Hit] = []
    for line in _initial_encounter_lines(ctx):
        training = line.training_minutes
        if training is None:
            hits.append(
                (
                    line.code.code,
                    f"{line.code.code} is billed with an orthosis code but no training minutes are documented",
                )
            )
        elif training <= over:
            hits.append(
                (
                    line.code.code,
                    (
                        f"{line.code.code} is billed with an orthosis code and {training} training min; "
                        f"more than {over} are needed"
                    ),
                )
            )
    return hits


@rule(
    "O003",
    "same-region-orthotic-and-prosthetic",
    "error",
    "97760 and 97761 on the same visit for the same body region",
    triggers=codes_where(lambda code: bool(code.same_region_conflicts)),
)
def same_region_orthotic_and_prosthetic(ctx: ScrubContext) -> Hits:
    """Reports an initial orthotic code and an initial prosthetic code billed on one visit for the same
    body region (or where a region is not stated on either).

    Why: orthotic and prosthetic initial training for one region are not reported together; payers deny
    the second code as duplicate training.

    Example: 97760 and 97761 both ``"body_region": "lower"`` -> error.

    Fix: bill the one that matches the device trained, or state the different regions.

    Source: code conflicts in ``data/codes.toml`` (issue #3 rule; AOTA code descriptions, reference
    orthotics.md s. 1).
    """
    seen: set[tuple[str, str]] = set()
    hits: list[Hit] = []
    for line in ctx.lines:
        for other_code in line.code.same_region_conflicts:
            other = ctx.line_for(other_code)
            pair = tuple(sorted((line.code.code, other_code)))
            if other is None or pair in seen:
                continue
            shared = line.regions & other.regions
            if shared or not line.regions or not other.regions:
                seen.add((pair[0], pair[1]))
                region = ", ".join(sorted(shared)) if shared else "an unstated region"
                hits.append(
                    (
                        line.code.code,
                        f"{pair[0]} and {pair[1]} are billed for the same body region ({region})",
                    )
                )
    return hits


@rule(
    "O004",
    "many-initial-orthotic-units",
    "warning",
    "Four or more units of an initial orthotic/prosthetic training code",
    triggers=INITIAL_ENCOUNTER_CODES,
)
def many_initial_orthotic_units(ctx: ScrubContext) -> Hits:
    """Warns when an initial orthotic or prosthetic training code reaches the unit threshold (4) on one
    visit.

    Why: an hour or more of initial orthotic training is unusual and draws review; the record must show
    each unit's training.

    Example: 97760 for 60 minutes (4 units) -> warning.

    Fix: check that the documentation supports every unit.

    Source: threshold in ``data/thresholds.toml`` (sample figure); audit triggers in reference
    orthotics.md s. 5.
    """
    limit = ctx.thresholds.orthotic_units_warning_at
    hits: list[Hit] = []
    for line in _initial_encounter_lines(ctx):
        if line.units >= limit:
            hits.append(
                (
                    line.code.code,
                    f"{line.code.code} billed for {line.units} units; {limit}+ units draw review",
                )
            )
    return hits


@rule(
    "O005",
    "initial-code-after-recorded-encounter",
    "error",
    "97760/97761 when the ledger already holds an orthotic encounter for the body region",
    triggers=INITIAL_ENCOUNTER_CODES,
)
def initial_code_after_recorded_encounter(ctx: ScrubContext) -> Hits:
    """Reports 97760 or 97761 when the patient's ledger already holds an orthotic/prosthetic encounter for
    the same body region (or one with no region recorded), naming the code for later encounters. The
    visit's own ``initial_orthotic_encounter`` flag wins when given: the therapist knows when a new
    device starts a new initial encounter.

    Why: 97760/97761 are for the initial encounter only; a second "initial" encounter for the same region
    is a frequent audit finding.

    Example: 97760 for the lower extremity posted on 2026-06-01; another 97760 for the lower extremity on
    2026-06-15 -> error "bill 97763".

    Fix: bill 97763, or set ``initial_orthotic_encounter: true`` if this is a new device and a new
    initial encounter.

    Source: AOTA "Orthotics"; PT Management 2018 changes (reference orthotics.md s. 1-2, 5); the ledger.
    """
    if ctx.visit.initial_orthotic_encounter is not None:
        return NO_HITS
    hits: list[Hit] = []
    for line in _initial_encounter_lines(ctx):
        for region in sorted(line.regions) or [""]:
            found = ctx.history.has_orthotic_encounter(ctx.visit, region)
            if found is not None and found.value:
                instead = f"; bill {line.code.subsequent_code}" if line.code.subsequent_code else ""
                where = f"the {region} region" if region else "this patient"
                hits.append(
                    (
                        line.code.code,
                        (
                            f"the {found.source} already holds an orthotic encounter for {where}: {line.code.code} "
                            f"is for the initial encounter only{instead}"
                        ),
                    )
                )
                break
    return hits


@rule(
    "O006",
    "later-encounter-code-on-initial-encounter",
    "error",
    "97763 billed at the initial orthotic/prosthetic encounter",
    triggers=codes_where(lambda code: code.encounter == "subsequent"),
)
def subsequent_code_on_initial_encounter(ctx: ScrubContext) -> Hits:
    """Reports 97763 on a visit that says it is the initial orthotic or prosthetic encounter
    (``"initial_orthotic_encounter": true``), naming the initial-encounter codes. A 97763 for a stated body
    region other than that of a 97760/97761 on the same visit passes: a later encounter for another device.

    Why: 97763 is for the encounters after the first; the first encounter is 97760 (orthotic) or 97761
    (prosthetic). 97763 at the initial encounter is the wrong code and is denied or corrected on review.

    Example: 97763 with ``initial_orthotic_encounter: true`` -> error "bill 97760 or 97761".

    Fix: bill 97760 (orthotic management and training) or 97761 (prosthetic training) for the same minutes.

    Source: AOTA "Orthotics"; PT Management 2018 changes (reference orthotics.md s. 1-2); encounter codes
    in ``data/codes.toml``.
    """
    if ctx.visit.initial_orthotic_encounter is not True:
        return NO_HITS
    initial_regions = {region for line in _initial_encounter_lines(ctx) for region in line.regions}
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.code.encounter != "subsequent":
            continue
        if line.regions and initial_regions and not line.regions & initial_regions:
            continue  # the initial encounter is for another device
        initial = sorted(code.code for code in ctx.catalog.codes.values() if code.subsequent_code == line.code.code)
        instead = f"; bill {' or '.join(initial)}" if initial else ""
        hits.append(
            (
                line.code.code,
                f"{line.code.code} is for encounters after the initial one and this is the initial encounter{instead}",
            )
        )
    return hits
