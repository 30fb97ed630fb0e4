"""Recording a scrubbed visit in the ledger: all of it in one transaction, or nothing.

Posting the same visit id twice is refused (the id is the primary key, so even two processes racing to
post it cannot both succeed). A visit with an error finding is not posted: it is not billable as it is.
The ledger runs on SQLite and PostgreSQL (their ON CONFLICT clauses make concurrent posts safe). A string
longer than its column (or holding a NUL) refuses the visit before it is written, so both databases refuse
the same visits (SQLite would store it, PostgreSQL fail); any other database error refuses the visit too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
from sqlalchemy import Connection, Engine, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from rehabclaim.catalog import Catalog, load_catalog
from rehabclaim.errors import quote
from rehabclaim.history import BENEFIT_OF
from rehabclaim.ledger.database import failure_reason, insert_ignoring_duplicates
from rehabclaim.ledger.models import (
    AuthorizationRecord,
    OrthoticEncounter,
    Patient,
    PlanOfCareRecord,
    PostedLine,
    PostedVisit,
    column_limits,
)
from rehabclaim.model import ScrubResult, Visit


class PostRefused(ValueError):
    """The visit was not posted; the message says why (bad input: a value the ledger cannot hold...)."""


class AlreadyPosted(PostRefused):
    """A visit with this id is in the ledger already."""


class NotBillable(PostRefused):
    """The visit has error findings: it is not billable as it is."""


class LedgerFailed(PostRefused):
    """The database failed (gone, full, read-only...); nothing of the visit was written."""


Audit = Callable[[Connection], None]  # writes the change's audit event, in the change's transaction


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def post_visit(
    engine: Engine, visit: Visit, result: ScrubResult, *, catalog: Catalog | None = None, audit: Audit | None = None
) -> None:
    """Record ``visit`` with its scrub ``result``; raise PostRefused when it cannot or must not be posted.
    ``catalog``: the reference's (default: the bundled one); ``audit`` runs last in the same transaction."""
    patient = visit.patient.id if visit.patient else None
    if not patient:
        raise PostRefused(f"visit {visit.id}: patient.id is required to post")
    errors = [f.rule for f in result.findings if f.severity == "error"]
    if errors:
        if _visit_exists(engine, visit.id):  # the same visit again: refused as such whatever the rules say now
            raise AlreadyPosted(f"visit {visit.id} is already posted; posting it again is refused")
        raise NotBillable(f"visit {visit.id}: not posted, it has error findings ({', '.join(sorted(set(errors)))})")
    catalog = catalog or load_catalog()
    therapy = [line for line in result.lines if (code := catalog.get(line.code)) is not None and code.therapy]
    now = datetime.now(UTC)
    row = {
        "id": visit.id,
        "patient_id": patient,
        "date": visit.date,
        "payer": result.payer,
        "discipline": visit.discipline,
        "benefit": BENEFIT_OF[visit.discipline],
        "therapy_units": sum(line.units for line in therapy),
        "total_charge": Decimal(str(result.total_charge)),
        "therapy_expected": sum((Decimal(str(line.expected or 0)) for line in therapy), Decimal(0)),
        "allowed": None,
        "progress_report": visit.progress_report or _has_evaluation(result, catalog),
        "posted_at": now,
        "result_json": msgspec.json.encode(result).decode(),
    }
    _check_fits(visit.id, Patient, [{"id": patient}])
    _check_fits(visit.id, PostedVisit, [row])
    try:
        with engine.begin() as connection:
            insert_ignoring_duplicates(connection, Patient, {"id": patient, "created_at": now})
            connection.execute(insert(PostedVisit).values(**row))
            _post_lines(connection, visit, result)
            _post_encounters(connection, visit, patient, catalog)
            _post_plan_and_authorization(connection, visit, patient, result.payer)
            if audit is not None:
                audit(connection)
    except IntegrityError as exc:
        if _visit_exists(engine, visit.id):
            raise AlreadyPosted(f"visit {visit.id} is already posted; posting it again is refused") from None
        raise PostRefused(f"visit {visit.id}: the ledger refused it ({failure_reason(exc)})") from None
    except SQLAlchemyError as exc:  # the database is gone, full, read-only...: this visit is not posted
        raise LedgerFailed(f"visit {visit.id}: not posted, the ledger failed ({failure_reason(exc)})") from None


