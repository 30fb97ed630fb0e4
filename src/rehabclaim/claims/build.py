"""From a scrubbed visit to the typed 837P claim (and the checks an X12 validator cannot make)."""

from __future__ import annotations

from decimal import Decimal

from rehabclaim.claims.text import name, plain
from rehabclaim.diagnoses.icd10 import normalize
from rehabclaim.model import Address, Patient, ScrubResult, Subscriber, Visit
from rehabclaim.practice import ClaimSettings, PracticeAddress
from rehabclaim.x12 import claim837 as x12

MAX_POINTERS = 4  # SV107 holds four diagnosis pointers


class ClaimBuildError(ValueError):
    """A claim that fails a check the X12 validator cannot make (a bug, never a user error)."""


def address(value: Address | PracticeAddress) -> x12.Address:
    """As ``claims.text.claim_fields`` lists it: lines and city in plain ASCII."""
    line2 = plain(value.line2) if value.line2 else None
    return x12.Address(line1=plain(value.line1), city=plain(value.city), state=value.state, zip=value.zip, line2=line2)


def _person(who: Patient | Subscriber, member_id: str | None) -> x12.Person:
    assert who.last_name is not None and who.first_name is not None
    assert who.birth_date and who.sex and who.address
    return x12.Person(
        last_name=name(who.last_name),
        first_name=name(who.first_name),
        birth_date=who.birth_date,
        sex=who.sex,
        address=address(who.address),
        member_id=member_id,
    )


def build_claim(visit: Visit, result: ScrubResult, settings: ClaimSettings) -> x12.Claim:
    """The 837P claim for a visit whose scrub (with the claim rules) found no error. ``X12WriteError`` if
    an element would still be bad (the claim-data rules missed it): the caller holds the visit back."""
    patient = visit.patient
    assert patient is not None
    payer = settings.payers[result.payer]
    if visit.subscriber is None:
        subscriber, dependent, relationship = _person(patient, patient.member_id), None, None
    else:
        subscriber = _person(visit.subscriber, visit.subscriber.member_id)
        dependent, relationship = _person(patient, None), visit.subscriber.relationship
    diagnoses = tuple(normalize(code) for code in visit.diagnoses)
    pointers = tuple(range(1, min(len(diagnoses), MAX_POINTERS) + 1))
    lines = tuple(
        x12.ServiceLine(
            code=line.code,
            modifiers=tuple(line.modifiers),
            charge=Decimal(str(line.charge)),
            units=line.units,
            pointers=pointers,
            service_date=visit.date,
            control_number=f"{visit.id}-{number}",
        )
        for number, line in enumerate((line for line in result.lines if line.units > 0), start=1)
    )
    rendering = visit.rendering_provider
    if rendering is not None and rendering.npi == settings.billing_provider.npi:
        rendering = None  # 2310B only when the rendering provider differs from the billing provider
    claim = x12.Claim(
        control_number=visit.id,
        payer=x12.PayerId(name=payer.name, id=payer.id, filing_indicator=payer.filing_indicator),
        subscriber=subscriber,
        diagnoses=diagnoses,
        lines=lines,
        place_of_service=visit.place_of_service or "11",
        frequency=visit.claim_frequency,
        payer_claim_control_number=visit.payer_claim_control_number,
        prior_authorization=visit.authorization.number if visit.authorization else None,
        patient=dependent,
        patient_relationship=relationship,
        rendering_provider=None
        if rendering is None
        else x12.RenderingProvider(
            npi=rendering.npi, last_name=name(rendering.last_name), first_name=name(rendering.first_name)
        ),
    )
    verify_claim(claim, result)
    return claim


def verify_claim(claim: x12.Claim, result: ScrubResult) -> None:
    """What pyx12 does not check: CLM02 equals the sum of SV102 (and the scrub's billable charges), every
    line has units above zero and at most four modifiers."""
    expected = sum((Decimal(str(line.charge)) for line in result.lines if line.units > 0), Decimal(0))
    if claim.total_charge != expected:
        raise ClaimBuildError(f"claim {claim.control_number}: CLM02 {claim.total_charge} != lines {expected}")
    for line in claim.lines:
        if line.units <= 0 or len(line.modifiers) > 4 or not line.pointers:
            raise ClaimBuildError(f"claim {claim.control_number}: line {line.code} cannot be sent as built")
