"""The 837P (005010X222A1) professional claim, as typed models rendered to segments.

Each model mirrors a loop of the implementation guide (reference x12.md s. 1, from pyx12's map):
1000A submitter, 1000B receiver, 2000A/2010AA billing provider, 2000B/2010BA subscriber with 2010BB payer,
2000C/2010CA patient (only when the patient is not the subscriber), 2300 claim (with DTP*454, PWK, NTE),
2310A referring provider, 2310B rendering provider, 2320/2330A/2330B the primary payer on a secondary claim
(``OtherPayer``), 2400 service line with its 2430 line adjudication (``LineAdjudication``). Segments are built
only here, by ``segments()`` methods and one function per loop of ``Claim``; nothing else concatenates X12.
Their bodies, and those of ``values()``, are in ``loops837``, compiled (performance: they run for every claim).

Invalid output is impossible by construction. Every element is checked against the X12 data element it
fills (the table in ``data/x12-837p-elements.toml``, derived from pyx12's 005010X222A1 map: type, length
limits; printable ASCII only; composite parts are codes of letters and digits): a ``Claim`` cannot be
created with a value that does not fit (``Claim.values`` lists every value that is not a constant of the
writer; the tests check the constants), ``Interchange.render`` checks the envelope and header element by
element and then the whole text (``core.render``: no separator or control character inside an element)
and raises ``X12WriteError`` rather than return a corrupt interchange. Visit data is refused long before,
in therapist words naming the field, by the claim-data rule X006; these checks catch what a bug lets by.

The claim models are frozen and hold only scalars, tuples and other such models: they cannot form a reference
cycle, so they are left out of the cyclic garbage collector (``gc=False``): a claim run holds a chunk of claims
at a time, and tracked they would make every full collection walk them (performance).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import cast

import msgspec

from rehabclaim.datafiles import load_toml
from rehabclaim.x12 import loops837 as loops
from rehabclaim.x12.core import (
    TEXT_TYPES,
    ElementSpec,
    Envelope,
    Separators,
    X12WriteError,
    collector_paused,
    d8,
    element_problem,
    render,
    suspect_values,
)

Element = loops.Element  # a tuple holds a composite element's parts (kept apart to be checked)
Segments = loops.Segments
Compose = loops.Compose  # what becomes of a composite's parts: kept, or joined
ELEMENT_TABLE = "x12-837p-elements.toml"
CODE_TABLE = "x12-837p-codes.toml"  # code lists of PWK01, PWK02, NTE01 (pyx12's map, loop 2300)
COB_TABLE = "x12-837p-cob.toml"  # coordination of benefits: SBR05, 2320 SBR02, CAS01 codes and their rules
MAX_DIAGNOSES = loops.MAX_DIAGNOSES  # HI01-HI12
SEPARATOR_ELEMENTS = ("ISA11", "ISA16")  # the repetition and component separators themselves
MAX_PARTS = loops.MAX_PARTS  # modifiers SV101-03..06, diagnosis pointers SV107-01..04
MAX_AMOUNT = loops.MAX_AMOUNT  # 50 lines of it still fit CLM02 (R, 18 digits); no therapy claim comes near
MAX_ADJUSTMENT_GROUPS = 5  # CAS repeats 5 times in 2320 and in 2430 (pyx12 map): one CAS a group
MAX_ADJUSTMENTS_A_GROUP = 6  # CAS02..CAS19: six (reason, amount, quantity) triplets a segment


def parts(found: tuple[str, ...]) -> Element:
    """A composite element kept as its parts, so that each part can be checked."""
    return found


def element_specs() -> dict[str, ElementSpec]:
    """Every element reference the writer may fill (NM103, SV101-03) with its data element."""
    table = load_toml(ELEMENT_TABLE)["elements"]
    return {reference: ElementSpec(reference, **fields) for reference, fields in table.items()}


def code_lists() -> dict[str, frozenset[str]]:
    """The codes an element the writer fills from visit data may hold (PWK01, PWK02, NTE01)."""
    return {reference: frozenset(codes) for reference, codes in load_toml(CODE_TABLE)["codes"].items()}


def cob_code_lists() -> dict[str, frozenset[str]]:
    """The codes of the coordination-of-benefits elements (``COB_TABLE``)."""
    return {reference: frozenset(codes) for reference, codes in load_toml(COB_TABLE)["codes"].items()}


def places_of_service() -> frozenset[str]:
    """CMS's place-of-service codes (element 1331: CLM05-1, SV105), an external code list."""
    return frozenset(load_toml(CODE_TABLE)["external"]["pos"])


