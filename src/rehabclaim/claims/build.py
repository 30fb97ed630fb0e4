"""From a scrubbed visit to the typed 837P claim (and the checks an X12 validator cannot make)."""

from __future__ import annotations

from decimal import Decimal

from rehabclaim.claims.npi import npi_valid
from rehabclaim.claims.text import name, plain
from rehabclaim.diagnoses.icd10 import normalize
from rehabclaim.errors import quote
from rehabclaim.model import Address, Line, Patient, Physician, ScrubResult, Subscriber, Visit
from rehabclaim.practice import ClaimSettings, PracticeAddress
from rehabclaim.x12 import claim837 as x12
from rehabclaim.x12.core import X12WriteError

MAX_POINTERS = 4  # SV107 holds four diagnosis pointers


class ClaimBuildError(ValueError):
    """A claim that fails a check the X12 validator cannot make (a bug, never a user error)."""


class ClaimDataError(X12WriteError):
    """Visit claim data the 837P cannot carry, each problem naming the visit field (the visit is held back)."""


def address(value: Address | PracticeAddress) -> x12.Address:
    """As ``claims.text.claim_fields`` lists it: lines and city in plain ASCII."""
    line2 = plain(value.line2) if value.line2 else None
    return x12.Address(line1=plain(value.line1), city=plain(value.city), state=value.state, zip=value.zip, line2=line2)


def person(who: Patient | Subscriber, member_id: str | None) -> x12.Person:
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
        subscriber, dependent, relationship = person(patient, patient.member_id), None, None
    else:
        subscriber = person(visit.subscriber, visit.subscriber.member_id)
        dependent, relationship = person(patient, None), visit.subscriber.relationship
    referring = referring_provider(visit, settings)  # worked out once: checked here, then on the claim
    problems = claim_data_problems(visit, settings, referring)
    if problems:
        raise ClaimDataError("; ".join(problems))
    diagnoses = tuple(normalize(code) for code in visit.diagnoses)
    billed = [line for line in result.lines if line.units > 0]
    lines = []
    for number, line in enumerate(billed, start=1):
        services = _services_of(visit, line)  # once a line, for its pointers and its place
        line_charge = Decimal(str(line.charge))
        lines.append(
            x12.ServiceLine(
                code=line.code,
                modifiers=tuple(line.modifiers),
                charge=line_charge,
                units=line.units,
                pointers=line_pointers(visit, line, diagnoses, services),
                service_date=visit.date,
                control_number=f"{visit.id}-{number}",
                place_of_service=line_place_of_service(visit, line, services),
            )
        )
    rendering = visit.rendering_provider
    if rendering is not None and rendering.npi == settings.billing_provider.npi:
        rendering = None  # 2310B only when the rendering provider differs from the billing provider
    claim = x12.Claim(
        control_number=visit.id,
        payer=x12.PayerId(name=payer.name, id=payer.id, filing_indicator=payer.filing_indicator),
        subscriber=subscriber,
        diagnoses=diagnoses,
        lines=tuple(lines),
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
        referring_provider=referring,
        initial_treatment_date=visit.initial_treatment_date,
        attachments=tuple(x12.Attachment(a.type, a.transmission, a.control) for a in visit.attachments),
        note=None if visit.claim_note is None else x12.ClaimNote(visit.claim_note.code, plain(visit.claim_note.text)),
    )
    verify_claim(claim, result)
    return claim


def _services_of(visit: Visit, line: Line) -> list[int]:
    """Indexes of the visit's services billed on ``line`` (services with one code share one line)."""
    return [i for i, service in enumerate(visit.services) if service.code.strip().upper() == line.code]


def line_pointers(
    visit: Visit, line: Line, diagnoses: tuple[str, ...], services: list[int] | None = None
) -> tuple[int, ...]:
    """SV107: the HI positions (1-based) of the diagnoses the line's services name, in their order; a line
    whose services name none points to the first four, as before (``claim_data_problems`` has checked
    that every named diagnosis is on the claim and that at most four are named). ``services``: the
    line's ``_services_of``, when known."""
    services = _services_of(visit, line) if services is None else services
    named = [normalize(code) for i in services for code in visit.services[i].diagnoses]
    positions = list(dict.fromkeys(diagnoses.index(code) + 1 for code in named))
    return tuple(positions) or tuple(range(1, min(len(diagnoses), MAX_POINTERS) + 1))


def line_place_of_service(visit: Visit, line: Line, services: list[int] | None = None) -> str | None:
    """SV105: "only when different from CLM05-1" (reference x12.md s. 1); the line's services agree on it
    (``claim_data_problems``). ``services``: the line's ``_services_of``, when known."""
    claim_place = visit.place_of_service or "11"
    services = _services_of(visit, line) if services is None else services
    places = {visit.services[i].place_of_service for i in services} - {None, claim_place}
    return places.pop() if places else None


def physician_name(physician: Physician) -> tuple[str, str | None]:
    """NM103 and NM104: the last and first names when given, else the whole ``name`` as NM103."""
    if physician.last_name:
        return name(physician.last_name), name(physician.first_name) if physician.first_name else None
    return name(physician.name or ""), None


def referring_provider(visit: Visit, settings: ClaimSettings) -> x12.ReferringProvider | None:
    """2310A: the plan of care's certifying physician, when it has an NPI and a name and is not the rendering
    or billing provider itself (a provider does not refer to itself)."""
    physician = visit.plan_of_care.certifying_physician if visit.plan_of_care else None
    if physician is None or not physician.npi or not (physician.last_name or physician.name):
        return None
    own = {settings.billing_provider.npi, visit.rendering_provider.npi if visit.rendering_provider else None}
    if physician.npi in own:
        return None
    last_name, first_name = physician_name(physician)
    return x12.ReferringProvider(npi=physician.npi, last_name=last_name, first_name=first_name)


