"""A patient's state: what the ledger holds for them (``rehabclaim ledger show``) and where they stand on a
date of service, for the billers' patient page: the year's allowed amount against the KX threshold, the
plan of care in force, the treatment days since the last progress report, each authorization's use and
the orthotic encounters by body region.

The date of service is the caller's, or the patient's latest posted visit: never today's date. The figures
are what the rules would read for a further visit that day (``rehabclaim.ledger.state.HistoryOn``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal, get_args

import msgspec
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from rehabclaim.errors import quote
from rehabclaim.history import BENEFIT_OF, Benefit
from rehabclaim.ledger.state import (
    AllowedEntry,
    AuthorizationEntry,
    EncounterEntry,
    HistoryOn,
    PatientRecord,
    PlanEntry,
    VisitEntry,
    patient_record,
)
from rehabclaim.model import Discipline, Physician
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, NotFound, Unavailable

DISCIPLINES: tuple[Discipline, ...] = get_args(Discipline)


class KxStanding(msgspec.Struct):
    """The year's allowed amount for a benefit (PT and SLP share one) through the date, and the year's KX
    threshold (null when ``medicare-payment.toml`` has none for the year), with its source."""

    benefit: str
    year: int
    allowed: float
    threshold: float | None
    threshold_source: str | None


class PlanWindow(msgspec.Struct):
    """A discipline's latest plan of care certified on or before the date: a certification covers at most
    the thresholds' days (90) from its first day, so ``covered_through`` may come before
    ``certified_through``; ``in_force`` when the date falls in ``certified_from``..``covered_through``."""

    discipline: str
    certified_from: date
    certified_through: date
    covered_through: date
    in_force: bool
    certifying_physician: Physician | None


class ProgressReportStanding(msgspec.Struct):
    """Treatment days of a discipline before the date since the last progress report (its day counted as
    day 1), the interval of the payer of the discipline's latest visit (null when it sets none), and
    ``due``: a visit on the date without a report would be past it (rule R001)."""

    discipline: str
    payer: str
    treatment_days: int
    every_treatment_days: int | None
    due: bool


class AuthorizationUse(msgspec.Struct):
    """A payer's authorization covering the date (else its latest): ``used`` of ``limit`` visits or units,
    counted from the visits posted to that payer in its dates."""

    payer: str
    number: str | None
    valid_from: date = msgspec.field(name="from")
    valid_through: date = msgspec.field(name="through")
    counts: Literal["visits", "units"] = "visits"
    limit: int | None = None
    used: int = 0


class RegionHistory(msgspec.Struct):
    """The orthotic encounters of one body region ("" when the visits did not say) up to the date."""

    body_region: str
    encounters: list[EncounterEntry]


class PatientState(msgspec.Struct):
    """``rehabclaim ledger show --json``: the ledger's record (the first six fields, as before), then the
    standing on ``as_of``."""

    patient: str
    visits: list[VisitEntry]
    allowed_by_year: list[AllowedEntry]
    orthotic_encounters: list[EncounterEntry]
    plans_of_care: list[PlanEntry]
    authorizations: list[AuthorizationEntry]
    as_of: date
    kx: list[KxStanding]
    plan_of_care_windows: list[PlanWindow]
    progress_reports: list[ProgressReportStanding]
    authorization_use: list[AuthorizationUse]
    orthotic_history: list[RegionHistory]


def patient_state(
    database: Engine, *, reference: Reference, patient_id: str, day: date | str | None = None
) -> PatientState:
    """The patient's record and standing on ``day`` (a date or YYYY-MM-DD text; default: their latest
    posted visit's date). BadInput naming ``--date``; NotFound when the ledger has never posted a visit for
    them; Unavailable when the ledger fails."""
    asked = _date_of_service(day)
    try:
        record = patient_record(database, patient_id)
        if record is None:
            raise NotFound("", f"patient {quote(patient_id)} is not in the ledger")
        on = asked or record.visits[-1].date
        history = HistoryOn(database, patient_id, on)
        disciplines = _disciplines(record)
        kx = [_kx(reference, history, benefit) for benefit in dict.fromkeys(BENEFIT_OF[d] for d in disciplines)]
        windows = [_window(reference, history, discipline) for discipline in disciplines]
        reports = [_progress(reference, record, history, discipline) for discipline in disciplines]
        authorizations = [_authorization(history, payer) for payer in sorted({a.payer for a in record.authorizations})]
    except SQLAlchemyError as exc:
        raise Unavailable("--database-url", f"the ledger failed while reading ({exc.__class__.__name__})") from None
    return PatientState(
        **msgspec.structs.asdict(record),
        as_of=on,
        kx=kx,
        plan_of_care_windows=[window for window in windows if window is not None],
        progress_reports=[report for report in reports if report is not None],
        authorization_use=[use for use in authorizations if use is not None],
        orthotic_history=_orthotic_history(record.orthotic_encounters, on),
    )


def _date_of_service(day: date | str | None) -> date | None:
    if day is None or isinstance(day, date):
        return day
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise BadInput("--date", f"expected YYYY-MM-DD, got {quote(day)}") from None


def _disciplines(record: PatientRecord) -> list[Discipline]:
    """The disciplines the patient was seen or has a plan in, in the contract's order (PT, OT, SLP)."""
    seen = {v.discipline for v in record.visits} | {p.discipline for p in record.plans_of_care}
    return [discipline for discipline in DISCIPLINES if discipline in seen]