# Read once at import: the 005010X222A1 element table is package data, fixed by the guide; it cannot go stale.
SPECS = element_specs()
CODES = code_lists()
PLACES_OF_SERVICE = places_of_service()
COB_CODES = cob_code_lists()


def code_problem(reference: str, value: str) -> str | None:
    """Why ``value`` is not a code of ``reference`` (a code-listed element, ``CODES``), or None."""
    if value in CODES[reference]:
        return None
    return f"is not a code of 837P element {reference} (data/{CODE_TABLE})"


def segment_problems(segments: Segments, separators: Separators | None = None) -> Iterator[tuple[str, str]]:
    """(element reference, reason) for every element of ``segments`` that cannot be written
    (``value_problem``); omitted (empty) elements are not checked. The envelope and header pass here when
    rendered; the tests pass whole interchanges, constants included."""
    for elements in segments:
        tag = cast(str, elements[0])
        for position in range(1, len(elements)):
            value = elements[position]
            reference = f"{tag}{position:02d}"
            if isinstance(value, str):
                found = [(reference, value)]
            else:
                found = [(f"{reference}-{number:02d}", part) for number, part in enumerate(value, start=1)]
            for element, text in found:
                own = None if element in SEPARATOR_ELEMENTS else separators
                reason = value_problem(element, text, own) if text else None
                if reason is not None:
                    yield element, reason


def value_problem(reference: str, value: str, separators: Separators | None = None) -> str | None:
    """Why ``value`` cannot fill ``reference`` (``core.element_problem``), or None. This writer also puts
    only codes in composite elements (SV101, SV107, CLM05, HI): their parts are letters and digits, so no
    separator can ever hide in a part and composites are joined without a check."""
    spec = SPECS.get(reference)
    if spec is None:
        return "is not an element of the 837P as this writer knows it"
    reason = element_problem(spec, value, separators)
    if reason is None and "-" in reference and not (value.isalnum() and value.isascii()):
        return "is not a code of letters and digits"
    return reason


def value_problems(values: Sequence[tuple[str, str]], separators: Separators | None = None) -> list[tuple[int, str]]:
    """(index in ``values``, reason) for each (reference, value) whose value cannot fill its element
    (``value_problem``). The common case, where every value fits, costs one character and separator check
    over all values together and a length comparison per value (``core.suspect_values``, compiled: this runs
    for every claim built)."""
    suspects = suspect_values(values, _limits(), separators)
    found = ((index, value_problem(*values[index], separators)) for index in suspects)
    return [(index, reason) for index, reason in found if reason is not None]


@cache  # derived from SPECS alone (package data, see above): pure
def _limits() -> dict[str, tuple[int, int, str]]:
    """Per reference: minimum and maximum length, and what it holds: text, a code (a composite's part:
    letters and digits) or a number (digits; a decimal point or sign takes the slow path)."""
    return {
        reference: (spec.min, spec.max, "code" if "-" in reference else "text" if spec.type in TEXT_TYPES else "number")
        for reference, spec in SPECS.items()
    }


def _check(segments: Segments, what: str) -> None:
    problems = [f"{reference} {reason}" for reference, reason in segment_problems(segments)]
    if problems:
        raise X12WriteError(f"{what}: {'; '.join(problems)}")


class Address(msgspec.Struct, frozen=True, gc=False):
    line1: str
    city: str
    state: str
    zip: str
    line2: str | None = None

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the address."""
        return loops.address_values(self)

    def segments(self) -> Segments:
        return loops.address_segments(self)


class Person(msgspec.Struct, frozen=True, gc=False):
    last_name: str
    first_name: str
    birth_date: date
    sex: str  # F, M or U
    address: Address
    member_id: str | None = None

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the person."""
        return loops.person_values(self)