def claim_data_problems(
    visit: Visit, settings: ClaimSettings, referring: x12.ReferringProvider | None = None
) -> list[str]:
    """What the optional therapy claim fields hold that the 837P cannot carry, each naming its field (the
    element checks, lengths and characters, are rule X006's, from ``claims.text.claim_fields``).
    ``referring``: the visit's ``referring_provider``, when already worked out."""
    problems = _line_problems(visit)
    referring = referring_provider(visit, settings) if referring is None else referring
    if referring is not None and not npi_valid(referring.npi):
        problems.append(
            f"plan_of_care.certifying_physician.npi {quote(referring.npi)} is not a valid NPI "
            "(10 digits with a Luhn check digit; 837P 2310A NM109)"
        )
    problems += _place_of_service_problems(visit)
    if visit.initial_treatment_date is not None and visit.initial_treatment_date > visit.date:
        problems.append("initial_treatment_date is after the visit's date (837P DTP*454)")
    for i, attachment in enumerate(visit.attachments):
        problems += _attachment_problems(
            f"attachments[{i}]", attachment.type, attachment.transmission, attachment.control
        )
    if visit.claim_note is not None and x12.code_problem("NTE01", visit.claim_note.code) is not None:
        problems.append(f"claim_note.code {quote(visit.claim_note.code)} is not one of {_codes('NTE01')} (837P NTE01)")
    return problems


def _place_of_service_problems(visit: Visit) -> list[str]:
    """Places of service that are not CMS codes (837P CLM05-1, SV105: pyx12 refuses them)."""
    places = [(-1, visit.place_of_service), *enumerate(service.place_of_service for service in visit.services)]
    return [
        f"{_place_path(i)} {quote(code)} is not a CMS place-of-service code (837P {'CLM05-1' if i < 0 else 'SV105'}; "
        f"data/{x12.CODE_TABLE})"
        for i, code in places
        if code is not None and code not in x12.PLACES_OF_SERVICE
    ]


def _place_path(index: int) -> str:
    """The visit field of a place of service: the claim's (``index`` -1) or the service's at ``index``."""
    return "place_of_service" if index < 0 else f"services[{index}].place_of_service"


def _line_problems(visit: Visit) -> list[str]:
    """Line diagnoses not on the claim (or past HI's 12th), too many for one line's SV107, services of one
    line (one code) with different places of service."""
    positions: dict[str, int] = {}  # each diagnosis (normalized) at its first place on the claim
    for index, code in enumerate(visit.diagnoses):
        positions.setdefault(normalize(code), index)
    problems = []
    by_code: dict[str, list[int]] = {}
    for i, service in enumerate(visit.services):
        by_code.setdefault(service.code.strip().upper(), []).append(i)
        for j, code in enumerate(service.diagnoses):
            position = positions.get(normalize(code))
            if position is None:
                problems.append(
                    f"services[{i}].diagnoses[{j}] {quote(code)} is not among the visit's diagnoses "
                    "(SV107 points into the claim's HI)"
                )
            elif position >= x12.MAX_DIAGNOSES:
                problems.append(
                    f"services[{i}].diagnoses[{j}] {quote(code)} is past the 12th diagnosis; SV107 points only to "
                    "HI01-HI12"
                )
    for indexes in by_code.values():
        named = {normalize(code) for i in indexes for code in visit.services[i].diagnoses}
        if len(named) > MAX_POINTERS:
            problems.append(f"services[{indexes[0]}].diagnoses: one line (code) names {len(named)}; SV107 holds 4")
        if len({visit.services[i].place_of_service or visit.place_of_service for i in indexes}) > 1:
            problems.append(f"services[{indexes[-1]}].place_of_service differs between services billed on one line")
    return problems


def _attachment_problems(path: str, report_type: str, transmission: str, control: str | None) -> list[str]:
    found = []
    if x12.code_problem("PWK01", report_type) is not None:
        found.append(f"{path}.type {quote(report_type)} is not an attachment report type code (837P PWK01, {_table()})")
    if x12.code_problem("PWK02", transmission) is not None:
        found.append(f"{path}.transmission {quote(transmission)} is not one of {_codes('PWK02')} (837P PWK02)")
    elif transmission == "AA" and control:
        found.append(f"{path}.control is not sent for AA (available on request at the provider; 837P PWK06)")
    elif transmission != "AA" and not control:
        found.append(f"{path}.control is required when the attachment is sent ({transmission}; 837P PWK06)")
    return found


def _codes(reference: str) -> str:
    return ", ".join(sorted(x12.CODES[reference]))


def _table() -> str:
    return f"data/{x12.CODE_TABLE}"


def verify_claim(claim: x12.Claim, result: ScrubResult) -> None:
    """What pyx12 does not check: CLM02 equals the sum of SV102 (and the scrub's billable charges), every
    line has units above zero and at most four modifiers."""
    expected = sum((Decimal(str(line.charge)) for line in result.lines if line.units > 0), Decimal(0))
    if claim.total_charge != expected:
        raise ClaimBuildError(f"claim {claim.control_number}: CLM02 {claim.total_charge} != lines {expected}")
    for line in claim.lines:
        if line.units <= 0 or len(line.modifiers) > 4 or not line.pointers:
            raise ClaimBuildError(f"claim {claim.control_number}: line {line.code} cannot be sent as built")
