"""Secondary claims (coordination of benefits): the primary claim of a visit, sent on to the visit's
``secondary`` payer with the primary's posted remittance (835) in 2320/2330A/2330B and 2430.

The balance that goes on is the patient responsibility the primary left (its PR adjustments: deductible,
coinsurance, copay...); CO, OA and PI amounts are the provider's to write off. A visit is held back, never
half written, when the secondary claim would be wrong: no secondary payer on the visit, no primary 835
posted, a primary that forwarded the claim itself (CLP02 19), a reversed payment, a fully paid claim, a denial
or write-off with nothing for the patient, a remittance that does not match the claim's charges or lines.

The primary's answer is told from other payers' by the identifiers the 835 carries (ledger revision 0006:
1000A N1*PR N104, else REF*2U, and TRN03, kept with each posted claim) against the payer id the primary claim
sends in 2010BB NM109 (``[claims.payers]``): the last answer naming the primary's id counts. When no posted
answer names it (the 835s carry other ids, or were posted before 0006), the last answer that names none of
the practice's payers counts, so another payer of ours (the secondary, say) is never taken for the primary.

DTP*573 (2330B and 2430, "claim/line check or remittance date", DTP03 "adjudication or payment date" in
pyx12's 837P map) is the primary payment's BPR16 ("check issue or EFT effective date", 835 map): the date of
the payer's check or EFT, not the 835's production date (DTM*405) nor the day we posted it. A claim posted
before revision 0006 has no BPR16 in the ledger: the day its 835 was posted stands in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Engine, select

from rehabclaim.claims.build import ClaimDataError, person
from rehabclaim.errors import quote
from rehabclaim.ledger.models import RemitClaimRecord, RemitLineRecord, RemittanceRecord
from rehabclaim.model import SecondaryCoverage, Visit
from rehabclaim.practice import ClaimSettings
from rehabclaim.x12 import claim837 as x12

PRIMARY_STATUSES = frozenset({"1", "4", "19", "22"})  # CLP02 of a primary's answer: paid, denied, forwarded, reversed
PATIENT_GROUP = "PR"
MEDICARE_FILING = frozenset({"MA", "MB"})  # SBR09 Medicare Part A and B: SBR05 then says why it is secondary


class SecondaryHeld(ClaimDataError):
    """The visit's secondary claim cannot be built; the message says why (naming the field or the 835)."""


@dataclass(frozen=True, slots=True)
class RemitLine:
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: Decimal
    adjustments: tuple[x12.Adjustment, ...]


@dataclass(frozen=True, slots=True)
class PrimaryRemit:
    """The primary payer's adjudication of a visit's claim, as posted (remit_claims, remit_lines)."""

    status: str  # CLP02
    charge: Decimal  # CLP03
    paid: Decimal  # CLP04
    adjustments: tuple[x12.Adjustment, ...]  # claim-level CAS
    lines: tuple[RemitLine, ...]
    adjudicated: date  # BPR16, the check or EFT date (the day the 835 was posted, for claims posted before 0006)
    payer_ids: tuple[str, ...] = ()  # what the 835 identified its payer by: N1*PR N104 or REF*2U, TRN03

    @property
    def patient_responsibility(self) -> Decimal:
        """The PR adjustments, claim and lines: what the primary left to the patient (and so to a secondary)."""
        found = [a for a in self.adjustments if a.group == PATIENT_GROUP]
        found += [a for line in self.lines for a in line.adjustments if a.group == PATIENT_GROUP]
        return x12.adjustment_total(found)


def _adjustments(text: str) -> tuple[x12.Adjustment, ...]:
    return tuple(msgspec.json.decode(text, type=list[x12.Adjustment]))


