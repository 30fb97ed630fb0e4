"""A patient's state in the ledger, for ``rehabclaim ledger show``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, extract, func, select

from rehabclaim.ledger.models import AuthorizationRecord, OrthoticEncounter, PlanOfCareRecord, PostedVisit


def patient_state(engine: Engine, patient: str) -> dict[str, Any] | None:
    """Everything the rules read about ``patient``; None when the ledger has never seen the patient."""
    with engine.connect() as connection:
        visits = connection.execute(
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
        if not visits:
            return None
        year = extract("year", PostedVisit.date)
        allowed = connection.execute(
            select(
                year, PostedVisit.benefit, func.sum(func.coalesce(PostedVisit.allowed, PostedVisit.therapy_expected))
            )
            .where(PostedVisit.patient_id == patient)
            .group_by(year, PostedVisit.benefit)
            .order_by(year, PostedVisit.benefit)
        ).all()
        encounters = connection.execute(
            select(
                OrthoticEncounter.date,
                OrthoticEncounter.code,
                OrthoticEncounter.body_region,
                OrthoticEncounter.visit_id,
            )
            .where(OrthoticEncounter.patient_id == patient)
            .order_by(OrthoticEncounter.date)
        ).all()
        plans = connection.execute(
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
        authorizations = connection.execute(
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
    return {
        "patient": patient,
        "visits": [
            {
                "id": v.id,
                "date": v.date.isoformat(),
                "payer": v.payer,
                "discipline": v.discipline,
                "therapy_units": v.therapy_units,
                "charge": float(v.total_charge),
                "expected": float(v.therapy_expected),
                "allowed": None if v.allowed is None else float(v.allowed),
                "progress_report": v.progress_report,
            }
            for v in visits
        ],
        "allowed_by_year": [
            {"year": int(y), "benefit": benefit, "amount": float(amount)} for y, benefit, amount in allowed
        ],
        "orthotic_encounters": [
            {"date": e.date.isoformat(), "code": e.code, "body_region": e.body_region, "visit": e.visit_id}
            for e in encounters
        ],
        "plans_of_care": [
            {
                "discipline": p.discipline,
                "certified_from": p.certified_from.isoformat(),
                "certified_through": p.certified_through.isoformat(),
                "certifying_physician": {"npi": p.physician_npi, "name": p.physician_name},
            }
            for p in plans
        ],
        "authorizations": [
            {
                "payer": a.payer,
                "number": a.number,
                "visits": a.visits,
                "units": a.units,
                "from": a.valid_from.isoformat(),
                "through": a.valid_through.isoformat(),
            }
            for a in authorizations
        ],
    }
