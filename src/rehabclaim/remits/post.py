"""Posting an 835 to the ledger: every claim matched to a claim we sent (CLP01 = our patient control
number, the visit id), its paid and allowed amounts recorded, the visit's allowed amount updated for KX.

All of it in one transaction: a refused file posts nothing. Refused are a file that does not balance, the
same file posted twice (its SHA-256 is unique in the ledger), a payment whose trace was posted before and a
value that does not fit the ledger's columns. A payment's trace is TRN02 (check or EFT number) with TRN03
(its originator, the payer's id), as the 835 guide defines it: two payers may use the same check number.
Traces posted before ledger revision 0004 were recorded without their originator (``''``): such a trace
matches every originator, so its payment stays refused whoever sends it again.

Each claim keeps its payment's date (BPR16, the check issue or EFT effective date), the payer's identifiers
(1000A N1*PR N104, else REF*2U, and TRN03), so a secondary claim can tell the primary's answer from another
payer's, and its date of service (the posted visit's, else the 835's earliest line date, DTM*472 or 150);
each line its own DTM date, else the claim's.

Claims, lines and visit updates are written in batches (a few statements per thousand claims), so a
100,000-claim file posts in seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from rehabclaim.errors import quote
from rehabclaim.ledger.models import (
    ClaimSent,
    PostedVisit,
    RemitClaimRecord,
    RemitLineRecord,
    RemittanceRecord,
    RemitTrace,
    column_limits,
)
from rehabclaim.remits.worklist import service_day
from rehabclaim.x12.core import collector_paused
from rehabclaim.x12.remit835 import Payment, RemitClaim, Remittance

NOT_ALLOWED_GROUPS = frozenset({"CO", "OA", "PI"})  # what the payer took off; PR stays in the allowed amount
BATCH = 1000  # claims per batch of statements (and ids per IN list): well under SQLite's parameter limit
Item = TypeVar("Item")


class RemitRefused(ValueError):
    """Nothing was posted; the message says why (a file that does not balance, a value the ledger cannot
    hold...)."""


class AlreadyPosted(RemitRefused):
    """The file, or a payment in it (its trace), was posted before."""


class LedgerFailed(RemitRefused):
    """The database failed (gone, locked, full...); the transaction rolled back."""


@dataclass(slots=True)
class PostOutcome:
    posted: list[str] = field(default_factory=list)  # visit ids
    unmatched: list[str] = field(default_factory=list)  # CLP01 values we never sent
    remittance_id: int | None = None  # remittances.id of the posted file
    traces: list[tuple[str, str]] = field(default_factory=list)  # each payment's (TRN02, TRN03)


Audit = Callable[[Connection, PostOutcome], None]  # the posting's audit event, in the posting's transaction


def allowed_amount(claim: RemitClaim) -> Decimal:
    """The allowed amount: the lines' AMT*B6 when the payer gave them, else charge less what the payer took
    off (CO, OA, PI adjustments); patient responsibility (PR) stays in it."""
    if claim.lines and all(line.allowed is not None for line in claim.lines):
        return sum((line.allowed or Decimal(0) for line in claim.lines), Decimal(0))
    taken = sum((a.amount for a in claim.adjustments if a.group in NOT_ALLOWED_GROUPS), Decimal(0))
    taken += sum(
        (a.amount for line in claim.lines for a in line.adjustments if a.group in NOT_ALLOWED_GROUPS), Decimal(0)
    )
    return claim.charge - taken


_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _json(items: Sequence[msgspec.Struct]) -> str:
    return _ENCODER.encode(items).decode()


def post_remittance(
    database: Engine,
    data: bytes,
    remittance: Remittance,
    progress: Callable[[int], None] | None = None,
    audit: Audit | None = None,
) -> PostOutcome:
    """Post ``remittance`` (read from ``data``) in one transaction, or raise RemitRefused having posted
    nothing. ``progress`` is called with the number of claims done (the file's claims that are not ours, then
    each batch of ours), so its calls add up to the file's claim count. ``audit`` runs last, in the same
    transaction."""
    if remittance.imbalances:
        raise RemitRefused(f"the file does not balance ({len(remittance.imbalances)} imbalance(s)): nothing posted")
    traces = _traces(remittance.payments)
    _check_row(RemittanceRecord, {"total_paid": remittance.total_paid}, "the payments' total (BPR02)")
    digest = hashlib.sha256(data).hexdigest()
    outcome = PostOutcome(traces=traces)
    try:
        with collector_paused(), database.begin() as connection:  # rows hold no cycles: see collector_paused
            _refuse_posted_file(connection, digest)
            remittance_id = connection.execute(
                insert(RemittanceRecord)
                .values(
                    file_sha256=digest,
                    trace_numbers=_trace_summary(traces),
                    total_paid=remittance.total_paid,
                    posted_at=datetime.now(UTC),
                )
                .returning(RemittanceRecord.id)
            ).scalar_one()
            outcome.remittance_id = remittance_id
            _claim_traces(connection, remittance_id, traces)
            sent = _sent_ids(connection, [c.id for c in remittance.claims])
            ours = [claim for claim in remittance.claims if claim.id in sent]
            outcome.posted = [claim.id for claim in ours]
            outcome.unmatched = [claim.id for claim in remittance.claims if claim.id not in sent]
            advance = progress or (lambda done: None)
            advance(len(outcome.unmatched))
            for batch in _batches(ours):
                _post_claims(connection, remittance_id, batch, remittance.payments, sent)
                advance(len(batch))
            _update_visit_allowed(connection, outcome.posted)
            if audit is not None:
                audit(connection, outcome)
    except IntegrityError:  # two posts racing: the primary keys and the unique hash let one through
        raise AlreadyPosted(
            "this 835 file, or a payment in it, was posted before: posting it again is refused"
        ) from None
    except DataError:  # a backstop: values are checked against their columns before they are written
        raise RemitRefused("the ledger refused a value of this file as out of range: nothing posted") from None
    except SQLAlchemyError as exc:  # the database is gone, locked, full...: the transaction rolled back
        orig = getattr(exc, "orig", None)  # the driver's words only: SQLAlchemy appends the SQL and its values
        reason = (str(orig if orig is not None else exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise LedgerFailed(f"the ledger failed ({reason}): nothing posted") from None
    return outcome


def _batches(items: Sequence[Item]) -> Iterator[Sequence[Item]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _traces(payments: list[Payment]) -> list[tuple[str, str]]:
    """Each payment's (TRN02, TRN03). The reader refuses a transaction without them and the same trace twice
    in a file; a Remittance built otherwise is checked again here, since either would post a payment twice."""
    traces = []
    for payment in payments:
        if not payment.trace_number or not payment.trace_originator:
            raise RemitRefused(f"transaction {payment.control_number} has no TRN02 and TRN03 trace: nothing posted")
        traces.append((payment.trace_number, payment.trace_originator))
    if len(set(traces)) != len(traces):
        raise RemitRefused("the same payment trace (TRN02 with TRN03) is twice in this file: nothing posted")
    return traces


def _trace_summary(traces: list[tuple[str, str]]) -> str:
    """The file's trace numbers for people; remit_traces holds every trace in full, so a file of many
    payments is cut to the column here rather than refused."""
    limit = dict(column_limits(RemittanceRecord).lengths)["trace_numbers"]
    joined = ",".join(trace for trace, _ in traces)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


def _refuse_posted_file(connection: Connection, digest: str) -> None:
    posted = connection.execute(
        select(RemittanceRecord.id, RemittanceRecord.posted_at).where(RemittanceRecord.file_sha256 == digest)
    ).first()
    if posted is not None:
        raise AlreadyPosted(
            f"this 835 file was posted before (remittance {posted.id}, {posted.posted_at:%Y-%m-%d}): "
            "posting it again is refused"
        )


def _claim_traces(connection: Connection, remittance_id: int, traces: list[tuple[str, str]]) -> None:
    """Record each payment's trace; one posted before refuses the whole file (the primary key makes this
    hold even for two processes posting at once). A trace recorded before revision 0004 has originator ''
    and matches any originator."""
    numbers = sorted({trace for trace, _ in traces})
    posted = {
        (row.trace_number, row.originator)
        for row in connection.execute(
            select(RemitTrace.trace_number, RemitTrace.originator).where(RemitTrace.trace_number.in_(numbers))
        )
    }
    for trace, originator in traces:
        if (trace, originator) in posted:
            raise AlreadyPosted(f"payment trace number {trace} from originator {originator} was posted before: refused")
        if (trace, "") in posted:
            raise AlreadyPosted(
                f"payment trace number {trace} was posted before the ledger kept originators (revision 0004), "
                "so it matches any originator: refused (it may be this very payment)"
            )
    rows = [{"trace_number": t, "originator": o, "remittance_id": remittance_id} for t, o in traces]
    for row in rows:
        _check_row(RemitTrace, row, f"payment trace {quote(row['trace_number'])}")
    if rows:
        connection.execute(insert(RemitTrace), rows)


def _sent_ids(connection: Connection, ids: list[str]) -> dict[str, date | None]:
    """The ids we sent a claim for or posted, each with its posted visit's date of service (None: not posted)."""
    found: dict[str, date | None] = {}
    for chunk in _batches(sorted(set(ids))):
        sent = connection.execute(select(ClaimSent.visit_id).where(ClaimSent.visit_id.in_(chunk))).scalars()
        found.update(dict.fromkeys(sent))
        posted = connection.execute(select(PostedVisit.id, PostedVisit.date).where(PostedVisit.id.in_(chunk)))
        found.update((row.id, row.date) for row in posted)
    return found