def _kx(reference: Reference, history: HistoryOn, benefit: Benefit) -> KxStanding:
    year = history.day.year
    threshold = reference.medicare.kx_threshold_for(year)
    return KxStanding(
        benefit=benefit,
        year=year,
        allowed=float(history.allowed_this_year(benefit)),
        threshold=None if threshold is None else float(threshold.amount),
        threshold_source=None if threshold is None else threshold.source,
    )


def _window(reference: Reference, history: HistoryOn, discipline: Discipline) -> PlanWindow | None:
    plan = history.plan_of_care(discipline)
    if plan is None:
        return None
    most = reference.thresholds.plan_of_care_certified_days_max  # as rule R002 counts it
    covered = min(plan.certified_through, plan.certified_from + timedelta(days=most - 1))
    return PlanWindow(
        discipline=discipline,
        certified_from=plan.certified_from,
        certified_through=plan.certified_through,
        covered_through=covered,
        in_force=plan.certified_from <= history.day <= covered,
        certifying_physician=plan.certifying_physician,
    )


def _progress(
    reference: Reference, record: PatientRecord, history: HistoryOn, discipline: Discipline
) -> ProgressReportStanding | None:
    latest = next((v for v in reversed(record.visits) if v.discipline == discipline and v.date <= history.day), None)
    if latest is None:
        return None  # a plan of care without a visit yet: no treatment day to count
    days = history.treatment_days_since_progress_report(discipline)
    interval = reference.payer(latest.payer).plan_of_care.progress_report_every_treatment_days
    return ProgressReportStanding(
        discipline=discipline,
        payer=latest.payer,
        treatment_days=days,
        every_treatment_days=interval,
        due=interval is not None and days + 1 >= interval,  # as rule R001 decides for a visit that day
    )


def _authorization(history: HistoryOn, payer: str) -> AuthorizationUse | None:
    found = history.authorization(payer)
    if found is None:
        return None
    counts: Literal["visits", "units"] = "visits" if found.visits is not None else "units"
    return AuthorizationUse(
        payer=payer,
        number=found.number,
        valid_from=found.valid_from,
        valid_through=found.valid_through,
        counts=counts,
        limit=found.visits if counts == "visits" else found.units,
        used=found.used,
    )


def _orthotic_history(encounters: list[EncounterEntry], on: date) -> list[RegionHistory]:
    by_region: dict[str, list[EncounterEntry]] = {}
    for encounter in encounters:
        if encounter.date <= on:
            by_region.setdefault(encounter.body_region, []).append(encounter)
    return [RegionHistory(region, listed) for region, listed in sorted(by_region.items())]
