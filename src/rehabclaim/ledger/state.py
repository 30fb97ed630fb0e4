"""A patient's state in the ledger: what was posted for them, and what the rules would read of their history
on a date of service. ``rehabclaim.services.patients`` shapes it for ``ledger show`` and the patient page.

The figures "on a day" ask ``LedgerHistory`` about a visit on that day that is not in the ledger, so they
are counted exactly as the rules count them when a visit on that day is scrubbed (the KX amount, the
treatment days since the last progress report, the plan of care, the authorization's use).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, extract, func, select

from rehabclaim.history import Benefit
from rehabclaim.ledger.history import LedgerHistory
from rehabclaim.ledger.models import AuthorizationRecord, OrthoticEncounter, PlanOfCareRecord, PostedVisit
from rehabclaim.model import Authorization, Discipline, Patient, Physician, PlanOfCare, Visit

# Longer than the ledger's visit id column (String(64)): no posted visit can have it, so the history of
# "a visit on that day" leaves out none of the posted ones.
UNPOSTED_VISIT_ID = "~" * 65


class VisitEntry(msgspec.Struct):
    """A posted visit; ``expected`` is the estimate of its therapy lines, ``allowed`` the remittance's."""

    id: str
    date: date
    payer: str
    discipline: str
    therapy_units: int
    charge: float
    expected: float
    allowed: float | None
    progress_report: bool


class AllowedEntry(msgspec.Struct):
    """The allowed amount of a year and benefit (the remittance's, else the estimate), toward the KX."""

    year: int
    benefit: str
    amount: float


class EncounterEntry(msgspec.Struct):
    """An orthotic or prosthetic training encounter; ``body_region`` is empty when the visit did not say."""

    date: date
    code: str
    body_region: str
    visit: str


class PlanEntry(msgspec.Struct):
    discipline: str
    certified_from: date
    certified_through: date
    certifying_physician: Physician


class AuthorizationEntry(msgspec.Struct):
    payer: str
    number: str | None
    visits: int | None
    units: int | None
    valid_from: date = msgspec.field(name="from")
    valid_through: date = msgspec.field(name="through")


class PatientRecord(msgspec.Struct):
    """Everything the ledger holds for a patient, oldest first (``ledger show --json`` before issue 10)."""

    patient: str
    visits: list[VisitEntry]
    allowed_by_year: list[AllowedEntry]
    orthotic_encounters: list[EncounterEntry]
    plans_of_care: list[PlanEntry]
    authorizations: list[AuthorizationEntry]


def patient_record(engine: Engine, patient: str) -> PatientRecord | None:
    """What the ledger holds for ``patient``; None when it has never posted a visit for them."""
    with engine.connect() as connection:
        visits = _visits(connection, patient)
        if not visits:
            return None
        return PatientRecord(
            patient=patient,
            visits=visits,
            allowed_by_year=_allowed_by_year(connection, patient),
            orthotic_encounters=_encounters(connection, patient),
            plans_of_care=_plans(connection, patient),
            authorizations=_authorizations(connection, patient),
        )


def patient_state(engine: Engine, patient: str) -> dict[str, Any] | None:
    """``patient_record`` as plain JSON values (dates as ISO text), for callers written before the typed
    record; new code uses ``patient_record`` or ``rehabclaim.services.patients.patient_state``."""
    record = patient_record(engine, patient)
    return None if record is None else msgspec.to_builtins(record)


def _visits(connection: Connection, patient: str) -> list[VisitEntry]:
    rows = connection.execute(
        select(
            PostedVisit.id,
            PostedVisit.date,
            PostedVisit.payer,
            PostedVisit.discipline,
            PostedVisit.therapy_units,
            PostedVisit.total_charge,
            PostedVisit.therapy_expected,
            PostedVisit.allowed,
            PostedVisit.progress_report,
        )
        .where(PostedVisit.patient_id == patient)
        .order_by(PostedVisit.date, PostedVisit.id)
    ).all()
    return [
        VisitEntry(
            id=v.id,
            date=v.date,
            payer=v.payer,
            discipline=v.discipline,
            therapy_units=v.therapy_units,
            charge=float(v.total_charge),
            expected=float(v.therapy_expected),
            allowed=None if v.allowed is None else float(v.allowed),
            progress_report=v.progress_report,
        )
        for v in rows
    ]


