"""The bodies of the 837P claim models' methods (``claim837``): the values each model checks when it is created,
the structural checks of ``Claim``, and the segments of each loop of a claim, in the guide's order.

They live apart from the models so that mypyc compiles them (``scripts/compile``): they run for every claim
built and written, while the models stay plain Python (mypyc's classes hide the type hints msgspec reads to
build a Struct). The models' methods and ``claim837``'s loop functions call these; nothing else should.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rehabclaim.x12.core import d8, money

if TYPE_CHECKING:  # the models import this module; to mypyc they are Python objects read by attribute
    from rehabclaim.x12.claim837 import (
        Address,
        Adjustment,
        Attachment,
        Claim,
        LineAdjudication,
        OtherPayer,
        Person,
        ReferringProvider,
        RenderingProvider,
        ServiceLine,
    )

Element = str | tuple[str, ...]  # a tuple holds a composite element's parts (kept apart to be checked)
Segments = list[list[Element]]
Compose = Callable[[tuple[str, ...]], Element]  # what becomes of a composite's parts: kept, or joined
Values = list[tuple[str, str]]  # (element reference, value), as ``Claim.values`` lists them
MAX_ATTACHMENTS = 10  # 2300 PWK repeats 10 times (pyx12 map)
MAX_DIAGNOSES = 12  # HI01-HI12
MAX_PARTS = 4  # modifiers SV101-03..06, diagnosis pointers SV107-01..04
MAX_AMOUNT: Decimal = Decimal(10) ** 12  # 50 lines of it still fit CLM02 (R, 18 digits); no therapy claim comes near


def total_charge(lines: Sequence[ServiceLine]) -> Decimal:
    """CLM02: the sum of the lines' charges (SV102)."""
    total = Decimal(0)
    for line in lines:
        total += line.charge
    return total


def adjustment_total(adjustments: Iterable[Adjustment]) -> Decimal:
    total = Decimal(0)
    for adjustment in adjustments:
        total += adjustment.amount
    return total


def shape_problems(claim: Claim) -> list[str]:
    """The checks of ``Claim`` the element table cannot make: amounts and counts the 837P holds, pointers into
    the diagnoses."""
    problems = []
    lines = claim.lines
    if any(not -MAX_AMOUNT < line.charge < MAX_AMOUNT for line in lines):  # so CLM02 and SV102 fit
        problems.append(f"a line charge is not below {MAX_AMOUNT} in size (SV102)")
    too_many = any(len(line.modifiers) > MAX_PARTS or len(line.pointers) > MAX_PARTS for line in lines)
    if len(claim.diagnoses) > MAX_DIAGNOSES or too_many or len(claim.attachments) > MAX_ATTACHMENTS:
        problems.append("more diagnoses (HI), modifiers (SV101), pointers (SV107) or PWK than the 837P holds")
    diagnoses = len(claim.diagnoses)
    if any(pointer > diagnoses for line in lines for pointer in line.pointers):
        problems.append("a diagnosis pointer (SV107) points past the diagnoses (HI)")
    return problems


def address_values(address: Address) -> Values:
    found = [("N301", address.line1), ("N401", address.city), ("N402", address.state), ("N403", address.zip)]
    if address.line2:
        found.append(("N302", address.line2))
    return found


def address_segments(address: Address) -> Segments:
    n3: list[Element] = ["N3", address.line1, address.line2] if address.line2 else ["N3", address.line1]
    return [n3, ["N4", address.city, address.state, address.zip]]


def person_values(person: Person) -> Values:
    found = [("NM103", person.last_name), ("NM104", person.first_name), ("DMG03", person.sex)]
    found += address_values(person.address)
    if person.member_id is not None:
        found.append(("NM109", person.member_id))
    return found


def rendering_values(rendering: RenderingProvider) -> Values:
    found = [("NM103", rendering.last_name), ("NM104", rendering.first_name), ("NM109", rendering.npi)]
    if rendering.taxonomy:
        found.append(("PRV03", rendering.taxonomy))
    return found


def referring_values(referring: ReferringProvider) -> Values:
    found = [("NM103", referring.last_name), ("NM109", referring.npi)]
    if referring.first_name:
        found.append(("NM104", referring.first_name))
    return found


def referring_segments(referring: ReferringProvider) -> Segments:
    return [["NM1", "DN", "1", referring.last_name, referring.first_name or "", "", "", "", "XX", referring.npi]]


def attachment_values(attachment: Attachment) -> Values:
    found = [("PWK01", attachment.report_type), ("PWK02", attachment.transmission)]
    if attachment.control_number:
        found.append(("PWK06", attachment.control_number))
    return found


def attachment_segments(attachment: Attachment) -> Segments:
    if not attachment.control_number:
        return [["PWK", attachment.report_type, attachment.transmission]]
    return [["PWK", attachment.report_type, attachment.transmission, "", "", "AC", attachment.control_number]]


def adjustment_values(adjustments: Sequence[Adjustment]) -> Values:
    return [("CAS02", adjustment.reason) for adjustment in adjustments]