class Submitter(msgspec.Struct, frozen=True, gc=False):
    name: str
    id: str
    contact_name: str
    phone: str


class Receiver(msgspec.Struct, frozen=True, gc=False):
    name: str
    id: str


class BillingProvider(msgspec.Struct, frozen=True, gc=False):
    name: str
    npi: str
    tax_id: str
    address: Address
    taxonomy: str | None = None


class RenderingProvider(msgspec.Struct, frozen=True, gc=False):
    npi: str
    last_name: str
    first_name: str
    taxonomy: str | None = None

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the rendering provider."""
        return loops.rendering_values(self)


class ReferringProvider(msgspec.Struct, frozen=True, gc=False):
    """2310A (NM1*DN): for therapy, the physician who certified the plan of care. The guide: "Required when
    this claim involves a referral" (005010X222A1 2310A situational rule); Medicare asks for the certifying
    physician's NPI there on therapy claims (reference medicare-policy.md s. 1)."""

    npi: str
    last_name: str
    first_name: str | None = None

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the referring provider."""
        return loops.referring_values(self)

    def segments(self) -> Segments:
        return loops.referring_segments(self)


class Attachment(msgspec.Struct, frozen=True, gc=False):
    """2300 PWK: a report sent (or held) for the claim. PWK05/PWK06 (AC, the attachment control number) go
    together (syntax P0506) and are left out for AA (available on request at the provider: nothing is sent)."""

    report_type: str  # PWK01
    transmission: str  # PWK02
    control_number: str | None = None  # PWK06

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the attachment."""
        return loops.attachment_values(self)

    def problems(self) -> list[str]:
        """The code and pairing checks the element table cannot make."""
        found = [
            f"{reference} {reason}"
            for reference, value in (("PWK01", self.report_type), ("PWK02", self.transmission))
            if (reason := code_problem(reference, value)) is not None
        ]
        if (self.transmission == "AA") == bool(self.control_number):
            found.append("PWK06 (attachment control number) is required unless PWK02 is AA, and not sent with AA")
        return found

    def segments(self) -> Segments:
        return loops.attachment_segments(self)


class ClaimNote(msgspec.Struct, frozen=True, gc=False):
    """2300 NTE (once a claim): "Required when in the judgment of the provider, the information is needed to
    substantiate the medical treatment and is not supported elsewhere within the claim data set"."""

    code: str  # NTE01
    text: str  # NTE02

    def values(self) -> list[tuple[str, str]]:
        return [("NTE01", self.code), ("NTE02", self.text)]

    def segments(self) -> Segments:
        return [["NTE", self.code, self.text]]


class PayerId(msgspec.Struct, frozen=True, gc=False):
    name: str
    id: str
    filing_indicator: str  # SBR09: MB Medicare Part B, MC Medicaid, CI commercial, ...


class Adjustment(msgspec.Struct, frozen=True, gc=False):
    """One CAS triplet as the other payer's 835 gave it (group CO/OA/PI/PR, CARC reason, amount, quantity)."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


def adjustment_values(adjustments: Sequence[Adjustment]) -> list[tuple[str, str]]:
    """As ``Claim.values``, for CAS triplets (amounts are bounded by ``adjustment_problems``)."""
    return loops.adjustment_values(adjustments)


def adjustment_problems(adjustments: Sequence[Adjustment], where: str) -> list[str]:
    """Groups outside the 5010 codes, more groups or reasons than CAS holds, amounts beyond ``MAX_AMOUNT``."""
    problems = []
    groups: dict[str, int] = {}
    for adjustment in adjustments:
        groups[adjustment.group] = groups.get(adjustment.group, 0) + 1
        if adjustment.group not in COB_CODES["CAS01"]:
            problems.append(f"{where} CAS01 {adjustment.group!r} is not a 5010 adjustment group (data/{COB_TABLE})")
        if not -MAX_AMOUNT < adjustment.amount < MAX_AMOUNT:
            problems.append(f"{where} CAS03 amount is not below {MAX_AMOUNT} in size")
    if len(groups) > MAX_ADJUSTMENT_GROUPS or any(count > MAX_ADJUSTMENTS_A_GROUP for count in groups.values()):
        problems.append(f"{where} CAS: more groups (5) or reasons a group (6) than the 837P holds")
    return problems


def adjustment_segments(adjustments: Sequence[Adjustment]) -> Segments:
    """CAS: one segment a group, in the order the groups first appear, its (reason, amount, quantity)
    triplets in the 835's order (CAS02-CAS19)."""
    return loops.adjustment_segments(adjustments)


