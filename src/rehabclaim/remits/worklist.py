"""The denials worklist: denied and partly paid lines by reason and payer, each with the next step."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Engine, select

from rehabclaim.ledger.models import RemitClaimRecord, RemitLineRecord
from rehabclaim.remits.codes import code_table
from rehabclaim.x12.remit835 import Adjustment, Remark, Remittance

DENIED_STATUS = "4"


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


def _items(
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
    table = code_table()
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


def from_remittance(remittance: Remittance) -> list[WorkItem]:
    items = []
    for claim in remittance.claims:
        payer = remittance.payments[claim.payment].payer.name
        if claim.lines:
            for line in claim.lines:
                items += _items(
                    claim.id,
                    payer,
                    claim.status,
                    line.code,
                    line.modifiers,
                    line.charge,
                    line.paid,
                    line.adjustments + (claim.adjustments if len(claim.lines) == 1 else []),
                    line.remarks + claim.remarks,
                )
        else:
            items += _items(
                claim.id, payer, claim.status, "(claim)", [], claim.charge, claim.paid, claim.adjustments, claim.remarks
            )
    return _sorted(items)


def from_ledger(database: Engine) -> list[WorkItem]:
    adjustments_type, remarks_type = list[Adjustment], list[Remark]
    items = []
    with database.connect() as connection:
        claims = connection.execute(select(RemitClaimRecord)).all()
        lines = connection.execute(select(RemitLineRecord)).all()
    by_claim: dict[int, list[Any]] = {}
    for line in lines:
        by_claim.setdefault(line.remit_claim_id, []).append(line)
    for claim in claims:
        claim_adjustments = msgspec.json.decode(claim.adjustments, type=adjustments_type)
        claim_remarks = msgspec.json.decode(claim.remarks, type=remarks_type)
        for line in by_claim.get(claim.id, []):
            items += _items(
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
    return _sorted(items)


def _sorted(items: list[WorkItem]) -> list[WorkItem]:
    return sorted(items, key=lambda i: (i.reason, i.payer, i.visit_id, i.code))