def _check_fits(visit_id: str, table: type, rows: Sequence[Mapping[str, object]]) -> None:
    """Refuse a string longer than its column (PostgreSQL fails on it, SQLite would keep it) or holding a
    NUL (PostgreSQL cannot store one), so both databases refuse the same visits. Raised inside the
    transaction, it rolls back what the visit had written."""
    lengths = column_limits(table).lengths
    for row in rows:
        for name, limit in lengths:
            value = row.get(name)
            if not isinstance(value, str):
                continue
            where = f"{table.__tablename__}.{name}"  # type: ignore[attr-defined]
            if len(value) > limit:
                raise PostRefused(
                    f"visit {visit_id}: not posted, {where} would hold {quote(value)} ({len(value)} characters); "
                    f"the ledger holds {limit}"
                )
            if "\x00" in value:
                raise PostRefused(f"visit {visit_id}: not posted, {where} would hold a NUL character")


def _has_evaluation(result: ScrubResult, catalog: Catalog) -> bool:
    return any((code := catalog.get(line.code)) is not None and code.category == "evaluation" for line in result.lines)


def _visit_exists(engine: Engine, visit_id: str) -> bool:
    try:
        with engine.connect() as connection:
            return bool(connection.execute(select(exists().where(PostedVisit.id == visit_id))).scalar())
    except SQLAlchemyError as exc:
        raise LedgerFailed(f"visit {visit_id}: not posted, the ledger failed ({failure_reason(exc)})") from None


def _post_lines(connection: Connection, visit: Visit, result: ScrubResult) -> None:
    rows = [
        {
            "visit_id": visit.id,
            "line_number": number,
            "code": line.code,
            "units": line.units,
            "modifiers": ":".join(line.modifiers),
            "minutes": line.minutes,
            "charge": _money(line.charge),
            "expected": _money(line.expected),
        }
        for number, line in enumerate(result.lines, start=1)
    ]
    if rows:
        _check_fits(visit.id, PostedLine, rows)
        connection.execute(insert(PostedLine), rows)


def _post_encounters(connection: Connection, visit: Visit, patient: str, catalog: Catalog) -> None:
    rows = []
    for service in visit.services:
        code = catalog.get(service.code)
        if code is not None and code.encounter is not None:
            region = (service.body_region or "").strip().lower()
            rows.append(
                {
                    "patient_id": patient,
                    "visit_id": visit.id,
                    "date": visit.date,
                    "code": code.code,
                    "body_region": region,
                }
            )
    if rows:
        _check_fits(visit.id, OrthoticEncounter, rows)
        connection.execute(insert(OrthoticEncounter), rows)


def _post_plan_and_authorization(connection: Connection, visit: Visit, patient: str, payer: str) -> None:
    plan = visit.plan_of_care
    if plan is not None:
        physician = plan.certifying_physician
        _upsert(
            connection,
            visit,
            PlanOfCareRecord,
            ["patient_id", "discipline", "certified_from"],
            {
                "patient_id": patient,
                "discipline": visit.discipline,
                "certified_from": plan.certified_from,
                "certified_through": plan.certified_through,
                "physician_npi": physician.npi if physician else None,
                "physician_name": physician.name if physician else None,
            },
        )
    auth = visit.authorization
    if auth is not None:
        _upsert(
            connection,
            visit,
            AuthorizationRecord,
            ["patient_id", "payer", "valid_from"],
            {
                "patient_id": patient,
                "payer": payer,
                "number": auth.number,
                "visits": auth.visits,
                "units": auth.units,
                "valid_from": auth.valid_from,
                "valid_through": auth.valid_through,
            },
        )


def _upsert(connection: Connection, visit: Visit, table: type, keys: list[str], values: dict[str, object]) -> None:
    """Insert, or update the row with the same ``keys`` (the latest visit's record wins)."""
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    _check_fits(visit.id, table, [values])
    statement = dialect_insert(table).values(**values)
    updates = {k: statement.excluded[k] for k in values if k not in keys}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))
