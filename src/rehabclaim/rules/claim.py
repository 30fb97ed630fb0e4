"""Claim rules: what a claim needs beyond a clean scrub, checked before an 837P is written. They run only
when claims are built (``rehabclaim claim``), in the ``claim`` stage, and hold a visit back from the file."""

from __future__ import annotations

from collections.abc import Iterator

from rehabclaim.claims.npi import npi_valid
from rehabclaim.claims.text import ClaimField, claim_fields
from rehabclaim.context import ScrubContext
from rehabclaim.errors import quote
from rehabclaim.practice import SeparatorSettings
from rehabclaim.rules.base import Hit, rule
from rehabclaim.x12.claim837 import SPECS, value_problems
from rehabclaim.x12.core import ElementSpec, Separators

MAX_MODIFIERS = 4  # SV101-03..06 (reference x12.md s. 1, pyx12 map)
MAX_DIAGNOSES = 12  # HI01-HI12 on an 837P
MAX_LINES = 50  # 2400 loop repeat


def missing_claim_fields(ctx: ScrubContext) -> list[str]:
    """Every field a claim needs that the visit or the practice file lacks, by its path."""
    visit, missing = ctx.visit, []
    patient = visit.patient
    for name in ("first_name", "last_name", "birth_date", "sex", "address"):
        if patient is None or getattr(patient, name) is None:
            missing.append(f"patient.{name}")
    if visit.subscriber is None and (patient is None or not patient.member_id):
        missing.append("patient.member_id")
    settings = ctx.practice.claims
    if settings is None:
        missing.append(f"the practice file's [claims] section ({ctx.practice.origin})")
    elif ctx.payer.key not in settings.payers:
        missing.append(f"payer id for '{ctx.payer.key}' in the practice file's [claims.payers]")
    return missing


@rule("X001", "claim-data-missing", "error", "A field the claim needs is missing", stage="claim")
def claim_data_missing(ctx: ScrubContext) -> Iterator[Hit]:
    """Holds back a visit whose claim would lack required data: the patient's name, birth date, sex and
    address, the member id (on the patient or the subscriber), or the payer's id in the practice file.

    Why: a claim without them is rejected at the clearinghouse front door (loop 2010BA/2010BB).

    Example: a visit with ``"patient": {"id": "P100"}`` only -> error naming patient.first_name and the rest.

    Fix: complete the visit's patient (or subscriber) data, or add the payer to the practice file.

    Source: 837P 005010X222A1 loops 2010BA, 2010BB (reference x12.md s. 1).
    """
    missing = missing_claim_fields(ctx)
    if missing:
        yield None, f"claim data missing: {', '.join(missing)}"