def primary_remit(
    database: Engine, visit_id: str, payer_id: str | None = None, other_payer_ids: frozenset[str] = frozenset()
) -> PrimaryRemit | None:
    """The primary's last posted answer for the visit (paid, denied, forwarded or reversed), or None.
    ``payer_id``: the primary's (2010BB NM109); ``other_payer_ids``: the practice's other payers' (see the
    module). Without ``payer_id``, the last answer of any payer but the others."""
    claims, lines = RemitClaimRecord, RemitLineRecord
    with database.connect() as connection:
        answers = connection.execute(
            select(
                claims.id,
                claims.status,
                claims.charge,
                claims.paid,
                claims.adjustments,
                claims.payment_date,
                claims.payer_id,
                claims.trace_originator,
                RemittanceRecord.posted_at,
            )
            .join(RemittanceRecord, RemittanceRecord.id == claims.remittance_id)
            .where(claims.visit_id == visit_id, claims.status.in_(PRIMARY_STATUSES))
            .order_by(claims.id.desc())
        ).all()
        claim = _primary_answer(answers, payer_id, other_payer_ids - {payer_id})
        if claim is None:
            return None
        rows = connection.execute(
            select(lines.code, lines.modifiers, lines.charge, lines.paid, lines.units, lines.adjustments)
            .where(lines.remit_claim_id == claim.id)
            .order_by(lines.id)
        ).all()
    return PrimaryRemit(
        status=claim.status,
        charge=claim.charge,
        paid=claim.paid,
        adjustments=_adjustments(claim.adjustments),
        lines=tuple(
            RemitLine(
                code=row.code,
                modifiers=tuple(m for m in row.modifiers.split(":") if m),
                charge=row.charge,
                paid=row.paid,
                units=row.units,
                adjustments=_adjustments(row.adjustments),
            )
            for row in rows
        ),
        adjudicated=claim.payment_date or claim.posted_at.date(),
        payer_ids=_ids_of(claim),
    )


def _ids_of(answer: Any) -> tuple[str, ...]:  # a row of primary_remit's query
    return tuple(dict.fromkeys(i for i in (answer.payer_id, answer.trace_originator) if i))


def _primary_answer(answers: Sequence[Any], payer_id: str | None, others: frozenset[str]) -> Any:
    """The first of ``answers`` (latest first) naming ``payer_id``; else the first naming none of ``others``."""
    if payer_id is not None:
        named = next((answer for answer in answers if payer_id in _ids_of(answer)), None)
        if named is not None:
            return named
    return next((answer for answer in answers if not others.intersection(_ids_of(answer))), None)


def secondary_builder(database: Engine, settings: ClaimSettings) -> Callable[[Visit, x12.Claim], x12.Claim]:
    """What ``claims.run`` applies to each primary claim built: its secondary claim, or ``SecondaryHeld``."""

    def build(visit: Visit, primary: x12.Claim) -> x12.Claim:
        coverage = visit.secondary
        if coverage is None:
            raise SecondaryHeld("secondary: the visit names no secondary payer")
        others = frozenset(payer.id for payer in settings.payers.values())
        remit = primary_remit(database, visit.id, primary.payer.id, others)
        if remit is None:
            raise SecondaryHeld(
                f"no primary remittance (835) is posted for this visit (from payer id {quote(primary.payer.id)}, "
                "2010BB NM109, or naming no other payer of [claims.payers]): post the primary's 835 first"
            )
        return secondary_claim(visit, coverage, primary, remit, settings)

    return build


def secondary_claim(
    visit: Visit, coverage: SecondaryCoverage, primary: x12.Claim, remit: PrimaryRemit, settings: ClaimSettings
) -> x12.Claim:
    """The secondary claim: ``primary`` sent to ``coverage.payer`` with ``remit`` as the other payer's
    adjudication. The destination's own claim is an original (frequency 1): the primary's claim number and
    authorization (REF*F8, REF*G1) are the primary's, not the secondary's."""
    _refuse_unbillable(remit, primary)
    payer = settings.payers.get(coverage.payer)
    if payer is None:
        raise SecondaryHeld(f"secondary.payer {quote(coverage.payer)} is not a payer of the practice's [claims.payers]")
    if payer.filing_indicator in MEDICARE_FILING and coverage.insurance_type is None:
        raise SecondaryHeld("secondary.insurance_type is required when the secondary payer is Medicare (837P SBR05)")
    subscriber, dependent, relationship = _secondary_insured(visit, coverage, primary)
    # AMT*EAF goes with the lines when the primary adjudicated lines and left no PR at the claim level;
    # otherwise once, at the claim level (never both: COB_TABLE)
    line_liability = bool(remit.lines) and all(a.group != PATIENT_GROUP for a in remit.adjustments)
    lines = _adjudicated_lines(primary, remit, line_liability)
    other = x12.OtherPayer(
        payer=primary.payer,
        subscriber=primary.subscriber,
        relationship="18" if primary.patient is None else primary.patient_relationship or "G8",
        paid=remit.paid,
        adjustments=remit.adjustments,
        adjudicated=remit.adjudicated,
        remaining_patient_liability=None if line_liability else remit.patient_responsibility,
    )
    return msgspec.structs.replace(
        primary,
        payer=x12.PayerId(name=payer.name, id=payer.id, filing_indicator=payer.filing_indicator),
        subscriber=subscriber,
        patient=dependent,
        patient_relationship=relationship,
        lines=lines,
        frequency="1",
        payer_claim_control_number=None,
        prior_authorization=None,
        sequence="S",
        insurance_type=coverage.insurance_type,
        other_payer=other,
    )


