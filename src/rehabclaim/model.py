"""The JSON contract: a visit in, a scrub result out.

Field names and meanings here are a published contract (CLI ``--json``, later the API): fields may be
added, never renamed. Input is decoded and validated by msgspec; unknown input fields are ignored so that
callers can send richer visits than this version reads.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

Minutes = Annotated[int, msgspec.Meta(ge=0, le=24 * 60)]
Units = Annotated[int, msgspec.Meta(ge=0, le=999)]
Discipline = Literal["PT", "OT", "SLP"]
RenderedBy = Literal["therapist", "assistant"]
Severity = Literal["error", "warning", "info"]


ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Money = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class TimeBlock(msgspec.Struct):
    """A stretch of the visit (HH:MM, 24-hour clock) during which the service was furnished."""

    start: ClockTime
    end: ClockTime


class Service(msgspec.Struct):
    """One documented service on a visit."""

    code: str
    minutes: Minutes | None = None
    units: Units | None = None
    training_minutes: Minutes | None = None
    assistant_minutes: Minutes | None = None
    body_region: str | None = None
    distinct: bool | None = None
    distinct_modifier: str | None = None  # the X{EPSU} (or 59) that fits, when the caller knows it
    time_blocks: list[TimeBlock] = msgspec.field(default_factory=list)
    modifiers: list[str] = msgspec.field(default_factory=list)


Sex = Literal["F", "M", "U"]


class Address(msgspec.Struct):
    line1: str
    city: str
    state: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
    zip: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{5}([0-9]{4})?$")]
    line2: str | None = None


class Patient(msgspec.Struct):
    """The patient; the fields after ``id`` are needed only for a claim."""

    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    member_id: str | None = None
    address: Address | None = None


class Subscriber(msgspec.Struct):
    """The insured, when it is not the patient; ``relationship`` is the patient's relationship to them
    (X12 PAT01: 01 spouse, 19 child, G8 other)."""

    first_name: str
    last_name: str
    birth_date: date
    sex: Sex
    member_id: str
    address: Address
    relationship: str = "G8"


class RenderingProvider(msgspec.Struct):
    npi: str
    first_name: str
    last_name: str


class Physician(msgspec.Struct):
    npi: str | None = None
    name: str | None = None


class PlanOfCare(msgspec.Struct):
    """The certified plan of care the visit falls under (for callers without a ledger)."""

    certified_from: date
    certified_through: date
    certifying_physician: Physician | None = None


class Authorization(msgspec.Struct):
    """A payer's prior authorization: visits or units allowed in a date range, and how many were used
    before this visit (for callers without a ledger)."""

    valid_from: date = msgspec.field(name="from")
    valid_through: date = msgspec.field(name="through")
    number: str | None = None
    visits: Count | None = None
    units: Count | None = None
    used: Count = 0


class Visit(msgspec.Struct):
    """One visit: the unit of scrubbing."""

    id: str
    date: date
    payer: str
    discipline: Discipline
    services: Annotated[list[Service], msgspec.Meta(min_length=1)]
    rendered_by: RenderedBy = "therapist"
    initial_orthotic_encounter: bool | None = None
    diagnoses: list[str] = msgspec.field(default_factory=list)
    patient: Patient | None = None
    telehealth: bool = False
    place_of_service: str | None = None
    authorization: Authorization | None = None
    plan_of_care: PlanOfCare | None = None
    # allowed amounts this calendar year before this visit, by benefit: "PT_SLP" and "OT"
    therapy_allowed_ytd: dict[str, Money] | None = None
    progress_report: bool = False  # a progress report was written at this visit
    # treatment days since the last progress report, the report's day counted as day 1, this visit not counted
    treatment_days_since_progress_report: Count | None = None
    # claim data (optional for a scrub, required for a claim)
    subscriber: Subscriber | None = None
    rendering_provider: RenderingProvider | None = None
    claim_frequency: Literal["1", "7", "8"] = "1"  # 1 original, 7 replacement, 8 void
    payer_claim_control_number: str | None = None  # the payer's number for the claim being replaced or voided


class Line(msgspec.Struct):
    """One claim line: what is billed and why."""

    code: str
    units: int
    modifiers: list[str]
    minutes: int | None
    why: str
    charge: float | None = None  # the practice's charge for the line (charge master x units)
    expected: float | None = None  # the estimated payment; null when the fee schedule gives none
    expected_why: str = ""  # every step of the estimate


class Finding(msgspec.Struct):
    """A rule's verdict on the visit, a line or a diagnosis."""

    rule: str
    severity: Severity
    code: str | None
    message: str


class ScrubResult(msgspec.Struct):
    id: str
    payer: str
    method: str
    total_timed_minutes: int
    total_timed_units: int
    lines: list[Line]
    findings: list[Finding]
    total_charge: float = 0.0
    total_expected: float = 0.0  # lines without an estimate count as nothing

    @property
    def has_error(self) -> bool:
        return any(f.severity == "error" for f in self.findings)
