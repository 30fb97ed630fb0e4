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


class Service(msgspec.Struct):
    """One documented service on a visit."""

    code: str
    minutes: Minutes | None = None
    units: Units | None = None
    training_minutes: Minutes | None = None
    assistant_minutes: Minutes | None = None
    body_region: str | None = None
    distinct: bool | None = None
    modifiers: list[str] = msgspec.field(default_factory=list)


class Patient(msgspec.Struct):
    id: str | None = None


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


class Line(msgspec.Struct):
    """One claim line: what is billed and why."""

    code: str
    units: int
    modifiers: list[str]
    minutes: int | None
    why: str


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

    @property
    def has_error(self) -> bool:
        return any(f.severity == "error" for f in self.findings)