def adjustment_total(adjustments: Iterable[Adjustment]) -> Decimal:
    return loops.adjustment_total(adjustments)


class LineAdjudication(msgspec.Struct, frozen=True, gc=False):
    """2430: how the other payer (2330B) adjudicated one service line, from its posted 835 (SVC and CAS)."""

    payer_id: str  # SVD01: the other payer's id, as in 2330B NM109
    paid: Decimal  # SVD02
    code: str  # SVD03-02: the procedure code as adjudicated
    modifiers: tuple[str, ...]  # SVD03-03..06
    units: Decimal  # SVD05: units paid
    adjustments: tuple[Adjustment, ...]  # CAS (up to 5 groups)
    adjudicated: date  # DTP*573 (R in 2430)
    remaining_patient_liability: Decimal | None = None  # AMT*EAF: line level when the payer gave lines

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the line adjudication."""
        return loops.adjudication_values(self)

    def problems(self) -> list[str]:
        found = adjustment_problems(self.adjustments, "2430")
        amounts = [self.paid, self.units, self.remaining_patient_liability or Decimal(0)]
        if len(self.modifiers) > MAX_PARTS or any(not -MAX_AMOUNT < amount < MAX_AMOUNT for amount in amounts):
            found.append("2430 SVD: more than four modifiers, or an amount beyond the 837P's")
        return found

    def segments(self, compose: Compose = parts) -> Segments:
        return loops.adjudication_segments(self, compose)


class OtherPayer(msgspec.Struct, frozen=True, gc=False):
    """2320 other subscriber information, 2330A other subscriber, 2330B other payer: on a secondary claim,
    the primary payer and how it adjudicated the claim (its posted 835). Rules and sources: ``COB_TABLE``."""

    payer: PayerId  # 2330B NM103/NM109 and 2320 SBR09
    subscriber: Person  # 2330A: the primary's insured, with the primary's member id
    relationship: str  # 2320 SBR02: the patient's relationship to that insured (18 self)
    paid: Decimal  # 2320 AMT*D: what the primary paid on the claim (CLP04)
    adjustments: tuple[Adjustment, ...]  # 2320 CAS: the claim-level adjustments (lines' are in 2430)
    adjudicated: date  # 2330B DTP*573 when no line was adjudicated (2430 carries it otherwise)
    remaining_patient_liability: Decimal | None = None  # 2320 AMT*EAF: only with claim-level adjudication
    sequence: str = "P"  # 2320 SBR01: the other payer's place (P: it is the primary)

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the other payer."""
        return loops.other_payer_values(self)

    def problems(self) -> list[str]:
        found = adjustment_problems(self.adjustments, "2320")
        if self.relationship not in COB_CODES["SBR02"]:
            found.append(f"2320 SBR02 {self.relationship!r} is not a relationship code (data/{COB_TABLE})")
        if not self.subscriber.member_id:
            found.append("2330A NM109 (the other insured's member id) is required")
        amounts = [self.paid, self.remaining_patient_liability or Decimal(0)]
        if any(not -MAX_AMOUNT < amount < MAX_AMOUNT for amount in amounts):
            found.append(f"2320 AMT: an amount is not below {MAX_AMOUNT} in size")
        return found


