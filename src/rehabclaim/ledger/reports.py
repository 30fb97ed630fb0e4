"""The reports' queries: rows read from the ledger (SQLAlchemy Core, the same statements on SQLite and
PostgreSQL), with the CAS adjustments the 835 posting keeps as JSON decoded here. The figures, their grouping
and their explanations are made in ``rehabclaim.services.reports``.

What the ledger holds, and so what a report can say:

- A remittance claim (``remit_claims``) names its visit (CLP01), the payer as the 835 names it (N1*PR) and
  its status (CLP02); its lines (``remit_lines``) hold the code, paid amount and CAS adjustments. Neither
  keeps the 835's dates (BPR16, DTM*405, the SVC's DTM*472): dates of service come from the posted visit
  (``visits.date``), so a remittance for a claim whose visit was never posted has no date of service.
- A remittance line is matched to what we billed by visit and code: the ledger keeps no line control number
  (REF*6R), so the visit's lines of one code (say a line split by the CQ modifier) are taken together.
- A claim sent (``claims_sent``) counts when its interchange is recorded ``sent``; a pending one is still
  being written (or its run died: the next claim run settles it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, Executable, and_, func, or_, select

from rehabclaim.claims.run import SENT
from rehabclaim.dates import DateRange
from rehabclaim.ledger.models import (
    ClaimSent,
    InterchangeRecord,
    PostedLine,
    PostedVisit,
    RemitClaimRecord,
    RemitLineRecord,
    RemittanceRecord,
)
from rehabclaim.x12.remit835 import Adjustment

REVERSAL_STATUS = "22"  # CLP02 22: the payer takes back an earlier payment (a correction may follow)
DENIED_STATUS = "4"  # CLP02 4: denied
VOID_FREQUENCY = "8"  # a void claim withdraws the visit's claim
PATIENT_GROUP = "PR"
STREAM_ROWS = 1000  # rows fetched at a time: a report reads through a large ledger in bounded memory
ZERO = Decimal(0)

_ADJUSTMENTS = msgspec.json.Decoder(list[Adjustment])


def adjustments_of(text: str) -> list[Adjustment]:
    """The CAS adjustments kept as JSON on a remittance claim or line."""
    return _ADJUSTMENTS.decode(text) if text else []


def _within(column: Any, dates: DateRange) -> list[ColumnElement[bool]]:
    """The conditions keeping ``column`` (a date of service) inside ``dates``, both ends included."""
    conditions = []
    if dates.start is not None:
        conditions.append(column >= dates.start)
    if dates.end is not None:
        conditions.append(column <= dates.end)
    return conditions


def _stream(connection: Connection, statement: Executable) -> Iterator[Any]:
    """The rows of ``statement`` fetched a batch at a time (a server-side cursor on PostgreSQL)."""
    yield from connection.execute(statement.execution_options(yield_per=STREAM_ROWS))


def _utc(moment: datetime) -> datetime:
    """SQLite hands back the stored UTC time without its zone; PostgreSQL with it."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Denials by reason and payer (the items are the denials worklist's) -------------------------------------


def undated_remittance_claims(connection: Connection) -> int:
    """Remittance claims whose visit the ledger does not hold as posted: they have no date of service."""
    statement = (
        select(func.count())
        .select_from(RemitClaimRecord)
        .outerjoin(PostedVisit, PostedVisit.id == RemitClaimRecord.visit_id)
        .where(PostedVisit.id.is_(None))
    )
    return int(connection.execute(statement).scalar_one())


# Paid against expected, underpaid lines --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaidCode:
    """One code of one posted visit, with what we billed and expected and what its remittances said. Amounts
    are summed over every remittance line of that visit and code (a reversal and its correction net out)."""

    visit_id: str
    payer: str  # visits.payer: our payer key
    date: date  # the date of service
    code: str
    billed_units: int | None  # visit_lines.units; None: the visit billed no such code (the payer changed it?)
    expected: Decimal | None  # visit_lines.expected: the estimate when posted; None when a line had none
    paid: Decimal  # remit_lines.paid
    patient: Decimal  # the PR adjustments: what the payer put on the patient (deductible, coinsurance...)
    reductions: dict[tuple[str, str], Decimal]  # every other adjustment, by (group, reason)

    @property
    def allowed(self) -> Decimal:
        """What the payer recognised for the line: its payment and the patient's share."""
        return self.paid + self.patient


