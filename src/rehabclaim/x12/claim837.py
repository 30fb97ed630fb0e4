"""The 837P (005010X222A1) professional claim, as typed models rendered to segments.

Each model mirrors a loop of the implementation guide (reference x12.md s. 1, from pyx12's map):
1000A submitter, 1000B receiver, 2000A/2010AA billing provider, 2000B/2010BA subscriber with 2010BB payer,
2000C/2010CA patient (only when the patient is not the subscriber), 2300 claim (with DTP*454, PWK, NTE),
2310A referring provider, 2310B rendering provider, 2320/2330A/2330B the primary payer on a secondary claim
(``OtherPayer``), 2400 service line with its 2430 line adjudication (``LineAdjudication``). Segments are built
only here, by ``segments()`` methods and one function per loop of ``Claim``; nothing else concatenates X12.

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

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import cast

import msgspec

from rehabclaim.datafiles import load_toml
from rehabclaim.x12.core import (
    TEXT_TYPES,
    ElementSpec,
    Envelope,
    Separators,
    X12WriteError,
    collector_paused,
    d8,
    element_problem,
    money,
    render,
    suspect_values,
)

Element = str | tuple[str, ...]  # a tuple holds a composite element's parts (kept apart to be checked)
Segments = list[list[Element]]
Compose = Callable[[tuple[str, ...]], Element]  # what becomes of a composite's parts: kept, or joined
ELEMENT_TABLE = "x12-837p-elements.toml"
CODE_TABLE = "x12-837p-codes.toml"  # code lists of PWK01, PWK02, NTE01 (pyx12's map, loop 2300)
COB_TABLE = "x12-837p-cob.toml"  # coordination of benefits: SBR05, 2320 SBR02, CAS01 codes and their rules
MAX_ATTACHMENTS = 10  # 2300 PWK repeats 10 times (pyx12 map)
MAX_DIAGNOSES = 12  # HI01-HI12
SEPARATOR_ELEMENTS = ("ISA11", "ISA16")  # the repetition and component separators themselves
MAX_PARTS = 4  # modifiers SV101-03..06, diagnosis pointers SV107-01..04
MAX_AMOUNT = Decimal(10) ** 12  # 50 lines of it still fit CLM02 (R, 18 digits); no therapy claim comes near
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
        found = [("N301", self.line1), ("N401", self.city), ("N402", self.state), ("N403", self.zip)]
        if self.line2:
            found.append(("N302", self.line2))
        return found

    def segments(self) -> Segments:
        n3: list[Element] = ["N3", self.line1, *([self.line2] if self.line2 else [])]
        return [n3, ["N4", self.city, self.state, self.zip]]


class Person(msgspec.Struct, frozen=True, gc=False):
    last_name: str
    first_name: str
    birth_date: date
    sex: str  # F, M or U
    address: Address
    member_id: str | None = None

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the person."""
        found = [("NM103", self.last_name), ("NM104", self.first_name), ("DMG03", self.sex), *self.address.values()]
        if self.member_id is not None:
            found.append(("NM109", self.member_id))
        return found


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
        found = [("NM103", self.last_name), ("NM104", self.first_name), ("NM109", self.npi)]
        if self.taxonomy:
            found.append(("PRV03", self.taxonomy))
        return found