class ServiceLine(msgspec.Struct, frozen=True, gc=False):
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    units: int
    pointers: tuple[int, ...]  # 1-based positions in the claim's diagnoses (at most 4)
    service_date: date
    control_number: str | None = None  # REF*6R, echoed back on the 835
    place_of_service: str | None = None  # SV105: only when it differs from CLM05-1 (the builder decides)
    service_end: date | None = None  # DTP*472 RD8 from service_date to this day, when later than it
    adjudication: LineAdjudication | None = None  # 2430, on a secondary claim: the primary's adjudication

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the line."""
        return loops.line_values(self)

    def service_dates(self) -> list[Element]:
        """2400 DTP*472: D8 for one day; RD8 (CCYYMMDD-CCYYMMDD, DTP02 allows both in pyx12's map) when the
        service spans days."""
        return loops.service_dates(self)

    def segments(self, number: int, compose: Compose = parts) -> Segments:
        """2400 (LX, SV1, DTP*472, REF*6R) and its 2430."""
        return loops.line_segments(self, number, compose)


class Claim(msgspec.Struct, frozen=True, gc=False):
    """One claim: the 2000B subscriber (and 2000C patient) hierarchy with its 2300 claim and 2400 lines."""

    control_number: str  # CLM01, the patient control number (our visit id), echoed as CLP01 on the 835
    payer: PayerId
    subscriber: Person
    diagnoses: tuple[str, ...]  # ICD-10-CM without the dot; the first is the principal diagnosis
    lines: tuple[ServiceLine, ...]
    place_of_service: str = "11"
    frequency: str = "1"  # 1 original, 7 replacement, 8 void
    payer_claim_control_number: str | None = None  # REF*F8, required for frequency 7 and 8
    prior_authorization: str | None = None  # REF*G1
    patient: Person | None = None  # when the patient is not the subscriber
    patient_relationship: str | None = None  # PAT01 code for that patient (19 child, 01 spouse, ...)
    rendering_provider: RenderingProvider | None = None
    referring_provider: ReferringProvider | None = None  # 2310A
    initial_treatment_date: date | None = None  # 2300 DTP*454
    attachments: tuple[Attachment, ...] = ()  # 2300 PWK, at most 10
    note: ClaimNote | None = None  # 2300 NTE
    sequence: str = "P"  # 2000B SBR01: P primary, S secondary (the destination payer's place)
    insurance_type: str | None = None  # 2000B SBR05: Medicare as a secondary payer (data/x12-837p-cob.toml)
    other_payer: OtherPayer | None = None  # 2320/2330A/2330B: on a secondary claim, the primary payer

    @property
    def total_charge(self) -> Decimal:
        return loops.total_charge(self.lines)

    def __post_init__(self) -> None:
        """Refuse to exist with a value its element cannot hold (``X12WriteError``); the constant elements
        around them are checked by the tests (every segment against the table, see ``segment_problems``)."""
        values = loops.claim_values(self)
        problems = [f"{values[index][0]} {reason}" for index, reason in value_problems(values)]
        problems += loops.shape_problems(self)
        for attachment in self.attachments:
            problems += attachment.problems()
        if self.note is not None and (reason := code_problem("NTE01", self.note.code)) is not None:
            problems.append(f"NTE01 {reason}")
        problems += self.coordination_problems()
        if problems:
            raise X12WriteError(f"claim {self.control_number[:38]!r}: {'; '.join(problems)}")

    def coordination_problems(self) -> list[str]:
        """A secondary claim's checks: SBR05 codes, the other payer's and each line's adjudication, and the
        balance the guide asks (``COB_TABLE``): each adjudicated line's SV102 = SVD02 + its CAS, and CLM02 =
        AMT*D + the claim's CAS + the lines' CAS."""
        problems = []
        if self.insurance_type is not None and self.insurance_type not in COB_CODES["SBR05"]:
            problems.append(f"SBR05 {self.insurance_type!r} is not an insurance type code (data/{COB_TABLE})")
        adjudications = [line.adjudication for line in self.lines if line.adjudication is not None]
        if self.other_payer is None:
            return problems + (["2430 line adjudication without a 2320 other payer"] if adjudications else [])
        problems += self.other_payer.problems()
        for line in self.lines:
            if line.adjudication is not None:
                problems += line.adjudication.problems()
                if line.adjudication.paid + adjustment_total(line.adjudication.adjustments) != line.charge:
                    problems.append(f"line {line.code}: SV102 is not SVD02 plus the 2430 CAS amounts")
        line_adjusted = sum((adjustment_total(a.adjustments) for a in adjudications), Decimal(0))
        if self.other_payer.paid + adjustment_total(self.other_payer.adjustments) + line_adjusted != self.total_charge:
            problems.append("CLM02 is not 2320 AMT*D plus the claim's and the lines' CAS amounts")
        return problems

    def values(self) -> list[tuple[str, str]]:
        """Every value of the claim that is not a constant of the writer, with the element it fills."""
        return loops.claim_values(self)

    def segments(self, hl_number: int, parent: int, compose: Compose = parts) -> tuple[Segments, int]:
        """The claim's segments and the next free HL number: one function per loop (``loops837``:
        ``subscriber_loop``, ``patient_loop``, ``claim_loop``, ``rendering_loop``, ``other_payer_loops``), in the
        guide's order."""
        return loops.claim_segments(self, hl_number, parent, compose)