def paid_codes(connection: Connection, dates: DateRange) -> Iterator[PaidCode]:
    """Each (visit, code) of the posted visits inside ``dates`` that a posted remittance adjudicated.
    Claim-level adjustments go to the line when the claim has one line (the denials worklist's rule), else
    they are not attributed to any line."""
    billed = (
        select(
            PostedLine.visit_id,
            PostedLine.code,
            func.sum(PostedLine.units).label("units"),
            func.sum(PostedLine.expected).label("expected"),
            func.count(PostedLine.expected).label("estimated"),
            func.count().label("lines"),
        )
        .group_by(PostedLine.visit_id, PostedLine.code)
        .subquery()
    )
    per_claim = (
        select(RemitLineRecord.remit_claim_id, func.count().label("lines"))
        .group_by(RemitLineRecord.remit_claim_id)
        .subquery()
    )
    statement = (
        select(
            RemitClaimRecord.visit_id,
            PostedVisit.payer,
            PostedVisit.date,
            RemitLineRecord.code,
            RemitLineRecord.paid,
            RemitLineRecord.adjustments,
            RemitClaimRecord.adjustments.label("claim_adjustments"),
            per_claim.c.lines.label("claim_lines"),
            billed.c.units,
            billed.c.expected,
            billed.c.estimated,
            billed.c.lines,
        )
        .select_from(RemitLineRecord)
        .join(RemitClaimRecord, RemitClaimRecord.id == RemitLineRecord.remit_claim_id)
        .join(PostedVisit, PostedVisit.id == RemitClaimRecord.visit_id)
        .join(per_claim, per_claim.c.remit_claim_id == RemitClaimRecord.id)
        .outerjoin(billed, and_(billed.c.visit_id == RemitClaimRecord.visit_id, billed.c.code == RemitLineRecord.code))
        .where(*_within(PostedVisit.date, dates))
        .order_by(RemitClaimRecord.visit_id, RemitLineRecord.code, RemitLineRecord.id)
    )
    current: list[Any] = []
    for row in _stream(connection, statement):  # equal keys come together, whatever the collation
        if current and (current[0].visit_id, current[0].code) != (row.visit_id, row.code):
            yield _paid_code(current)
            current = []
        current.append(row)
    if current:
        yield _paid_code(current)


def _paid_code(rows: list[Any]) -> PaidCode:
    """One visit's code from its remittance lines (rows the query put together)."""
    first = rows[0]
    paid, patient = ZERO, ZERO
    reductions: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        paid += row.paid
        found = adjustments_of(row.adjustments)
        if row.claim_lines == 1:
            found += adjustments_of(row.claim_adjustments)
        for adjustment in found:
            if adjustment.group == PATIENT_GROUP:
                patient += adjustment.amount
            else:
                key = (adjustment.group, adjustment.reason)
                reductions[key] = reductions.get(key, ZERO) + adjustment.amount
    known = first.units is not None and first.estimated == first.lines
    return PaidCode(
        visit_id=first.visit_id,
        payer=first.payer,
        date=first.date,
        code=first.code,
        billed_units=None if first.units is None else int(first.units),
        expected=Decimal(first.expected) if known else None,
        paid=paid,
        patient=patient,
        reductions=reductions,
    )


# A/R aging ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenClaim:
    """A visit's claim, sent and not wholly adjudicated."""

    visit_id: str
    payer: str  # visits.payer when the visit was posted, else the payer id the 837P carried
    date_of_service: date | None  # None when the visit was not posted
    first_sent: date  # the day (UTC) its first claim went out
    balance: Decimal


