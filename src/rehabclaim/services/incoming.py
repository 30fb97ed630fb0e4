"""Claims in: scrub an incoming 837P (from a clinic's EMR) and write it back corrected.

Each claim of the file (``x12.read837``) becomes a visit with the units billed and the minutes unknown; every
rule runs (the claim stage included) and the claims without an error are written again as one 837P through
the claim writer (``claims.build.build_claim``, ``claims.run``'s interchange and control numbers) with our
modifiers added and the file's own line charges. A claim with an error, or one that cannot become a visit
(an unknown code, a value the contract refuses, lines on several dates), is held back and listed with its
reasons. Payer ids the practice file does not list are scrubbed with the default profile under the key
``payer-<id>`` and reported in ``unknown_payers``; their name, id and SBR09 are written back as read.

Without minutes some rules cannot be checked (``MINUTES_RULES``): each claim with a timed code billed in
units lists them in ``not_checked``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import msgspec
from sqlalchemy import Engine

from rehabclaim.atomic import write_atomic
from rehabclaim.claims.build import build_claim
from rehabclaim.claims.run import _interchange, _settings, next_control_numbers
from rehabclaim.errors import InputError
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.practice import PayerIdSettings
from rehabclaim.reference import Reference
from rehabclaim.scrubber import Scrubber
from rehabclaim.services.errors import BadInput
from rehabclaim.x12 import claim837 as x12
from rehabclaim.x12.core import X12Error, X12WriteError
from rehabclaim.x12.read837 import IncomingClaim, discipline, payer_key, read_837, to_visit

# Rules whose verdict needs the minutes of a timed code, and what stays unchecked without them.
MINUTES_RULES = {
    "U001": "timed minutes documented for each timed code",
    "U002": "units of a timed code supported by its minutes (8-minute rule / CMS total-time method)",
    "U003": "a timed service too short to earn a unit",
    "M002": "CQ/CO on the units an assistant furnished (assistant minutes unknown)",
    "O002": "orthotic training minutes beside an orthosis code",
    "T004": "the note's minutes support the units (no note on an 837P)",
    "T005": "the note's total timed minutes equal the minutes billed",
}


class ClaimVerdict(msgspec.Struct):
    """One claim of the file: its scrub (null when it could not become a visit) and whether it was held back."""

    id: str  # CLM01
    segment: int
    payer: str  # our payer key
    payer_id: str | None  # 2010BB NM109
    held_back: bool
    reasons: list[str]  # why it was held back: error findings, or why it is no visit
    not_checked: list[str]  # rule ids that need minutes this claim does not give
    charge: float  # CLM02 as read
    result: ScrubResult | None


class UnknownPayer(msgspec.Struct):
    payer_id: str | None
    name: str
    key: str  # the fallback key it was scrubbed under (default profile)


class NotChecked(msgspec.Struct):
    rule: str
    what: str


class Incoming837Report(msgspec.Struct):
    """What ``scrub claims.837 --json`` prints (a contract: fields are added, never renamed)."""

    interchanges: int
    transactions: int
    claims: list[ClaimVerdict]
    held_back: list[str]  # ids of the claims left out of the corrected file
    not_checked: list[NotChecked]  # every rule some claim could not be checked against, with what it checks
    unknown_payers: list[UnknownPayer]
    unknown_segments: list[str]  # "ID at segment N"
    written: int = 0  # claims in the corrected 837P
    out: str | None = None
    interchange_control_number: int | None = None

    @property
    def has_error(self) -> bool:
        return bool(self.held_back)


def _payer_setup(
    reference: Reference, claims: list[IncomingClaim]
) -> tuple[Reference, dict[str, str], list[UnknownPayer]]:
    """The reference with every unknown payer of the file added to the practice's [claims.payers] (so the
    claim rules and the writer know its id), the payer key of each claim, and the unknown payers."""
    practice = reference.practice
    settings = practice.claims
    if settings is None:
        raise BadInput("practice", f"{practice.origin}: the practice file has no [claims] section")
    known = {payer.id: key for key, payer in settings.payers.items()}
    added: dict[str, PayerIdSettings] = {}
    keys, unknown = {}, []
    for claim in claims:
        key = payer_key(claim.payer.id, known)
        keys[claim.id] = key
        if key not in settings.payers and key not in added:
            name = claim.payer.last_name or "UNKNOWN PAYER"
            added[key] = PayerIdSettings(name=name, id=claim.payer.id or "", filing_indicator=claim.filing_indicator)
            unknown.append(UnknownPayer(claim.payer.id, name, key))
    if added:
        claims_settings = msgspec.structs.replace(settings, payers={**settings.payers, **added})
        practice = msgspec.structs.replace(practice, claims=claims_settings)
        reference = dataclasses.replace(reference, practice=practice)
    return reference, keys, unknown


def _visit(claim: IncomingClaim, key: str, disciplines: dict[str, tuple[str, ...]]) -> Visit:
    dates = {day for line in claim.lines for day in (line.service_date, line.service_date_end)}
    if len(dates) > 1:
        raise InputError("services", "lines on several dates of service: send one claim per date")
    found = discipline(claim, disciplines)
    if found is None:
        raise InputError("discipline", "no GP/GO/GN modifier, therapy taxonomy or therapy code tells PT, OT or SLP")
    return to_visit(claim, key, found)


def _with_billed_charges(result: ScrubResult, claim: IncomingClaim) -> ScrubResult:
    """The scrub's lines with the file's own charges (SV102 summed per code), which the corrected 837P keeps."""
    billed: dict[str, Decimal] = {}
    for line in claim.lines:
        billed[line.code] = billed.get(line.code, Decimal(0)) + line.charge
    lines = [msgspec.structs.replace(line, charge=float(billed.get(line.code, 0))) for line in result.lines]
    return msgspec.structs.replace(result, lines=lines)


def scrub_837(
    reference: Reference,
    *,
    data: bytes,
    out: Path | None = None,
    database: Engine | None = None,
    now: datetime | None = None,
) -> Incoming837Report:
    """Scrub every claim of an 837P; with ``out`` (and ``database``, for the control numbers) write the claims
    without errors as one corrected 837P, whole or not at all. BadInput for a file that cannot be read."""
    try:
        read = read_837(data)
    except X12Error as exc:
        raise BadInput("", f"not a readable 837P: {exc}") from None
    reference, keys, unknown = _payer_setup(reference, read.claims)
    engine = Scrubber(reference)
    disciplines = {code: facts.disciplines for code, facts in reference.catalog.codes.items()}
    verdicts, built = [], []
    for claim in read.claims:
        verdict, ready = _scrub_claim(claim, keys[claim.id], engine, disciplines)
        verdicts.append(verdict)
        if ready is not None:
            built.append(ready)
    gaps = sorted({rule for verdict in verdicts for rule in verdict.not_checked})
    report = Incoming837Report(
        interchanges=read.interchanges,
        transactions=read.transactions,
        claims=verdicts,
        held_back=[verdict.id for verdict in verdicts if verdict.held_back],
        not_checked=[NotChecked(rule, MINUTES_RULES[rule]) for rule in gaps],
        unknown_payers=unknown,
        unknown_segments=[f"{found.id} at segment {found.segment}" for found in read.unknown_segments],
    )
    if out is not None and built:
        if database is None:
            raise BadInput("database", "a ledger is needed for the corrected 837P's control numbers")
        report.interchange_control_number = _write(engine, database, out, built, now)
        report.written, report.out = len(built), str(out)
    return report


def _scrub_claim(
    claim: IncomingClaim, key: str, engine: Scrubber, disciplines: dict[str, tuple[str, ...]]
) -> tuple[ClaimVerdict, x12.Claim | None]:
    verdict = ClaimVerdict(claim.id, claim.segment, key, claim.payer.id, True, [], [], float(claim.charge), None)
    try:
        visit = _visit(claim, key, disciplines)
        result = engine.scrub(visit, for_claim=True)
    except InputError as exc:
        verdict.reasons.append(f"{exc.field}: {exc.reason}" if exc.field else exc.reason)
        return verdict, None
    verdict.result = result
    if any(service.minutes_unknown for service in visit.services):
        verdict.not_checked = list(MINUTES_RULES)
    line_total = sum((line.charge for line in claim.lines), Decimal(0))
    if line_total != claim.charge:
        verdict.reasons.append(f"CLM02 {claim.charge} is not the sum of the line charges {line_total}")
    verdict.reasons += [f"{f.rule}: {f.message}" for f in result.findings if f.severity == "error"]
    if verdict.reasons:
        return verdict, None
    settings = engine.reference.practice.claims
    assert settings is not None
    try:
        built = build_claim(visit, _with_billed_charges(result, claim), settings)
    except (X12WriteError, ValueError) as exc:
        verdict.reasons.append(f"the corrected 837P would be invalid: {exc}")
        return verdict, None
    verdict.held_back = False
    return verdict, built


def _write(engine: Scrubber, database: Engine, out: Path, claims: list[x12.Claim], now: datetime | None) -> int:
    """One interchange with the practice's envelope and billing provider, numbered as ``claim`` numbers its
    own (the ledger's control numbers); not recorded as sent: the clinic or clearinghouse sends it."""
    settings, separators = _settings(engine)
    numbers = next_control_numbers(database)
    interchange = _interchange(settings, separators, numbers, now or datetime.now(UTC), claims)
    write_atomic(out, interchange.render().encode("ascii"), private=True)
    return numbers["isa"]