class Interchange(msgspec.Struct, frozen=True):
    """One ISA..IEA interchange holding one 837P transaction with every claim."""

    sender_id: str
    receiver_id: str
    interchange_control_number: int  # ISA13
    group_control_number: int  # GS06
    transaction_control_number: int  # ST02
    created: datetime
    submitter: Submitter
    receiver: Receiver
    billing_provider: BillingProvider
    claims: tuple[Claim, ...]
    usage: str = "P"  # ISA15: P production, T test
    separators: Separators = Separators()

    def segments(self, compose: Compose = parts) -> Segments:
        """Every segment, envelope included; the envelope and header are checked here, the claims were
        checked when they were created."""
        s, created = self.separators, self.created
        transaction: Segments = [
            ["ST", "837", f"{self.transaction_control_number:04d}", "005010X222A1"],
            [
                "BHT",
                "0019",
                "00",
                f"{self.interchange_control_number}",
                d8(created.date()),
                created.strftime("%H%M"),
                "CH",
            ],
            ["NM1", "41", "2", self.submitter.name, "", "", "", "", "46", self.submitter.id],
            ["PER", "IC", self.submitter.contact_name, "TE", self.submitter.phone],
            ["NM1", "40", "2", self.receiver.name, "", "", "", "", "46", self.receiver.id],
            ["HL", "1", "", "20", "1"],
        ]
        provider = self.billing_provider
        if provider.taxonomy:
            transaction.append(["PRV", "BI", "PXC", provider.taxonomy])
        transaction += [
            ["NM1", "85", "2", provider.name, "", "", "", "", "XX", provider.npi],
            *provider.address.segments(),
            ["REF", "EI", provider.tax_id],
        ]
        envelope = Envelope(
            self.sender_id,
            self.receiver_id,
            self.interchange_control_number,
            self.group_control_number,
            created,
            "HC",
            "005010X222A1",
            self.usage,
        )
        found: Segments = [*cast(Segments, envelope.header(s)), *transaction]
        _check(found, "interchange header")
        hl = 2
        for claim in self.claims:
            claim_segments, hl = claim.segments(hl, 1, compose)
            found += claim_segments
        count = len(found) - 2 + 1  # ST..SE, without ISA and GS
        se: list[Element] = ["SE", str(count), f"{self.transaction_control_number:04d}"]
        trailer: Segments = [se, *cast(Segments, envelope.trailer())]
        _check(trailer, "interchange trailer")
        found += trailer
        return found

    def render(self) -> str:
        """The interchange's text; ``X12WriteError`` (nothing returned) if any element is bad."""
        with collector_paused():  # a large interchange is a large tree of short lists
            joined = self.segments(self.separators.component.join)  # parts are codes (see value_problem)
            return render(cast(list[list[str]], joined), self.separators)