@rule("X002", "npi-check-digit", "error", "An NPI that fails its check digit", stage="claim")
def npi_check_digit(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports a billing or rendering provider NPI that is not ten digits with a valid check digit (Luhn
    over 80840 and the first nine digits).

    Why: payers reject claims with an invalid NPI; an X12 validator does not check the digit.

    Example: rendering provider NPI 1234567890 -> error (1234567893 is valid).

    Fix: correct the NPI from NPPES.

    Source: CMS NPI check digit standard (ISO 7812 Luhn with prefix 80840); issue #5.
    """
    numbers = []
    if ctx.practice.claims is not None:
        numbers.append(("billing provider", ctx.practice.claims.billing_provider.npi))
    if ctx.visit.rendering_provider is not None:
        numbers.append(("rendering provider", ctx.visit.rendering_provider.npi))
    for who, npi in numbers:
        if not npi_valid(npi):
            yield None, f"{who} NPI {quote(npi)} is not a valid NPI (10 digits with a Luhn check digit)"


@rule("X003", "too-many-modifiers", "error", "A claim line with more than four modifiers", stage="claim")
def too_many_modifiers(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports a line that would carry more than four modifiers (SV101 holds four).

    Why: modifiers past the fourth are dropped or the claim is rejected; the payer then prices the line
    without the one that mattered.

    Example: 97110 with GP, CQ, KX, 59 and 95 -> error.

    Fix: keep the modifiers that change payment (GP/GO/GN, CQ/CO, KX, 59/X) and drop informational ones.

    Source: 837P SV101-03..06 (reference x12.md s. 1, pyx12 map).
    """
    for line in ctx.lines:
        modifiers = line.modifiers_for(line.assistant_units > 0)
        if line.units and len(modifiers) > MAX_MODIFIERS:
            yield (
                line.code.code,
                f"{line.code.code} would carry {len(modifiers)} modifiers ({' '.join(modifiers)}); at most 4",
            )


@rule(
    "X004",
    "claim-limits",
    "error",
    "No billable line, a line without a charge, or too many lines/diagnoses",
    stage="claim",
)
def claim_limits(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports a claim that cannot be written: no line with units above zero, a billable line whose code
    has no charge in the practice's charge master, more than 12 diagnoses or more than 50 lines.

    Why: an 837P line needs units above zero and a charge; HI holds 12 diagnoses and a claim 50 lines.

    Example: a visit whose only service earns no unit -> error.

    Fix: add the charge to the charge master; split a claim with more than 50 lines.

    Source: 837P SV102/SV104, HI, loop 2400 repeat (reference x12.md s. 1).
    """
    billable = [line for line in ctx.lines if line.units > 0]
    if not billable:
        yield None, "no line earns a unit: there is nothing to bill"
    for line in billable:
        if line.charge_per_unit is None:
            yield line.code.code, f"{line.code.code} has no charge in the practice's charge master"
    if len(ctx.visit.diagnoses) > MAX_DIAGNOSES:
        yield None, f"{len(ctx.visit.diagnoses)} diagnoses; an 837P holds {MAX_DIAGNOSES}"
    if len(billable) > MAX_LINES:
        yield None, f"{len(billable)} lines; an 837P claim holds {MAX_LINES}"


@rule(
    "X005",
    "corrected-claim-reference",
    "error",
    "A replacement or void claim without the payer's claim number",
    stage="claim",
)
def corrected_claim_reference(ctx: ScrubContext) -> Iterator[Hit]:
    """Reports a replacement (frequency 7) or void (frequency 8) claim without the payer's claim control
    number of the claim it replaces (REF*F8).

    Why: the payer cannot match the correction to the original and rejects it or pays it twice.

    Example: ``claim_frequency: "7"`` without ``payer_claim_control_number`` -> error.

    Fix: copy the payer claim control number from the 835 (CLP07) of the original claim.

    Source: claim frequency codes 1/7/8 (Stedi claim edit); REF*F8 practice (reference x12.md s. 1).
    """
    if ctx.visit.claim_frequency in ("7", "8") and not ctx.visit.payer_claim_control_number:
        yield None, f"frequency {ctx.visit.claim_frequency} needs payer_claim_control_number (the original's CLP07)"


def _separators(settings: SeparatorSettings) -> Separators:
    return Separators(settings.element, settings.component, settings.repetition, settings.segment)


def _claim_fields(ctx: ScrubContext) -> list[ClaimField]:
    """``claim_fields`` of the visit, listed once per scrub for X006 and X007 (kept on the context, which
    lives as long as this visit's scrub: nothing is shared between scrubs or threads)."""
    if ctx.claim_fields is None:
        ctx.claim_fields = claim_fields(ctx.visit)
    return ctx.claim_fields


def unwritable_fields(fields: list[ClaimField], separators: Separators) -> Iterator[tuple[str, str]]:
    """(field path, reason) for every value the claim would carry (``fields``) that its X12 element cannot
    hold."""
    for index, reason in value_problems([(reference, value) for _, reference, value, _ in fields], separators):
        path, reference, _, _ = fields[index]
        yield path, f"{reason} (837P element {reference}: {_limits(SPECS[reference])})"


def _limits(spec: ElementSpec) -> str:
    return f"{spec.min} character(s)" if spec.min == spec.max else f"{spec.min} to {spec.max} characters"


@rule("X006", "claim-data-unwritable", "error", "A value the 837P element it fills cannot hold", stage="claim")
def claim_data_unwritable(ctx: ScrubContext) -> Iterator[Hit]:
    """Holds back a visit with a value its 837P element cannot hold: a character that separates the file's
    segments, elements or their parts (``~ * : ^`` by default), a character outside the X12 character sets
    (printable ASCII; accented letters in names and addresses are transliterated instead, see X007), or a
    length outside the element's limits (the visit id becomes the claim number CLM01: 1-38 characters;
    names NM103 1-60 and NM104 1-35; address lines N301 1-55; city N401 2-30; member id NM109 2-80; an
    authorization or payer claim number REF02 1-50), an empty or space-ended value, or a place of service
    or diagnosis code with other than letters and digits (they go into composite elements).

    Why: a separator inside a value splits it, and everything after it is read as other segments: one
    patient's name can forge a second subscriber, or corrupt every claim in the file. An element too long
    or too short makes the clearinghouse reject the whole interchange.

    Example: ``"last_name": "DIAZ~NM1*IL*1*MALLORY"`` -> error naming patient.last_name and the ``~``;
    a 50-character visit id -> error naming id (CLM01 holds 38).

    Fix: correct the field in the visit (remove the character, shorten the value).

    Source: 837P 005010X222A1 element lengths from pyx12's map (data/x12-837p-elements.toml); X12 basic and
    extended character sets (reference x12.md); issue item 2.
    """
    settings = ctx.practice.claims
    separators = _separators(settings.separators) if settings else Separators()
    for path, reason in unwritable_fields(_claim_fields(ctx), separators):
        yield None, f"{path} {reason}"


@rule("X007", "claim-data-transliterated", "info", "Accented letters written as plain letters", stage="claim")
def claim_data_transliterated(ctx: ScrubContext) -> Iterator[Hit]:
    """Tells that a name or address has letters with accents (or typographic quotes and dashes) that the
    claim carries in plain ASCII: José Núñez is sent as JOSE NUNEZ, O’Brien as O'BRIEN.

    Why: an 837P carries only the X12 character sets (ASCII); payers match names without accents. The
    visit itself is not changed.

    Example: ``"first_name": "José"`` -> info naming patient.first_name.

    Fix: nothing to do, unless the payer has the name spelled otherwise on the member's card.

    Source: X12 basic and extended character sets (reference x12.md); issue item 2.
    """
    changed = [path for path, _, _, transliterated in _claim_fields(ctx) if transliterated]
    if changed:
        yield None, f"{', '.join(changed)}: accented letters are sent as plain letters (é as E)"
