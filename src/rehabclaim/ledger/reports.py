"""The reports' queries: rows read from the ledger (SQLAlchemy Core, the same statements on SQLite and
PostgreSQL), with the CAS adjustments the 835 posting keeps as JSON decoded here. The figures, their grouping
and their explanations are made in ``rehabclaim.services.reports``.

What the ledger holds, and so what a report can say:

- A remittance claim (``remit_claims``) names its visit (CLP01), the payer as the 835 names it (N1*PR) and
  its status (CLP02); its lines (``remit_lines``) hold the code, paid amount, units (SVC05) and CAS
  adjustments. Since ledger revision 0006 each keeps its date of service (``service_date``: the posted
  visit's, else the 835's DTM*472) and the claim its payment date (BPR16). A claim's date of service is
  ``remit_claims.service_date``, else its posted visit's (``visits.date``: a visit posted after its 835, or
  a claim posted before 0006 whose visit was posted later); a remittance with neither (a claim sent without
  posting, answered before 0006 or by an 835 without DTM*472) has no date of service.
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
from sqlalchemy import ColumnElement, Connection, Executable, Subquery, and_, func, or_, select

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
from rehabclaim.remits.worklist import claim_service_date
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
    """Remittance claims without a date of service: none kept with the claim and no posted visit."""
    statement = (
        select(func.count())
        .select_from(RemitClaimRecord)
        .outerjoin(PostedVisit, PostedVisit.id == RemitClaimRecord.visit_id)
        .where(claim_service_date().is_(None))
    )
    return int(connection.execute(statement).scalar_one())


# Paid against expected, underpaid lines --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaidCode:
    """One code of one visit, with what we billed and expected and what its remittances said. Amounts are
    summed over every remittance line of that visit and code (a reversal and its correction net out)."""

    visit_id: str
    payer: str  # visits.payer (our payer key); for a visit not posted, the payer id its latest 837P carried
    date: date  # the date of service (see the module)
    code: str
    billed_units: int | None  # visit_lines.units (None: the visit billed no such code); not posted: the 835's
    expected: Decimal | None  # visit_lines.expected: the estimate when posted; None when a line had none
    paid: Decimal  # remit_lines.paid
    patient: Decimal  # the PR adjustments: what the payer put on the patient (deductible, coinsurance...)
    reductions: dict[tuple[str, str], Decimal]  # every other adjustment, by (group, reason)
    posted: bool = True  # False: a claim sent without posting its visit (no estimate, units from the 835)
    remit_payer: str = ""  # the payer as its latest remittance names it (N1*PR)

    @property
    def allowed(self) -> Decimal:
        """What the payer recognised for the line: its payment and the patient's share."""
        return self.paid + self.patient


def paid_codes(connection: Connection, dates: DateRange) -> Iterator[PaidCode]:
    """Each (visit, code) a posted remittance adjudicated whose date of service is known and inside ``dates``
    (a remittance without one, ``undated_remittance_claims``, is left out even with no bound: a per-period
    figure cannot place it). Claim-level adjustments go to the line when the claim has one line (the denials
    worklist's rule), else they are not attributed to any line."""
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
    sent = _latest_sent()
    statement = (
        select(
            RemitClaimRecord.visit_id,
            func.coalesce(PostedVisit.payer, ClaimSent.payer, RemitClaimRecord.payer).label("payer"),
            claim_service_date().label("date"),
            PostedVisit.id.label("posted_visit"),
            RemitClaimRecord.payer.label("remit_payer"),
            RemitLineRecord.remit_claim_id,
            RemitLineRecord.code,
            RemitLineRecord.paid,
            RemitLineRecord.units.label("remit_units"),
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
        .outerjoin(PostedVisit, PostedVisit.id == RemitClaimRecord.visit_id)
        .outerjoin(sent, sent.c.visit_id == RemitClaimRecord.visit_id)
        .outerjoin(ClaimSent, ClaimSent.id == sent.c.latest)
        .join(per_claim, per_claim.c.remit_claim_id == RemitClaimRecord.id)
        .outerjoin(billed, and_(billed.c.visit_id == RemitClaimRecord.visit_id, billed.c.code == RemitLineRecord.code))
        .where(claim_service_date().is_not(None), *_within(claim_service_date(), dates))
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


def _latest_sent() -> Subquery:
    """Each visit's latest claim sent (its id, ``latest``): the payer a visit not posted was billed to."""
    return (
        select(ClaimSent.visit_id, func.max(ClaimSent.id).label("latest"))
        .join(InterchangeRecord, InterchangeRecord.control_number == ClaimSent.interchange_control_number)
        .where(InterchangeRecord.status == SENT)
        .group_by(ClaimSent.visit_id)
        .subquery()
    )


def _paid_code(rows: list[Any]) -> PaidCode:
    """One visit's code from its remittance lines (rows the query put together)."""
    first, last = rows[0], rows[-1]
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
    posted = first.posted_visit is not None
    known = first.units is not None and first.estimated == first.lines
    return PaidCode(
        visit_id=first.visit_id,
        payer=first.payer,
        date=first.date,
        code=first.code,
        billed_units=_billed_units(rows) if posted else _remitted_units(rows),
        expected=Decimal(first.expected) if known else None,
        paid=paid,
        patient=patient,
        reductions=reductions,
        posted=posted,
        remit_payer=last.remit_payer,
    )


def _billed_units(rows: list[Any]) -> int | None:
    units = rows[0].units
    return None if units is None else int(units)


def _remitted_units(rows: list[Any]) -> int:
    """A visit not posted: the units (SVC05) of its latest remittance's lines of the code (the answer that
    stands: a correction after a reversal, not both), the only units the ledger has for it."""
    latest = max(row.remit_claim_id for row in rows)
    return int(sum((Decimal(row.remit_units) for row in rows if row.remit_claim_id == latest), ZERO))


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