def _post_claims(
    connection: Connection,
    remittance_id: int,
    claims: Sequence[RemitClaim],
    payments: list[Payment],
    visit_dates: Mapping[str, date | None],
) -> None:
    """One batch: the claims in one executemany, then all their lines, which need the claims' ids."""
    rows = [_claim_row(remittance_id, claim, payments[claim.payment], visit_dates[claim.id]) for claim in claims]
    ids: Sequence[int]
    if connection.dialect.name == "sqlite":
        # SQLite cannot return the ids of a batch in order (SQLAlchemy would insert row by row), but has one
        # writer at a time: this transaction has written already, so no one else can take these ids.
        first = connection.execute(select(func.coalesce(func.max(RemitClaimRecord.id), 0))).scalar_one() + 1
        ids = range(first, first + len(rows))
        for claim_id, row in zip(ids, rows, strict=True):
            row["id"] = claim_id
        connection.execute(insert(RemitClaimRecord), rows)
    else:
        statement = insert(RemitClaimRecord).returning(RemitClaimRecord.id, sort_by_parameter_order=True)
        ids = connection.execute(statement, rows).scalars().all()
    lines = [
        line
        for claim_id, claim, row in zip(ids, claims, rows, strict=True)
        for line in _line_rows(claim_id, claim, row["service_date"])
    ]
    if lines:
        connection.execute(insert(RemitLineRecord), lines)


