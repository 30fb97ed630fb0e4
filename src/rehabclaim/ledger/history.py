"""The patient's history from the ledger. Fields the caller put on the visit win over the ledger (a
MAC's year-to-date figure includes other providers' claims; a visit's explicit encounter flag is the
therapist's word); otherwise every answer is derived from the posted visits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import Connection, Engine, and_, func, select

from rehabclaim.history import Benefit, Sourced, VisitHistory
from rehabclaim.ledger.models import AuthorizationRecord, OrthoticEncounter, PlanOfCareRecord, PostedVisit
from rehabclaim.model import Authorization, Physician, PlanOfCare, Visit

LEDGER = "ledger"


def _patient(visit: Visit) -> str | None:
    return visit.patient.id if visit.patient and visit.patient.id else None


class LedgerHistory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.visit = VisitHistory()

    def allowed_ytd(self, visit: Visit, benefit: Benefit) -> Sourced[Decimal] | None:
        given = self.visit.allowed_ytd(visit, benefit)
        patient = _patient(visit)
        if given is not None or patient is None:
            return given
        amount = func.coalesce(PostedVisit.allowed, PostedVisit.therapy_expected)
        query = select(func.coalesce(func.sum(amount), 0)).where(
            PostedVisit.patient_id == patient,
            PostedVisit.benefit == benefit,
            PostedVisit.date >= date(visit.date.year, 1, 1),
            PostedVisit.date <= visit.date,
            PostedVisit.id != visit.id,
        )
        with self.engine.connect() as connection:
            total = connection.execute(query).scalar_one()
        return Sourced(Decimal(total), LEDGER)

    def has_orthotic_encounter(self, visit: Visit, region: str) -> Sourced[bool] | None:
        patient = _patient(visit)
        if patient is None:
            return None
        query = select(func.count()).where(
            OrthoticEncounter.patient_id == patient,
            OrthoticEncounter.body_region.in_([region, ""]),
            OrthoticEncounter.date <= visit.date,
            OrthoticEncounter.visit_id != visit.id,
        )
        with self.engine.connect() as connection:
            return Sourced(connection.execute(query).scalar_one() > 0, LEDGER)

    def treatment_days_since_progress_report(self, visit: Visit) -> Sourced[int] | None:
        given = self.visit.treatment_days_since_progress_report(visit)
        patient = _patient(visit)
        if given is not None or patient is None:
            return given
        mine = and_(
            PostedVisit.patient_id == patient,
            PostedVisit.discipline == visit.discipline,
            PostedVisit.date < visit.date,
            PostedVisit.id != visit.id,
        )
        with self.engine.connect() as connection:
            last = connection.execute(
                select(func.max(PostedVisit.date)).where(mine, PostedVisit.progress_report.is_(True))
            ).scalar_one()
            since = mine if last is None else and_(mine, PostedVisit.date >= last)
            days = connection.execute(select(func.count(func.distinct(PostedVisit.date))).where(since)).scalar_one()
        return Sourced(int(days), LEDGER)

    def plan_of_care(self, visit: Visit) -> Sourced[PlanOfCare] | None:
        given = self.visit.plan_of_care(visit)
        patient = _patient(visit)
        if given is not None or patient is None:
            return given
        record = PlanOfCareRecord
        query = (
            select(record.certified_from, record.certified_through, record.physician_npi, record.physician_name)
            .where(
                record.patient_id == patient, record.discipline == visit.discipline, record.certified_from <= visit.date
            )
            .order_by(record.certified_from.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        physician = Physician(npi=row.physician_npi, name=row.physician_name)
        return Sourced(PlanOfCare(row.certified_from, row.certified_through, physician), LEDGER)

    def authorization(self, visit: Visit) -> Sourced[Authorization] | None:
        """The authorization covering the date (else the latest one), with its use counted from the posted
        visits to that payer in its dates: visits when it authorizes visits, therapy units otherwise."""
        patient = _patient(visit)
        if patient is None:
            return self.visit.authorization(visit)
        given, source = visit.authorization, "visit"
        with self.engine.connect() as connection:
            if given is None:
                given, source = self._recorded_authorization(connection, patient, visit), LEDGER
                if given is None:
                    return None
            if source == "visit" and given.used:
                return Sourced(given, source)  # the caller counted the use itself
            used_visits, used_units = connection.execute(
                select(func.count(), func.coalesce(func.sum(PostedVisit.therapy_units), 0)).where(
                    PostedVisit.patient_id == patient,
                    PostedVisit.payer == visit.payer.strip().lower(),
                    PostedVisit.date >= given.valid_from,
                    PostedVisit.date <= given.valid_through,
                    PostedVisit.id != visit.id,
                )
            ).one()
        used = used_visits if given.visits is not None else used_units
        counted = msgspec.structs.replace(given, used=int(used))
        return Sourced(counted, source if source == LEDGER else "visit, use counted in the ledger")

    @staticmethod
    def _recorded_authorization(connection: Connection, patient: str, visit: Visit) -> Authorization | None:
        record = AuthorizationRecord
        mine = and_(record.patient_id == patient, record.payer == visit.payer.strip().lower())
        columns = (record.valid_from, record.valid_through, record.number, record.visits, record.units)
        covering = and_(record.valid_from <= visit.date, record.valid_through >= visit.date)
        row = connection.execute(select(*columns).where(mine, covering).limit(1)).first()
        if row is None:
            row = connection.execute(select(*columns).where(mine).order_by(record.valid_from.desc()).limit(1)).first()
        if row is None:
            return None
        return Authorization(row.valid_from, row.valid_through, row.number, row.visits, row.units)