class ReferringProvider(msgspec.Struct, frozen=True, gc=False):
    """2310A (NM1*DN): for therapy, the physician who certified the plan of care. The guide: "Required when
    this claim involves a referral" (005010X222A1 2310A situational rule); Medicare asks for the certifying
    physician's NPI there on therapy claims (reference medicare-policy.md s. 1)."""

    npi: str
    last_name: str
    first_name: str | None = None

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the referring provider."""
        found = [("NM103", self.last_name), ("NM109", self.npi)]
        if self.first_name:
            found.append(("NM104", self.first_name))
        return found

    def segments(self) -> Segments:
        return [["NM1", "DN", "1", self.last_name, self.first_name or "", "", "", "", "XX", self.npi]]


class Attachment(msgspec.Struct, frozen=True, gc=False):
    """2300 PWK: a report sent (or held) for the claim. PWK05/PWK06 (AC, the attachment control number) go
    together (syntax P0506) and are left out for AA (available on request at the provider: nothing is sent)."""

    report_type: str  # PWK01
    transmission: str  # PWK02
    control_number: str | None = None  # PWK06

    def values(self) -> list[tuple[str, str]]:
        """As ``Claim.values``, for the attachment."""
        found = [("PWK01", self.report_type), ("PWK02", self.transmission)]
        if self.control_number:
            found.append(("PWK06", self.control_number))
        return found

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
        if not self.control_number:
            return [["PWK", self.report_type, self.transmission]]
        return [["PWK", self.report_type, self.transmission, "", "", "AC", self.control_number]]


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
    return [("CAS02", adjustment.reason) for adjustment in adjustments]


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
    by_group: dict[str, list[Element]] = {}
    for adjustment in adjustments:
        quantity = "" if adjustment.quantity is None else money(adjustment.quantity)
        by_group.setdefault(adjustment.group, []).extend([adjustment.reason, money(adjustment.amount), quantity])
    return [["CAS", group, *triplets] for group, triplets in by_group.items()]


def adjustment_total(adjustments: Iterable[Adjustment]) -> Decimal:
    return sum((adjustment.amount for adjustment in adjustments), Decimal(0))


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
        found = [("SVD01", self.payer_id), ("SVD03-02", self.code), *adjustment_values(self.adjustments)]
        return found + [("SVD03-03", modifier) for modifier in self.modifiers]

    def problems(self) -> list[str]:
        found = adjustment_problems(self.adjustments, "2430")
        amounts = [self.paid, self.units, self.remaining_patient_liability or Decimal(0)]
        if len(self.modifiers) > MAX_PARTS or any(not -MAX_AMOUNT < amount < MAX_AMOUNT for amount in amounts):
            found.append("2430 SVD: more than four modifiers, or an amount beyond the 837P's")
        return found

    def segments(self, compose: Compose = parts) -> Segments:
        found: Segments = [
            [
                "SVD",
                self.payer_id,
                money(self.paid),
                compose(("HC", self.code, *self.modifiers)),
                "",
                money(self.units),
            ],
            *adjustment_segments(self.adjustments),
            ["DTP", "573", "D8", d8(self.adjudicated)],
        ]
        if self.remaining_patient_liability is not None:
            found.append(["AMT", "EAF", money(self.remaining_patient_liability)])
        return found


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
        found = [
            ("SBR01", self.sequence),
            ("SBR02", self.relationship),
            ("SBR09", self.payer.filing_indicator),
            ("NM103", self.payer.name),
            ("NM109", self.payer.id),
            *adjustment_values(self.adjustments),
        ]
        subscriber = self.subscriber
        return [*found, ("NM103", subscriber.last_name), ("NM104", subscriber.first_name), *subscriber.address.values()]

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
        found = [("SV101-02", self.code), ("SV104", str(self.units))]
        found += [("SV101-03", modifier) for modifier in self.modifiers]
        found += [("SV107-01", str(pointer)) for pointer in self.pointers]
        if self.control_number:
            found.append(("REF02", self.control_number))
        if self.place_of_service:
            found.append(("SV105", self.place_of_service))
        if self.adjudication is not None:
            found += self.adjudication.values()
        return found

    def service_dates(self) -> list[Element]:
        """2400 DTP*472: D8 for one day; RD8 (CCYYMMDD-CCYYMMDD, DTP02 allows both in pyx12's map) when the
        service spans days."""
        if self.service_end is None or self.service_end <= self.service_date:
            return ["DTP", "472", "D8", d8(self.service_date)]
        return ["DTP", "472", "RD8", f"{d8(self.service_date)}-{d8(self.service_end)}"]

    def segments(self, number: int, compose: Compose = parts) -> Segments:
        found: Segments = [
            ["LX", str(number)],
            [
                "SV1",
                compose(("HC", self.code, *self.modifiers)),
                money(self.charge),
                "UN",
                str(self.units),
                self.place_of_service or "",
                "",
                compose(tuple(map(str, self.pointers))),
            ],
            self.service_dates(),
        ]
        if self.control_number:
            found.append(["REF", "6R", self.control_number])
        if self.adjudication is not None:
            found += self.adjudication.segments(compose)  # 2430 follows the 2400 segments
        return found


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
        return sum((line.charge for line in self.lines), Decimal(0))

    def __post_init__(self) -> None:
        """Refuse to exist with a value its element cannot hold (``X12WriteError``); the constant elements
        around them are checked by the tests (every segment against the table, see ``segment_problems``)."""
        values = self.values()
        problems = [f"{values[index][0]} {reason}" for index, reason in value_problems(values)]
        if any(not -MAX_AMOUNT < line.charge < MAX_AMOUNT for line in self.lines):  # so CLM02 and SV102 fit
            problems.append(f"a line charge is not below {MAX_AMOUNT} in size (SV102)")
        too_many = any(len(line.modifiers) > MAX_PARTS or len(line.pointers) > MAX_PARTS for line in self.lines)
        if len(self.diagnoses) > MAX_DIAGNOSES or too_many or len(self.attachments) > MAX_ATTACHMENTS:
            problems.append("more diagnoses (HI), modifiers (SV101), pointers (SV107) or PWK than the 837P holds")
        if any(pointer > len(self.diagnoses) for line in self.lines for pointer in line.pointers):
            problems.append("a diagnosis pointer (SV107) points past the diagnoses (HI)")
        problems += [problem for attachment in self.attachments for problem in attachment.problems()]
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
        found = [
            ("CLM01", self.control_number),
            ("CLM05-01", self.place_of_service),
            ("CLM05-03", self.frequency),
            ("NM103", self.payer.name),
            ("NM109", self.payer.id),
            ("SBR09", self.payer.filing_indicator),
            *self.subscriber.values(),
            *[("HI01-02", code) for code in self.diagnoses],
        ]
        if self.patient is not None:
            found += [*self.patient.values(), ("PAT01", self.patient_relationship or "G8")]
        found += [("REF02", number) for number in (self.payer_claim_control_number, self.prior_authorization) if number]
        if self.rendering_provider is not None:
            found += self.rendering_provider.values()
        if self.referring_provider is not None:
            found += self.referring_provider.values()
        for attachment in self.attachments:
            found += attachment.values()
        if self.note is not None:
            found += self.note.values()
        if self.other_payer is not None:
            found += self.other_payer.values()
        for line in self.lines:
            found += line.values()
        return found

    def segments(self, hl_number: int, parent: int, compose: Compose = parts) -> tuple[Segments, int]:
        """The claim's segments and the next free HL number: one function per loop, in the guide's order."""
        found = subscriber_loop(self, hl_number, parent)
        next_hl = hl_number + 1
        if self.patient is not None:
            found += patient_loop(self.patient, self.patient_relationship, next_hl, hl_number)
            next_hl += 1
        found += claim_loop(self, compose)
        if self.referring_provider is not None:
            found += self.referring_provider.segments()  # 2310A
        if self.rendering_provider is not None:
            found += rendering_loop(self.rendering_provider)
        if self.other_payer is not None:
            found += other_payer_loops(self.other_payer, any(line.adjudication for line in self.lines))
        for number, line in enumerate(self.lines, start=1):
            found += line.segments(number, compose)  # 2400
        return found, next_hl


def subscriber_loop(claim: Claim, hl_number: int, parent: int) -> Segments:
    """2000B subscriber level, 2010BA subscriber, 2010BB payer."""
    subscriber, has_patient = claim.subscriber, claim.patient is not None
    return [
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
            claim.payer.filing_indicator,
        ],
        ["NM1", "IL", "1", subscriber.last_name, subscriber.first_name, "", "", "", "MI", subscriber.member_id or ""],
        *subscriber.address.segments(),
        ["DMG", "D8", d8(subscriber.birth_date), subscriber.sex],
        ["NM1", "PR", "2", claim.payer.name, "", "", "", "", "PI", claim.payer.id],
    ]


def patient_loop(patient: Person, relationship: str | None, hl_number: int, parent: int) -> Segments:
    """2000C patient level and 2010CA patient (only when the patient is not the subscriber)."""
    return [
        ["HL", str(hl_number), str(parent), "23", "0"],
        ["PAT", relationship or "G8"],
        ["NM1", "QC", "1", patient.last_name, patient.first_name],
        *patient.address.segments(),
        ["DMG", "D8", d8(patient.birth_date), patient.sex],
    ]


def claim_loop(claim: Claim, compose: Compose) -> Segments:
    """2300 in the map's order: CLM, DTP (1350), PWK (1550), REF (1800), NTE (1900), HI (2310)."""
    found: Segments = [
        [
            "CLM",
            claim.control_number,
            money(claim.total_charge),
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
        found += attachment.segments()
    if claim.payer_claim_control_number:
        found.append(["REF", "F8", claim.payer_claim_control_number])
    if claim.prior_authorization:
        found.append(["REF", "G1", claim.prior_authorization])
    if claim.note is not None:
        found += claim.note.segments()
    found.append(["HI", *(compose(("ABK" if i == 0 else "ABF", code)) for i, code in enumerate(claim.diagnoses))])
    return found


def other_payer_loops(other: OtherPayer, lines_adjudicated: bool) -> Segments:
    """2320 (SBR, CAS, AMT*D, AMT*EAF, OI), 2330A other subscriber (NM1*IL, N3, N4), 2330B other payer (NM1*PR,
    DTP*573 when no 2430 carries the date). OI03 Y and OI06 Y as CLM08 and CLM09 say; OI04 (patient signature
    source) is left out, as CLM10 is."""
    subscriber = other.subscriber
    found: Segments = [
        ["SBR", other.sequence, other.relationship, "", "", "", "", "", "", other.payer.filing_indicator],
        *adjustment_segments(other.adjustments),
        ["AMT", "D", money(other.paid)],
    ]
    if other.remaining_patient_liability is not None:
        found.append(["AMT", "EAF", money(other.remaining_patient_liability)])
    found += [
        ["OI", "", "", "Y", "", "", "Y"],
        ["NM1", "IL", "1", subscriber.last_name, subscriber.first_name, "", "", "", "MI", subscriber.member_id or ""],
        *subscriber.address.segments(),
        ["NM1", "PR", "2", other.payer.name, "", "", "", "", "PI", other.payer.id],
    ]
    if not lines_adjudicated:
        found.append(["DTP", "573", "D8", d8(other.adjudicated)])
    return found


def rendering_loop(rendering: RenderingProvider) -> Segments:
    """2310B rendering provider (the therapist) with its taxonomy."""
    found: Segments = [["NM1", "82", "1", rendering.last_name, rendering.first_name, "", "", "", "XX", rendering.npi]]
    if rendering.taxonomy:
        found.append(["PRV", "PE", "PXC", rendering.taxonomy])
    return found


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
