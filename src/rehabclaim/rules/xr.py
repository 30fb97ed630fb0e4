"""XR and VR code rules: the patient's age for VR procedural dissociation, and add-on units from minutes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from rehabclaim.context import ScrubContext
from rehabclaim.rules.base import Hit, codes_where, rule


def age_on(birth: date, day: date) -> int:
    """Whole years of age on ``day``; someone born on 29 February turns a year older on 1 March in other
    years."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@rule(
    "V001",
    "patient-below-minimum-age",
    "error",
    "A code billed for a patient younger than its minimum age (0771T-0774T: 5)",
    triggers=codes_where(lambda code: code.min_age_years is not None),
)
def patient_below_minimum_age(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports a code with a minimum age (VR procedural dissociation 0771T-0774T: 5 years) billed for a
    patient younger than that on the date of service, from ``patient.birth_date``. Without a birth date
    the rule cannot tell and says nothing (a claim needs the birth date anyway).

    Why: VR procedural dissociation is not reported for patients younger than 5; the payer denies the code
    on the patient's age.

    Example: 0771T on 2026-06-01 for a patient born 2021-06-02 (4 years old) -> error; born 2021-06-01
    (5 that day) -> no finding.

    Fix: do not bill VR procedural dissociation for a child under 5; check the birth date if it is wrong.

    Source: CPT 2023 guidance for 0771T-0774T as summarised by American Medical Coding, and the 0771T/0773T
    descriptors shown by Coding Ahead (reference xr-vr-codes.md s. 2); ages in ``data/codes.toml``.
    """
    patient = ctx.visit.patient
    if patient is None or patient.birth_date is None:
        return
    age = age_on(patient.birth_date, ctx.visit.date)
    for line in ctx.lines:
        least = line.code.min_age_years
        if least is not None and age < least:
            yield (
                line.code.code,
                f"{line.code.code} is not reported for a patient under {least}; the patient is {age} on the date of "
                "service",
            )


@rule(
    "V002",
    "units-unsupported-by-minutes",
    "error",
    "Units of a per-15-minute add-on (0772T/0774T) that its documented minutes do not support",
    triggers=codes_where(lambda code: code.minutes_per_unit is not None),
)
def units_unsupported_by_minutes(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports an add-on billed per 15 minutes of its own intraservice time (0772T, 0774T: each further
    15 minutes after the first code's) when the service has no minutes, or states more units than its
    minutes support. The engine bills the units the minutes support: a unit once more than half of it has
    passed (8-22 minutes 1 unit, 23-37 minutes 2, ...).

    Why: the add-on pays per 15 minutes of VR procedural dissociation beyond the first 15; units without
    the minutes behind them are denied or recovered on review.

    Example: 0771T and 0772T with 20 minutes and ``"units": 3`` -> error (20 minutes support 1 unit);
    0772T with no minutes -> error; 0772T with 30 minutes -> 2 units, no finding.

    Fix: document the intraservice minutes after the first 15 on the add-on service (start and stop
    times), and bill the units they support.

    Source: 0772T/0774T are add-ons for each further 15 minutes (Coding Ahead, OpenPayer; reference
    xr-vr-codes.md s. 2); CPT's time convention, "a unit of time is attained when the mid-point is passed"
    (reference units.md s. 6); the CPT table for these codes was not found (unconfirmed); minutes per unit
    in ``data/codes.toml``.
    """
    for line in ctx.lines:
        per_unit = line.code.minutes_per_unit
        if per_unit is None:
            continue
        code = line.code.code
        if line.minutes is None:
            yield code, f"{code} is billed per {per_unit} min of its own time but the service has no minutes"
        elif line.stated_units is not None and line.stated_units > line.units:
            yield (
                code,
                (
                    f"{code}: {line.stated_units} units stated but {line.minutes} min support {line.units} "
                    f"(one per {per_unit} min, once more than half of it has passed)"
                ),
            )
