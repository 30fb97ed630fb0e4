"""Synthetic, balanced 835 remittances for tests and benchmarks (what a payer would send for claims we
wrote). Built with the same segment renderer as the 837P; every amount balances by construction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from rehabclaim.x12.core import Envelope, Separators, render


@dataclass(frozen=True, slots=True)
class PaidLine:
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    units: int
    contractual: Decimal = Decimal(0)  # CO-45
    patient: Decimal = Decimal(0)  # PR-2 coinsurance
    denied: str | None = None  # a CARC: the whole line denied under CO with this reason
    remark: str | None = None
    allowed: Decimal | None = None  # AMT*B6, when the payer states the line's allowed amount


@dataclass(frozen=True, slots=True)
class PaidClaim:
    id: str
    lines: tuple[PaidLine, ...]
    status: str = "1"
    payer_claim_id: str = "PCN"


def _line_paid(line: PaidLine) -> Decimal:
    return Decimal(0) if line.denied else line.charge - line.contractual - line.patient


def claim_segments(claim: PaidClaim, component: str = ":") -> list[list[str]]:
    charge = sum((line.charge for line in claim.lines), Decimal(0))
    paid = sum((_line_paid(line) for line in claim.lines), Decimal(0))
    patient = sum((line.patient for line in claim.lines if not line.denied), Decimal(0))
    segments = [
        ["CLP", claim.id, claim.status, str(charge), str(paid), str(patient), "MB", claim.payer_claim_id, "11", "1"],
        ["NM1", "QC", "1", "PATIENT", "TEST"],
    ]
    for line in claim.lines:
        segments.append(
            [
                "SVC",
                component.join(["HC", line.code, *line.modifiers]),
                str(line.charge),
                str(_line_paid(line)),
                "",
                str(line.units),
            ]
        )
        if line.denied:
            segments.append(["CAS", "CO", line.denied, str(line.charge)])
        else:
            if line.contractual:
                segments.append(["CAS", "CO", "45", str(line.contractual)])
            if line.patient:
                segments.append(["CAS", "PR", "2", str(line.patient)])
        if line.allowed is not None:
            segments.append(["AMT", "B6", str(line.allowed)])
        if line.remark:
            segments.append(["LQ", "HE", line.remark])
    return segments


@dataclass(frozen=True, slots=True)
class PaidTransaction:
    """One payment (ST..SE): its claims, its trace (TRN02 with TRN03, the originator) and its payer."""

    claims: Iterable[PaidClaim]
    trace: str = "TRACE1"
    originator: str = "1234567890"
    payer: str = "MEDICARE PART B"


def remittance_835(
    claims: Iterable[PaidClaim],
    trace: str = "TRACE1",
    payer: str = "MEDICARE PART B",
    control: int = 1,
    separators: Separators | None = None,
    originator: str = "1234567890",
) -> str:
    """One interchange with one payment for ``claims`` (a generator is fine: a large file is built as it
    goes)."""
    return interchange_835([PaidTransaction(claims, trace, originator, payer)], control, separators)


def interchange_835(
    transactions: Sequence[PaidTransaction], control: int = 1, separators: Separators | None = None
) -> str:
    """One interchange with one functional group holding a transaction (a payment) for each of
    ``transactions``."""
    chosen = separators or Separators()
    envelope = Envelope("PAYER", "DEMOCLINIC01", control, control, datetime(2026, 6, 15, 12, 0), "HP", "005010X221A1")
    trailer = envelope.trailer()
    trailer[0][1] = str(len(transactions))  # GE01: the transactions in the group
    parts = [render(envelope.header(chosen), chosen)]
    for number, transaction in enumerate(transactions, start=1):
        parts.append(render(_transaction(transaction, f"{number:04d}", chosen.component), chosen))
    parts.append(render(trailer, chosen))
    return "".join(parts)


def _transaction(transaction: PaidTransaction, control: str, component: str) -> list[list[str]]:
    body: list[list[str]] = []
    total = Decimal(0)
    for number, claim in enumerate(transaction.claims, start=1):
        if number == 1:
            body.append(["LX", "1"])
        segments = claim_segments(claim, component)
        total += Decimal(segments[0][4])
        body += segments
    return payment_segments(body, total, control, transaction.trace, transaction.originator, transaction.payer)


def payment_segments(
    body: list[list[str]],
    paid: Decimal,
    control: str = "0001",
    trace: str = "TRACE1",
    originator: str = "1234567890",
    payer: str = "MEDICARE PART B",
) -> list[list[str]]:
    """One payment's transaction (ST..SE) around ``body`` (its claims' segments): ``paid`` in BPR02, the
    check or EFT dated 2026-06-15 (BPR16), the trace, the payer and the demo clinic as payee."""
    segments = [
        ["ST", "835", control],
        ["BPR", "I", str(paid), "C", "ACH", "", "", "", "", "", "", "", "", "", "", "", "20260615"],
        ["TRN", "1", trace, originator],
        ["N1", "PR", payer],
        ["N3", "PO BOX 1"],
        ["N4", "RALEIGH", "NC", "27601"],
        ["PER", "BL", "EDI HELP", "TE", "8005551212"],
        ["N1", "PE", "DEMO THERAPY CLINIC", "XX", "1234567893"],
        ["N3", "100 MAIN ST"],
        ["N4", "RALEIGH", "NC", "276011234"],
        ["REF", "TJ", "561234567"],
        *body,
    ]
    segments.append(["SE", str(len(segments) + 1), control])
    return segments