def _claim_row(remittance_id: int, claim: RemitClaim, payment: Payment, visit_date: date | None) -> dict[str, Any]:
    line_dates = [day for line in claim.lines if (day := service_day(line.service_date)) is not None]
    row = {
        "remittance_id": remittance_id,
        "visit_id": claim.id,
        "payer": payment.payer.name,
        "trace_number": payment.trace_number,
        "status": claim.status,
        "charge": claim.charge,
        "paid": claim.paid,
        "patient_responsibility": claim.patient_responsibility,
        "allowed": allowed_amount(claim),
        "payer_claim_id": claim.payer_claim_id,
        "adjustments": _json(claim.adjustments),
        "remarks": _json(claim.remarks),
        "payment_date": service_day(payment.date),  # BPR16 (D8); None if the file's is not a date
        "payer_id": payment.payer.id,
        "trace_originator": payment.trace_originator,
        "service_date": visit_date or min(line_dates, default=None),
    }
    _check_row(RemitClaimRecord, row, f"claim {quote(claim.id)} (CLP at segment {claim.segment})")
    return row


def _line_rows(claim_id: int, claim: RemitClaim, claim_date: date | None) -> Iterator[dict[str, Any]]:
    for line in claim.lines:
        row = {
            "remit_claim_id": claim_id,
            "code": line.code,
            "modifiers": ":".join(line.modifiers),
            "charge": line.charge,
            "paid": line.paid,
            "units": line.units,
            "adjustments": _json(line.adjustments),
            "remarks": _json(line.remarks),
            "service_date": service_day(line.service_date) or claim_date,
        }
        _check_row(
            RemitLineRecord, row, f"claim {quote(claim.id)} line {quote(line.code)} (SVC at segment {line.segment})"
        )
        yield row


def _check_row(table: type, row: Mapping[str, Any], where: str) -> None:
    """Refuse a value its column cannot hold: PostgreSQL would fail on a long string, a NUL or an amount too
    large (SQLite would keep them) and both would round away more than the column's decimals. Raised inside
    the transaction, so nothing of the file is posted."""
    limits = column_limits(table)
    for name, length in limits.lengths:
        value = row.get(name)
        if value is not None and (len(value) > length or "\x00" in value):
            problem = "holds a NUL character" if len(value) <= length else f"is longer than {length} characters"
            _refuse_value(table, name, quote(value), problem, where)
    for name, bound, step in limits.numbers:
        value = row.get(name)
        if value is not None and not (-bound < value < bound and value == value.quantize(step)):
            problem = f"is beyond {bound} or has more decimals than {step}"
            _refuse_value(table, name, str(value), problem, where)


def _refuse_value(table: type, name: str, shown: str, problem: str, where: str) -> None:
    column = f"{table.__tablename__}.{name}"  # type: ignore[attr-defined]
    raise RemitRefused(f"{where}: {column} {shown} {problem} (the ledger cannot hold it): nothing posted")


def _update_visit_allowed(connection: Connection, visit_ids: list[str]) -> None:
    """A posted visit's allowed amount is the sum over its remittances (a reversal nets out): one UPDATE
    per batch of visits, the sum computed by the database."""
    total = (
        select(func.sum(RemitClaimRecord.allowed)).where(RemitClaimRecord.visit_id == PostedVisit.id).scalar_subquery()
    )
    for chunk in _batches(list(dict.fromkeys(visit_ids))):
        connection.execute(update(PostedVisit).where(PostedVisit.id.in_(chunk)).values(allowed=total))