def adjustment_segments(adjustments: Sequence[Adjustment]) -> Segments:
    by_group: dict[str, list[Element]] = {}
    for adjustment in adjustments:
        quantity = "" if adjustment.quantity is None else money(adjustment.quantity)
        by_group.setdefault(adjustment.group, []).extend([adjustment.reason, money(adjustment.amount), quantity])
    return [["CAS", group, *triplets] for group, triplets in by_group.items()]


def adjudication_values(adjudication: LineAdjudication) -> Values:
    found = [("SVD01", adjudication.payer_id), ("SVD03-02", adjudication.code)]
    found += adjustment_values(adjudication.adjustments)
    return found + [("SVD03-03", modifier) for modifier in adjudication.modifiers]


def adjudication_segments(adjudication: LineAdjudication, compose: Compose) -> Segments:
    found: Segments = [
        [
            "SVD",
            adjudication.payer_id,
            money(adjudication.paid),
            compose(("HC", adjudication.code, *adjudication.modifiers)),
            "",
            money(adjudication.units),
        ]
    ]
    found += adjustment_segments(adjudication.adjustments)
    found.append(["DTP", "573", "D8", d8(adjudication.adjudicated)])
    if adjudication.remaining_patient_liability is not None:
        found.append(["AMT", "EAF", money(adjudication.remaining_patient_liability)])
    return found


def other_payer_values(other: OtherPayer) -> Values:
    found = [
        ("SBR01", other.sequence),
        ("SBR02", other.relationship),
        ("SBR09", other.payer.filing_indicator),
        ("NM103", other.payer.name),
        ("NM109", other.payer.id),
    ]
    found += adjustment_values(other.adjustments)
    subscriber = other.subscriber
    found += [("NM103", subscriber.last_name), ("NM104", subscriber.first_name)]
    return found + address_values(subscriber.address)


def line_values(line: ServiceLine) -> Values:
    found = [("SV101-02", line.code), ("SV104", str(line.units))]
    found += [("SV101-03", modifier) for modifier in line.modifiers]
    found += [("SV107-01", str(pointer)) for pointer in line.pointers]
    if line.control_number:
        found.append(("REF02", line.control_number))
    if line.place_of_service:
        found.append(("SV105", line.place_of_service))
    if line.adjudication is not None:
        found += adjudication_values(line.adjudication)
    return found


def service_dates(line: ServiceLine) -> list[Element]:
    if line.service_end is None or line.service_end <= line.service_date:
        return ["DTP", "472", "D8", d8(line.service_date)]
    return ["DTP", "472", "RD8", f"{d8(line.service_date)}-{d8(line.service_end)}"]


def line_segments(line: ServiceLine, number: int, compose: Compose) -> Segments:
    """2400 (LX, SV1, DTP*472, REF*6R) and its 2430."""
    found: Segments = [
        ["LX", str(number)],
        [
            "SV1",
            compose(("HC", line.code, *line.modifiers)),
            money(line.charge),
            "UN",
            str(line.units),
            line.place_of_service or "",
            "",
            compose(tuple([str(pointer) for pointer in line.pointers])),
        ],
        service_dates(line),
    ]
    if line.control_number:
        found.append(["REF", "6R", line.control_number])
    if line.adjudication is not None:
        found += adjudication_segments(line.adjudication, compose)  # 2430 follows the 2400 segments
    return found


def claim_values(claim: Claim) -> Values:
    """``Claim.values``."""
    payer = claim.payer
    found = [
        ("CLM01", claim.control_number),
        ("CLM05-01", claim.place_of_service),
        ("CLM05-03", claim.frequency),
        ("NM103", payer.name),
        ("NM109", payer.id),
        ("SBR09", payer.filing_indicator),
    ]
    found += person_values(claim.subscriber)
    found += [("HI01-02", code) for code in claim.diagnoses]
    if claim.patient is not None:
        found += person_values(claim.patient)
        found.append(("PAT01", claim.patient_relationship or "G8"))
    for number in (claim.payer_claim_control_number, claim.prior_authorization):
        if number:
            found.append(("REF02", number))
    if claim.rendering_provider is not None:
        found += rendering_values(claim.rendering_provider)
    if claim.referring_provider is not None:
        found += referring_values(claim.referring_provider)
    for attachment in claim.attachments:
        found += attachment_values(attachment)
    if claim.note is not None:
        found += [("NTE01", claim.note.code), ("NTE02", claim.note.text)]
    if claim.other_payer is not None:
        found += other_payer_values(claim.other_payer)
    for line in claim.lines:
        found += line_values(line)
    return found


def claim_segments(claim: Claim, hl_number: int, parent: int, compose: Compose) -> tuple[Segments, int]:
    """``Claim.segments``: one function per loop, in the guide's order."""
    found = subscriber_loop(claim, hl_number, parent)
    next_hl = hl_number + 1
    if claim.patient is not None:
        found += patient_loop(claim.patient, claim.patient_relationship, next_hl, hl_number)
        next_hl += 1
    found += claim_loop(claim, compose)
    if claim.referring_provider is not None:
        found += referring_segments(claim.referring_provider)  # 2310A
    if claim.rendering_provider is not None:
        found += rendering_loop(claim.rendering_provider)
    lines = claim.lines
    if claim.other_payer is not None:
        found += other_payer_loops(claim.other_payer, any(line.adjudication for line in lines))
    for number, line in enumerate(lines, start=1):
        found += line_segments(line, number, compose)  # 2400
    return found, next_hl