def _allowed_by_year(connection: Connection, patient: str) -> list[AllowedEntry]:
    year = extract("year", PostedVisit.date)
    rows = connection.execute(
        select(year, PostedVisit.benefit, func.sum(func.coalesce(PostedVisit.allowed, PostedVisit.therapy_expected)))
        .where(PostedVisit.patient_id == patient)
        .group_by(year, PostedVisit.benefit)
        .order_by(year, PostedVisit.benefit)
    ).all()
    return [AllowedEntry(int(y), benefit, float(amount)) for y, benefit, amount in rows]


def _encounters(connection: Connection, patient: str) -> list[EncounterEntry]:
    rows = connection.execute(
        select(
            OrthoticEncounter.date, OrthoticEncounter.code, OrthoticEncounter.body_region, OrthoticEncounter.visit_id
        )
        .where(OrthoticEncounter.patient_id == patient)
        .order_by(OrthoticEncounter.date)
    ).all()
    return [EncounterEntry(e.date, e.code, e.body_region, e.visit_id) for e in rows]


def _plans(connection: Connection, patient: str) -> list[PlanEntry]:
    rows = connection.execute(
        select(
            PlanOfCareRecord.discipline,
            PlanOfCareRecord.certified_from,
            PlanOfCareRecord.certified_through,
            PlanOfCareRecord.physician_npi,
            PlanOfCareRecord.physician_name,
        )
        .where(PlanOfCareRecord.patient_id == patient)
        .order_by(PlanOfCareRecord.certified_from)
    ).all()
    return [
        PlanEntry(p.discipline, p.certified_from, p.certified_through, Physician(p.physician_npi, p.physician_name))
        for p in rows
    ]


def _authorizations(connection: Connection, patient: str) -> list[AuthorizationEntry]:
    rows = connection.execute(
        select(
            AuthorizationRecord.payer,
            AuthorizationRecord.number,
            AuthorizationRecord.visits,
            AuthorizationRecord.units,
            AuthorizationRecord.valid_from,
            AuthorizationRecord.valid_through,
        )
        .where(AuthorizationRecord.patient_id == patient)
        .order_by(AuthorizationRecord.valid_from)
    ).all()
    return [AuthorizationEntry(a.payer, a.number, a.visits, a.units, a.valid_from, a.valid_through) for a in rows]


class HistoryOn:
    """The patient's history as the rules read it for a new visit on ``day`` (one not in the ledger)."""

    def __init__(self, engine: Engine, patient: str, day: date) -> None:
        self.history = LedgerHistory(engine)
        self.patient = patient
        self.day = day

    def _visit(self, discipline: Discipline = "PT", payer: str = "") -> Visit:
        return Visit(
            id=UNPOSTED_VISIT_ID,
            date=self.day,
            payer=payer,
            discipline=discipline,
            services=[],
            patient=Patient(id=self.patient),
        )

    def allowed_this_year(self, benefit: Benefit) -> Decimal:
        """The year's allowed amount for ``benefit`` through ``day`` (the remittance's, else the estimate)."""
        found = self.history.allowed_ytd(self._visit(), benefit)
        return Decimal(0) if found is None else found.value

    def treatment_days_since_progress_report(self, discipline: Discipline) -> int:
        """Treatment days before ``day`` since the last progress report (its day counted as day 1)."""
        found = self.history.treatment_days_since_progress_report(self._visit(discipline))
        return 0 if found is None else found.value

    def plan_of_care(self, discipline: Discipline) -> PlanOfCare | None:
        """The latest plan of care certified from ``day`` or before (it may have ended)."""
        found = self.history.plan_of_care(self._visit(discipline))
        return None if found is None else found.value

    def authorization(self, payer: str) -> Authorization | None:
        """The payer's authorization covering ``day`` (else its latest), with its use counted from the
        posted visits in its dates."""
        found = self.history.authorization(self._visit(payer=payer))
        return None if found is None else found.value
