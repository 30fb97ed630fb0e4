"""Remittances (835): reading one, posting it to the ledger, listing those posted.

Posting is all or nothing, with its audit event (``remittance.post``) in the same transaction. Refused: the
same file, or a payment whose trace (TRN02 with TRN03) was posted before (Conflict: posting is idempotent);
a file that does not balance, or a value the ledger cannot hold (BadInput); a database that fails
(Unavailable). A file that cannot be read is BadInput naming its segment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import msgspec
from sqlalchemy import Connection, Engine, func, select

from rehabclaim.ledger.models import RemitClaimRecord, RemittanceRecord
from rehabclaim.remits.post import AlreadyPosted, LedgerFailed, PostOutcome, RemitRefused
from rehabclaim.remits.post import post_remittance as post_to_ledger
from rehabclaim.services import audit
from rehabclaim.services.actor import Actor
from rehabclaim.services.errors import BadInput, Conflict, Unavailable
from rehabclaim.services.reading import reading, utc
from rehabclaim.x12.core import X12Error
from rehabclaim.x12.remit835 import Remittance, read_835

POST = "remittance.post"


class Trace(msgspec.Struct, frozen=True):
    number: str  # TRN02: the check or EFT number
    originator: str  # TRN03: the payer's id


class RemittancePosting(msgspec.Struct):
    """A posted remittance: ``posted`` the visit ids its claims were matched to, ``unmatched`` the claims
    (CLP01) that are not ours. A file that does not balance is never posted (``read_remittance`` lists its
    imbalances)."""

    remittance_id: int
    traces: list[Trace]
    total_paid: Decimal
    claims: int
    posted: list[str]
    unmatched: list[str]


class RemittanceSummary(msgspec.Struct):
    id: int
    posted_at: datetime  # UTC
    trace_numbers: str  # the payments' TRN02, comma-separated (cut when many)
    total_paid: Decimal
    claims: int  # claims posted from it (ours)


def read_remittance(*, data: bytes) -> Remittance:
    """The 835 read into typed models, imbalances and unknown segments listed; BadInput naming the segment
    when the file cannot be read."""
    try:
        return read_835(data)
    except X12Error as exc:
        where = f"segment {exc.segment}" if exc.segment else ""
        raise BadInput(where, str(exc).removeprefix(f"{where}: ")) from None


def post_remittance(
    database: Engine,
    *,
    data: bytes,
    actor: Actor,
    remittance: Remittance | None = None,
    progress: Callable[[int], None] | None = None,
) -> RemittancePosting:
    """Post the 835 ``data`` (``remittance``: the caller's reading of these very bytes, to save reading them
    twice). ``progress`` is told of the claims done."""
    audit.require_change(actor, what="post remittances")
    read = remittance if remittance is not None else read_remittance(data=data)

    def event(connection: Connection, outcome: PostOutcome) -> None:
        traces = [number for number, _ in outcome.traces]
        subject = f"TRN02 {traces[0]}" + (f" and {len(traces) - 1} more" if len(traces) > 1 else "")
        detail = (
            f"{len(traces)} payment(s), paid {read.total_paid}; "
            f"{len(outcome.posted)} claim(s) posted, {len(outcome.unmatched)} not ours"
        )
        audit.record(connection, actor=actor, action=POST, subject=subject, detail=detail)

    try:
        outcome = post_to_ledger(database, data, read, progress, event)
    except AlreadyPosted as exc:
        raise Conflict("", str(exc)) from None
    except LedgerFailed as exc:
        raise Unavailable("", str(exc)) from None
    except RemitRefused as exc:
        raise BadInput("", str(exc)) from None
    assert outcome.remittance_id is not None  # set by every posting that returns
    return RemittancePosting(
        remittance_id=outcome.remittance_id,
        traces=[Trace(number, originator) for number, originator in outcome.traces],
        total_paid=read.total_paid,
        claims=len(read.claims),
        posted=outcome.posted,
        unmatched=outcome.unmatched,
    )


def list_remittances(database: Engine, *, limit: int, offset: int) -> list[RemittanceSummary]:
    """The remittances posted, newest first, ``limit`` of them after ``offset``."""
    audit.check_page(limit, offset)
    query = (
        select(
            RemittanceRecord.id,
            RemittanceRecord.posted_at,
            RemittanceRecord.trace_numbers,
            RemittanceRecord.total_paid,
            func.count(RemitClaimRecord.id).label("claims"),
        )
        .outerjoin(RemitClaimRecord, RemitClaimRecord.remittance_id == RemittanceRecord.id)
        .group_by(RemittanceRecord.id)
        .order_by(RemittanceRecord.posted_at.desc(), RemittanceRecord.id.desc())
        .limit(limit)
        .offset(offset)
    )
    with reading(database) as connection:
        rows = connection.execute(query).all()
    return [
        RemittanceSummary(
            id=row.id,
            posted_at=utc(row.posted_at),
            trace_numbers=row.trace_numbers,
            total_paid=row.total_paid,
            claims=row.claims,
        )
        for row in rows
    ]