def open_claims(connection: Connection) -> Iterator[OpenClaim]:
    """Every visit whose latest sent claim (not a void) keeps a balance above zero. The balance is that
    claim's charge less the charges the visit's remittances adjudicated (an 835 claim balances: paid plus
    adjustments is its charge; a reversal nets out), or the whole charge when the claim went out after the
    last of those remittances was posted (a claim sent again after a denial, a replacement: not answered)."""
    sent = (
        select(
            ClaimSent.visit_id,
            func.max(ClaimSent.id).label("latest"),
            func.min(ClaimSent.sent_at).label("first_sent"),
            func.max(ClaimSent.sent_at).label("last_sent"),
        )
        .join(InterchangeRecord, InterchangeRecord.control_number == ClaimSent.interchange_control_number)
        .where(InterchangeRecord.status == SENT)
        .group_by(ClaimSent.visit_id)
        .subquery()
    )
    remitted = (
        select(
            RemitClaimRecord.visit_id,
            func.sum(RemitClaimRecord.charge).label("adjudicated"),
            func.max(RemittanceRecord.posted_at).label("last_posted"),
        )
        .join(RemittanceRecord, RemittanceRecord.id == RemitClaimRecord.remittance_id)
        .group_by(RemitClaimRecord.visit_id)
        .subquery()
    )
    statement = (
        select(
            sent.c.visit_id,
            func.coalesce(PostedVisit.payer, ClaimSent.payer).label("payer"),
            PostedVisit.date,
            sent.c.first_sent,
            sent.c.last_sent,
            ClaimSent.total_charge,
            remitted.c.adjudicated,
            remitted.c.last_posted,
        )
        .select_from(sent)
        .join(ClaimSent, ClaimSent.id == sent.c.latest)
        .outerjoin(PostedVisit, PostedVisit.id == sent.c.visit_id)
        .outerjoin(remitted, remitted.c.visit_id == sent.c.visit_id)
        .where(ClaimSent.frequency != VOID_FREQUENCY)
        .order_by(sent.c.visit_id)
    )
    for row in _stream(connection, statement):
        answered = row.last_posted is not None and _utc(row.last_posted) >= _utc(row.last_sent)
        balance = Decimal(row.total_charge) - (Decimal(row.adjudicated) if answered else ZERO)
        if balance > 0:
            yield OpenClaim(row.visit_id, row.payer, row.date, _utc(row.first_sent).date(), balance)


# Timely filing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnfiledVisit:
    """A posted visit no claim of which stands: never sent, or denied (CLP02 4) and not sent again since."""

    visit_id: str
    patient_id: str
    payer: str
    date: date
    charge: Decimal
    denied: bool


def visit_payers(connection: Connection) -> list[str]:
    """The payers of the posted visits (our payer keys)."""
    return list(connection.execute(select(PostedVisit.payer).distinct().order_by(PostedVisit.payer)).scalars())


def unfiled_visits(connection: Connection, payer: str, served_by: date | None) -> Iterator[UnfiledVisit]:
    """The posted visits of ``payer`` (with a date of service on or before ``served_by``, when given) that
    no sent claim covers: never sent, or whose latest remittance denied the claim and no claim went out after
    that remittance was posted. The ledger keeps no front-end rejections (999, 277CA): a claim rejected
    there counts as sent."""
    sent = (
        select(ClaimSent.visit_id, func.max(ClaimSent.sent_at).label("last_sent"))
        .join(InterchangeRecord, InterchangeRecord.control_number == ClaimSent.interchange_control_number)
        .where(InterchangeRecord.status == SENT)
        .group_by(ClaimSent.visit_id)
        .subquery()
    )
    latest = (
        select(RemitClaimRecord.visit_id, func.max(RemitClaimRecord.id).label("latest"))
        .group_by(RemitClaimRecord.visit_id)
        .subquery()
    )
    conditions = [PostedVisit.payer == payer]
    if served_by is not None:
        conditions.append(PostedVisit.date <= served_by)
    statement = (
        select(
            PostedVisit.id,
            PostedVisit.patient_id,
            PostedVisit.payer,
            PostedVisit.date,
            PostedVisit.total_charge,
            sent.c.last_sent,
            RemitClaimRecord.status,
            RemittanceRecord.posted_at,
        )
        .select_from(PostedVisit)
        .outerjoin(sent, sent.c.visit_id == PostedVisit.id)
        .outerjoin(latest, latest.c.visit_id == PostedVisit.id)
        .outerjoin(RemitClaimRecord, RemitClaimRecord.id == latest.c.latest)
        .outerjoin(RemittanceRecord, RemittanceRecord.id == RemitClaimRecord.remittance_id)
        .where(*conditions, or_(sent.c.last_sent.is_(None), RemitClaimRecord.status == DENIED_STATUS))
        .order_by(PostedVisit.date, PostedVisit.id)
    )
    for row in _stream(connection, statement):
        denied = row.last_sent is not None
        if denied and _utc(row.last_sent) > _utc(row.posted_at):
            continue  # sent again after the denial was posted
        yield UnfiledVisit(row.id, row.patient_id, row.payer, row.date, Decimal(row.total_charge), denied)
