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


class Patient(msgspec.Struct):
    id: str | None = None


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
    treatment_days_since_progress_report: Count | None = None


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
