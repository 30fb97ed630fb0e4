"""The denials worklist: denied and partly paid lines by reason and payer, each with the next step.

``Filters`` narrow it by payer, reason (CARC), dates of service and status. From the ledger, the payer, the
claim status and the dates are chosen by the database: a claim's date of service is the one the ledger kept
with it when its 835 was posted (``remit_claims.service_date``: the posted visit's, else the 835's earliest
line date, DTM*472), else its posted visit's (a visit posted after its 835); a claim with neither is left out
when dates are asked for (``ledger.reports.undated_remittance_claims`` counts them). From a file, a line's
date of service is its DTM*472 (a claim-level item takes its first line's).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select

from rehabclaim.dates import DateRange
from rehabclaim.ledger.models import PostedVisit, RemitClaimRecord, RemitLineRecord
from rehabclaim.remits.codes import CodeTable, Kind, code_table
from rehabclaim.x12.remit835 import Adjustment, Remark, Remittance

DENIED_STATUS = "4"
KINDS: tuple[Kind, ...] = ("denial", "patient", "contractual", "info")
CHUNK = 500  # claim ids per IN (...) query


class WorkItem(msgspec.Struct):
    visit_id: str
    payer: str
    code: str
    modifiers: list[str]
    charge: Decimal
    paid: Decimal
    group: str
    reason: str
    amount: Decimal
    meaning: str
    kind: str
    next_step: str
    remarks: list[str]
    status: str


@dataclass(frozen=True, slots=True)
class Filters:
    """Which items to keep; None (or an open range) keeps every one."""

    payer: str | None = None  # part of the payer's name, in any case ("medicare")
    reason: str | None = None  # a CARC ("50"), or the group with it ("CO-50")
    dates: DateRange = field(default_factory=DateRange)  # dates of service
    status: str | None = None  # a claim status (CLP02: "4" denied...) or a kind (denial, patient...)

    def keeps(self, item: WorkItem) -> bool:
        """The filters dates aside (they need the item's date of service, which it does not hold)."""
        if self.payer is not None and self.payer.casefold() not in item.payer.casefold():
            return False
        if self.reason is not None and self.reason.upper() not in (item.reason, f"{item.group}-{item.reason}"):
            return False
        return self.status is None or self.status in (item.status, item.kind)

    @property
    def dated(self) -> bool:
        return self.dates.start is not None or self.dates.end is not None


NO_FILTERS = Filters()


def _items(
    table: CodeTable,
    visit_id: str,
    payer: str,
    status: str,
    code: str,
    modifiers: list[str],
    charge: Decimal,
    paid: Decimal,
    adjustments: list[Adjustment],
    remarks: list[Remark],
) -> list[WorkItem]:
    """One work item per adjustment that needs action: denials, and patient balances on partly paid lines.
    Contractual write-downs (CO-45, MPPR, sequestration) are expected and not listed."""
    notes = [f"{r.code}: {table.remark(r.code)}" for r in remarks]
    found = []
    for adjustment in adjustments:
        meaning, kind, step = table.explain(adjustment.group, adjustment.reason)
        if kind in ("contractual", "info") and status != DENIED_STATUS:
            continue
        found.append(
            WorkItem(
                visit_id,
                payer,
                code,
                modifiers,
                charge,
                paid,
                adjustment.group,
                adjustment.reason,
                adjustment.amount,
                meaning,
                kind,
                step,
                notes,
                status,
            )
        )
    return found


def from_remittance(
    remittance: Remittance, table: CodeTable | None = None, filters: Filters = NO_FILTERS
) -> list[WorkItem]:
    """The items of one 835 file (``table``: the CARC/RARC table, default the bundled one)."""
    table = table or code_table()
    items = []
    for claim in remittance.claims:
        payer = remittance.payments[claim.payment].payer.name
        first_day = next((day for line in claim.lines if (day := service_day(line.service_date))), None)
        found: list[tuple[date | None, list[WorkItem]]] = []
        if claim.lines:
            for line in claim.lines:
                adjustments = line.adjustments + (claim.adjustments if len(claim.lines) == 1 else [])
                line_items = _items(
                    table,
                    claim.id,
                    payer,
                    claim.status,
                    line.code,
                    line.modifiers,
                    line.charge,
                    line.paid,
                    adjustments,
                    line.remarks + claim.remarks,
                )
                found.append((service_day(line.service_date), line_items))
        else:
            claim_items = _items(
                table,
                claim.id,
                payer,
                claim.status,
                "(claim)",
                [],
                claim.charge,
                claim.paid,
                claim.adjustments,
                claim.remarks,
            )
            found.append((first_day, claim_items))
        items += [item for day, some in found for item in some if _dated_keeps(filters, day, item)]
    return _sorted(items)


def _dated_keeps(filters: Filters, day: date | None, item: WorkItem) -> bool:
    if filters.dated and (day is None or not filters.dates.covers(day)):
        return False
    return filters.keeps(item)


def service_day(value: str | None) -> date | None:
    """A DTM date (D8 ``CCYYMMDD``, or the first day of an RD8 ``CCYYMMDD-CCYYMMDD``); None if none or bad."""
    if value is None or len(value) < 8 or not value[:8].isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def from_ledger(database: Engine, table: CodeTable | None = None, filters: Filters = NO_FILTERS) -> list[WorkItem]:
    """The items of every remittance posted (``table``: the CARC/RARC table, default the bundled one)."""
    table = table or code_table()
    adjustments_type, remarks_type = list[Adjustment], list[Remark]
    items = []
    with database.connect() as connection:
        claims = connection.execute(_claims_query(filters)).all()
        by_claim = _lines_of(connection, [claim.id for claim in claims])
    for claim in claims:
        claim_adjustments = msgspec.json.decode(claim.adjustments, type=adjustments_type)
        claim_remarks = msgspec.json.decode(claim.remarks, type=remarks_type)
        for line in by_claim.get(claim.id, []):
            items += _items(
                table,
                claim.visit_id,
                claim.payer,
                claim.status,
                line.code,
                [m for m in line.modifiers.split(":") if m],
                line.charge,
                line.paid,
                msgspec.json.decode(line.adjustments, type=adjustments_type),
                msgspec.json.decode(line.remarks, type=remarks_type) + claim_remarks,
            )
        if claim_adjustments:
            items += _items(
                table,
                claim.visit_id,
                claim.payer,
                claim.status,
                "(claim)",
                [],
                claim.charge,
                claim.paid,
                claim_adjustments,
                claim_remarks,
            )
    return _sorted([item for item in items if filters.keeps(item)])


def _claims_query(filters: Filters) -> Select[Any]:
    """The posted remittance claims the filters can choose in the database: payer, claim status, dates."""
    query = select(RemitClaimRecord)
    if filters.payer is not None and filters.payer.isascii():  # SQLite lowers ASCII only: the rest in Python
        query = query.where(func.lower(RemitClaimRecord.payer).contains(filters.payer.lower(), autoescape=True))
    if filters.status is not None and filters.status not in KINDS:
        query = query.where(RemitClaimRecord.status == filters.status)
    if filters.dated:
        day = claim_service_date()
        query = query.outerjoin(PostedVisit, PostedVisit.id == RemitClaimRecord.visit_id)
        if filters.dates.start is not None:
            query = query.where(day >= filters.dates.start)
        if filters.dates.end is not None:
            query = query.where(day <= filters.dates.end)
    return query.order_by(RemitClaimRecord.id)


def claim_service_date() -> ColumnElement[date | None]:
    """A remittance claim's date of service: the one kept when its 835 was posted, else its posted visit's
    (the query outer-joins ``PostedVisit``); NULL when neither is known."""
    return func.coalesce(RemitClaimRecord.service_date, PostedVisit.date)


def _lines_of(connection: Connection, claim_ids: Sequence[int]) -> dict[int, list[Any]]:
    by_claim: dict[int, list[Any]] = {}
    for chunk in _chunks(claim_ids):
        query = select(RemitLineRecord).where(RemitLineRecord.remit_claim_id.in_(chunk)).order_by(RemitLineRecord.id)
        for line in connection.execute(query):
            by_claim.setdefault(line.remit_claim_id, []).append(line)
    return by_claim


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _sorted(items: list[WorkItem]) -> list[WorkItem]:
    return sorted(items, key=lambda i: (i.reason, i.payer, i.visit_id, i.code))
