"""The 837P (005010X222A1) professional claim, as typed models rendered to segments.

Each model mirrors a loop of the implementation guide (reference x12.md s. 1, from pyx12's map):
1000A submitter, 1000B receiver, 2000A/2010AA billing provider, 2000B/2010BA subscriber with 2010BB payer,
2000C/2010CA patient (only when the patient is not the subscriber), 2300 claim, 2310B rendering provider,
2400 service line. Segments are built only here, by ``segments()`` methods; nothing else concatenates X12.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import msgspec

from rehabclaim.x12.core import Envelope, Separators, collector_paused, render

Segments = list[list[str]]


CENT = Decimal("0.01")


def money(amount: Decimal) -> str:
    """X12 decimal: cents at most, no trailing zeros after the point, no point for whole amounts (120, 65.5)."""
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        amount = amount.quantize(CENT)
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def d8(day: date) -> str:
    """CCYYMMDD."""
    return day.isoformat().replace("-", "")


class Address(msgspec.Struct, frozen=True):
    line1: str
    city: str
    state: str
    zip: str
    line2: str | None = None

    def segments(self) -> Segments:
        n3 = ["N3", self.line1] + ([self.line2] if self.line2 else [])
        return [n3, ["N4", self.city, self.state, self.zip]]


class Person(msgspec.Struct, frozen=True):
    last_name: str
    first_name: str
    birth_date: date
    sex: str  # F, M or U
    address: Address
    member_id: str | None = None


class Submitter(msgspec.Struct, frozen=True):
    name: str
    id: str
    contact_name: str
    phone: str


class Receiver(msgspec.Struct, frozen=True):
    name: str
    id: str


class BillingProvider(msgspec.Struct, frozen=True):
    name: str
    npi: str
    tax_id: str
    address: Address
    taxonomy: str | None = None


class RenderingProvider(msgspec.Struct, frozen=True):
    npi: str
    last_name: str
    first_name: str
    taxonomy: str | None = None


class PayerId(msgspec.Struct, frozen=True):
    name: str
    id: str
    filing_indicator: str  # SBR09: MB Medicare Part B, MC Medicaid, CI commercial, ...


class ServiceLine(msgspec.Struct, frozen=True):
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    units: int
    pointers: tuple[int, ...]  # 1-based positions in the claim's diagnoses (at most 4)
    service_date: date
    control_number: str | None = None  # REF*6R, echoed back on the 835

    def segments(self, number: int, separators: Separators) -> Segments:
        composite = separators.component.join(["HC", self.code, *self.modifiers])
        pointers = separators.component.join(str(p) for p in self.pointers)
        found = [
            ["LX", str(number)],
            ["SV1", composite, money(self.charge), "UN", str(self.units), "", "", pointers],
            ["DTP", "472", "D8", d8(self.service_date)],
        ]
        if self.control_number:
            found.append(["REF", "6R", self.control_number])
        return found


class Claim(msgspec.Struct, frozen=True):
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

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal(0))

    def segments(self, hl_number: int, parent: int, separators: Separators) -> tuple[Segments, int]:
        """The claim's segments and the next free HL number."""
        c = separators.component
        has_patient = self.patient is not None
        found: Segments = [
            ["HL", str(hl_number), str(parent), "22", "1" if has_patient else "0"],
            ["SBR", "P", "" if has_patient else "18", "", "", "", "", "", "", self.payer.filing_indicator],
            [
                "NM1",
                "IL",
                "1",
                self.subscriber.last_name,
                self.subscriber.first_name,
                "",
                "",
                "",
                "MI",
                self.subscriber.member_id or "",
            ],
            *self.subscriber.address.segments(),
            ["DMG", "D8", d8(self.subscriber.birth_date), self.subscriber.sex],
            ["NM1", "PR", "2", self.payer.name, "", "", "", "", "PI", self.payer.id],
        ]
        next_hl = hl_number + 1
        if self.patient is not None:
            found += [
                ["HL", str(next_hl), str(hl_number), "23", "0"],
                ["PAT", self.patient_relationship or "G8"],
                ["NM1", "QC", "1", self.patient.last_name, self.patient.first_name],
                *self.patient.address.segments(),
                ["DMG", "D8", d8(self.patient.birth_date), self.patient.sex],
            ]
            next_hl += 1
        found.append(
            [
                "CLM",
                self.control_number,
                money(self.total_charge),
                "",
                "",
                c.join([self.place_of_service, "B", self.frequency]),
                "Y",
                "A",
                "Y",
                "Y",
            ]
        )
        if self.payer_claim_control_number:
            found.append(["REF", "F8", self.payer_claim_control_number])
        if self.prior_authorization:
            found.append(["REF", "G1", self.prior_authorization])
        codes = [c.join(["ABK" if i == 0 else "ABF", code]) for i, code in enumerate(self.diagnoses)]
        found.append(["HI", *codes])
        if self.rendering_provider is not None:
            r = self.rendering_provider
            found.append(["NM1", "82", "1", r.last_name, r.first_name, "", "", "", "XX", r.npi])
            if r.taxonomy:
                found.append(["PRV", "PE", "PXC", r.taxonomy])
        for number, line in enumerate(self.lines, start=1):
            found += line.segments(number, separators)
        return found, next_hl


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

    def segments(self) -> Segments:
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
        hl = 2
        for claim in self.claims:
            claim_segments, hl = claim.segments(hl, 1, s)
            transaction += claim_segments
        transaction.append(["SE", str(len(transaction) + 1), f"{self.transaction_control_number:04d}"])
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
        return [*envelope.header(s), *transaction, *envelope.trailer()]

    def render(self) -> str:
        with collector_paused():  # a large interchange is a large tree of short lists
            return render(self.segments(), self.separators)
