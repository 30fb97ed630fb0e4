"""Posting an 835 to the ledger: every claim matched to a claim we sent (CLP01 = our patient control
number, the visit id), its paid and allowed amounts recorded, the visit's allowed amount updated for KX.

All of it in one transaction. A file that does not balance posts nothing; the same file posted twice is
refused (its SHA-256 is unique in the ledger), and so is a payment whose trace number was posted before
(trace numbers are a primary key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from rehabclaim.ledger.models import (
    ClaimSent,
    PostedVisit,
    RemitClaimRecord,
    RemitLineRecord,
    RemittanceRecord,
    RemitTrace,
)
from rehabclaim.x12.remit835 import RemitClaim, Remittance

NOT_ALLOWED_GROUPS = frozenset({"CO", "OA", "PI"})  # what the payer took off; PR stays in the allowed amount


class RemitRefused(ValueError):
    """Nothing was posted; the message says why."""


@dataclass(slots=True)
class PostOutcome:
    posted: list[str] = field(default_factory=list)  # visit ids
    unmatched: list[str] = field(default_factory=list)  # CLP01 values we never sent


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


def post_remittance(database: Engine, data: bytes, remittance: Remittance) -> PostOutcome:
    if remittance.imbalances:
        raise RemitRefused(f"the file does not balance ({len(remittance.imbalances)} imbalance(s)): nothing posted")
    digest = hashlib.sha256(data).hexdigest()
    traces = [p.trace_number or "" for p in remittance.payments]
    outcome = PostOutcome()
    try:
        with database.begin() as connection:
            remittance_id = connection.execute(
                insert(RemittanceRecord)
                .values(
                    file_sha256=digest,
                    trace_numbers=",".join(traces),
                    total_paid=remittance.total_paid,
                    posted_at=datetime.now(UTC),
                )
                .returning(RemittanceRecord.id)
            ).scalar_one()
            _claim_traces(connection, remittance_id, traces)
            sent = _sent_ids(connection, [c.id for c in remittance.claims])
            for claim in remittance.claims:
                if claim.id not in sent:
                    outcome.unmatched.append(claim.id)
                    continue
                payment = remittance.payments[claim.payment]
                _post_claim(connection, remittance_id, claim, payment.payer.name, payment.trace_number)
                outcome.posted.append(claim.id)
            _update_visit_allowed(connection, outcome.posted)
    except IntegrityError:
        raise RemitRefused(
            "this 835 file, or a payment in it, was posted before: posting it again is refused"
        ) from None
    return outcome


def _claim_traces(connection: Connection, remittance_id: int, traces: list[str]) -> None:
    """Record each payment's trace number; one posted before refuses the whole file (the primary key makes
    this hold even for two processes posting at once)."""
    for trace in dict.fromkeys(t for t in traces if t):
        seen = connection.execute(select(RemitTrace.trace_number).where(RemitTrace.trace_number == trace)).first()
        if seen is not None:
            raise RemitRefused(f"payment trace number {trace} was posted before: refused")
        connection.execute(insert(RemitTrace).values(trace_number=trace, originator="", remittance_id=remittance_id))


def _sent_ids(connection: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found |= set(connection.execute(select(ClaimSent.visit_id).where(ClaimSent.visit_id.in_(chunk))).scalars())
        found |= set(connection.execute(select(PostedVisit.id).where(PostedVisit.id.in_(chunk))).scalars())
    return found


def _post_claim(connection: Connection, remittance_id: int, claim: RemitClaim, payer: str, trace: str | None) -> None:
    claim_id = connection.execute(
        insert(RemitClaimRecord)
        .values(
            remittance_id=remittance_id,
            visit_id=claim.id,
            payer=payer,
            trace_number=trace,
            status=claim.status,
            charge=claim.charge,
            paid=claim.paid,
            patient_responsibility=claim.patient_responsibility,
            allowed=allowed_amount(claim),
            payer_claim_id=claim.payer_claim_id,
            adjustments=_json(claim.adjustments),
            remarks=_json(claim.remarks),
        )
        .returning(RemitClaimRecord.id)
    ).scalar_one()
    if claim.lines:
        connection.execute(
            insert(RemitLineRecord),
            [
                {
                    "remit_claim_id": claim_id,
                    "code": line.code,
                    "modifiers": ":".join(line.modifiers),
                    "charge": line.charge,
                    "paid": line.paid,
                    "units": line.units,
                    "adjustments": _json(line.adjustments),
                    "remarks": _json(line.remarks),
                }
                for line in claim.lines
            ],
        )


def _update_visit_allowed(connection: Connection, visit_ids: list[str]) -> None:
    """A posted visit's allowed amount is the sum over its remittances (a reversal nets out)."""
    for visit_id in set(visit_ids):
        total = connection.execute(
            select(func.sum(RemitClaimRecord.allowed)).where(RemitClaimRecord.visit_id == visit_id)
        ).scalar_one()
        connection.execute(update(PostedVisit).where(PostedVisit.id == visit_id).values(allowed=total))