def _refuse_unbillable(remit: PrimaryRemit, primary: x12.Claim) -> None:
    """Held back: a crossover, a reversal, a remittance for other charges, nothing left for the patient."""
    if remit.status == "19":
        raise SecondaryHeld(
            "the primary forwarded the claim to another payer itself (835 CLP02 19, crossover): "
            "a secondary claim would be a duplicate"
        )
    if remit.status == "22":
        raise SecondaryHeld(
            "the primary's last remittance reverses its payment (835 CLP02 22): post its correction first"
        )
    if remit.charge != primary.total_charge:
        raise SecondaryHeld(
            f"the primary's remittance charge (835 CLP03 {remit.charge}) is not the claim's ({primary.total_charge}, "
            "CLM02): the visit changed since the primary claim"
        )
    if remit.patient_responsibility > 0:
        return
    if remit.paid >= remit.charge:
        raise SecondaryHeld("fully paid by the primary (835 CLP04 = CLP03): nothing left for a secondary payer")
    if remit.status == "4":
        raise SecondaryHeld("denied by the primary (835 CLP02 4) with no patient responsibility: nothing to pass on")
    raise SecondaryHeld(
        "the primary left no patient responsibility (no PR adjustment; CO/OA/PI amounts are written off): "
        "nothing to pass on"
    )


def _secondary_insured(
    visit: Visit, coverage: SecondaryCoverage, primary: x12.Claim
) -> tuple[x12.Person, x12.Person | None, str | None]:
    """2000B/2000C for the secondary payer: its insured (the patient, or ``coverage.subscriber``)."""
    patient = primary.patient or primary.subscriber
    if coverage.subscriber is not None:
        return person(coverage.subscriber, coverage.subscriber.member_id), patient, coverage.subscriber.relationship
    if not coverage.member_id:
        raise SecondaryHeld("secondary.member_id (or secondary.subscriber) is required for a secondary claim")
    assert visit.patient is not None  # build_claim has required it
    return person(visit.patient, coverage.member_id), None, None


def _adjudicated_lines(primary: x12.Claim, remit: PrimaryRemit, liability: bool) -> tuple[x12.ServiceLine, ...]:
    """Each line with the primary's adjudication of it (2430), matched by code and modifiers, else by code;
    none when the primary answered at the claim level only (then 2320 and 2330B carry it all)."""
    if not remit.lines:
        return primary.lines
    unused = list(remit.lines)
    found = []
    for line in primary.lines:
        match = next((r for r in unused if (r.code, r.modifiers) == (line.code, line.modifiers)), None)
        match = match or next((r for r in unused if r.code == line.code), None)
        if match is None or match.charge != line.charge:
            what = "has no adjudication for it" if match is None else f"charges {match.charge} for it"
            raise SecondaryHeld(f"line {line.code}: the primary's remittance (835 SVC) {what}")
        unused.remove(match)
        adjudication = _line_adjudication(primary, match, remit, liability)
        found.append(msgspec.structs.replace(line, adjudication=adjudication))
    if unused:
        raise SecondaryHeld(f"the primary's remittance adjudicates line {unused[0].code}, which this claim has not")
    return tuple(found)


def _line_adjudication(
    primary: x12.Claim, line: RemitLine, remit: PrimaryRemit, liability: bool
) -> x12.LineAdjudication:
    """2430 from the posted line; ``liability``: with the line's PR total as AMT*EAF."""
    patient = x12.adjustment_total(a for a in line.adjustments if a.group == PATIENT_GROUP)
    return x12.LineAdjudication(
        payer_id=primary.payer.id,
        paid=line.paid,
        code=line.code,
        modifiers=line.modifiers,
        units=line.units,
        adjustments=line.adjustments,
        adjudicated=remit.adjudicated,
        remaining_patient_liability=patient if liability else None,
    )