def subscriber_loop(claim: Claim, hl_number: int, parent: int) -> Segments:
    """2000B subscriber level, 2010BA subscriber, 2010BB payer."""
    subscriber, has_patient, payer = claim.subscriber, claim.patient is not None, claim.payer
    found: Segments = [
        ["HL", str(hl_number), str(parent), "22", "1" if has_patient else "0"],
        [
            "SBR",
            claim.sequence,
            "" if has_patient else "18",
            "",
            "",
            claim.insurance_type or "",
            "",
            "",
            "",
            payer.filing_indicator,
        ],
        ["NM1", "IL", "1", subscriber.last_name, subscriber.first_name, "", "", "", "MI", subscriber.member_id or ""],
    ]
    found += address_segments(subscriber.address)
    found.append(["DMG", "D8", d8(subscriber.birth_date), subscriber.sex])
    found.append(["NM1", "PR", "2", payer.name, "", "", "", "", "PI", payer.id])
    return found


def patient_loop(patient: Person, relationship: str | None, hl_number: int, parent: int) -> Segments:
    """2000C patient level and 2010CA patient (only when the patient is not the subscriber)."""
    found: Segments = [
        ["HL", str(hl_number), str(parent), "23", "0"],
        ["PAT", relationship or "G8"],
        ["NM1", "QC", "1", patient.last_name, patient.first_name],
    ]
    found += address_segments(patient.address)
    found.append(["DMG", "D8", d8(patient.birth_date), patient.sex])
    return found


def claim_loop(claim: Claim, compose: Compose) -> Segments:
    """2300 in the map's order: CLM, DTP (1350), PWK (1550), REF (1800), NTE (1900), HI (2310)."""
    found: Segments = [
        [
            "CLM",
            claim.control_number,
            money(total_charge(claim.lines)),
            "",
            "",
            compose((claim.place_of_service, "B", claim.frequency)),
            "Y",
            "A",
            "Y",
            "Y",
        ]
    ]
    if claim.initial_treatment_date is not None:
        # "Required when the Initial Treatment Date is known to impact adjudication for claims involving
        # spinal manipulation, physical therapy, occupational therapy, speech language pathology, ..."
        found.append(["DTP", "454", "D8", d8(claim.initial_treatment_date)])
    for attachment in claim.attachments:
        found += attachment_segments(attachment)
    if claim.payer_claim_control_number:
        found.append(["REF", "F8", claim.payer_claim_control_number])
    if claim.prior_authorization:
        found.append(["REF", "G1", claim.prior_authorization])
    if claim.note is not None:
        found.append(["NTE", claim.note.code, claim.note.text])
    hi: list[Element] = ["HI"]
    qualifier = "ABK"  # the principal diagnosis, then ABF for the others
    for code in claim.diagnoses:
        hi.append(compose((qualifier, code)))
        qualifier = "ABF"
    found.append(hi)
    return found


def other_payer_loops(other: OtherPayer, lines_adjudicated: bool) -> Segments:
    """2320 (SBR, CAS, AMT*D, AMT*EAF, OI), 2330A other subscriber (NM1*IL, N3, N4), 2330B other payer (NM1*PR,
    DTP*573 when no 2430 carries the date). OI03 Y and OI06 Y as CLM08 and CLM09 say; OI04 (patient signature
    source) is left out, as CLM10 is."""
    subscriber = other.subscriber
    found: Segments = [
        ["SBR", other.sequence, other.relationship, "", "", "", "", "", "", other.payer.filing_indicator]
    ]
    found += adjustment_segments(other.adjustments)
    found.append(["AMT", "D", money(other.paid)])
    if other.remaining_patient_liability is not None:
        found.append(["AMT", "EAF", money(other.remaining_patient_liability)])
    found.append(["OI", "", "", "Y", "", "", "Y"])
    found.append(
        ["NM1", "IL", "1", subscriber.last_name, subscriber.first_name, "", "", "", "MI", subscriber.member_id or ""]
    )
    found += address_segments(subscriber.address)
    found.append(["NM1", "PR", "2", other.payer.name, "", "", "", "", "PI", other.payer.id])
    if not lines_adjudicated:
        found.append(["DTP", "573", "D8", d8(other.adjudicated)])
    return found


def rendering_loop(rendering: RenderingProvider) -> Segments:
    """2310B rendering provider (the therapist) with its taxonomy."""
    found: Segments = [["NM1", "82", "1", rendering.last_name, rendering.first_name, "", "", "", "XX", rendering.npi]]
    if rendering.taxonomy:
        found.append(["PRV", "PE", "PXC", rendering.taxonomy])
    return found
