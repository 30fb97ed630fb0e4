"""Claims in: scrub an incoming 837P (from a clinic's EMR) and write it back corrected.

Each claim of the file (``x12.read837``) becomes a visit with the units billed and the minutes unknown; every
rule runs (the claim stage included) and the claims without an error are written again as one 837P through
the claim writer (``claims.build.build_claim``, ``claims.run``'s interchange and control numbers) with our
modifiers added and the file's own line charges. Each claim stays under its own 2010AA billing provider (NPI,
name, address, tax id as read): one 2000A HL per billing provider, in the order first seen, so a file from
several clinics keeps them apart; the practice file gives the envelope, submitter and receiver. A claim
with an error, or one that cannot become a visit (an unknown code, a value the contract refuses, lines on
several dates, a billing provider the 837P cannot carry again), is held back and listed with its reasons.
Payer ids the practice file does not list are scrubbed with the default profile under the key
``payer-<id>`` and reported in ``unknown_payers``; their name, id and SBR09 are written back as read.

Without minutes some rules cannot be checked (``MINUTES_RULES``): each claim with a timed code billed in
units lists them in ``not_checked``.

A 2300 PWK (attachment) is written again as read (PWK01, PWK02, PWK05 AC/PWK06); one whose codes are outside
the 837P's lists holds its claim back naming the segment. The writer has no 2400 (line) PWK: such a PWK is
not written again, and its claim lists it in ``not_carried`` so the biller sends the attachment another way.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import msgspec
from sqlalchemy import Engine

from rehabclaim.atomic import write_atomic
from rehabclaim.claims.build import build_claim
from rehabclaim.claims.run import ClaimRunError, claim_interchange, claim_settings, next_control_numbers
from rehabclaim.errors import InputError, quote
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.practice import PayerIdSettings
from rehabclaim.reference import Reference
from rehabclaim.scrubber import Scrubber
from rehabclaim.services.errors import BadInput, TooLarge
from rehabclaim.x12 import claim837 as x12
from rehabclaim.x12.core import Separators, X12Error, X12WriteError, collector_paused, render
from rehabclaim.x12.read837 import (
    CodeProblem,
    IncomingAttachment,
    IncomingClaim,
    Party,
    discipline,
    payer_key,
    read_837,
    to_visit,
)

ADDRESS_ELEMENTS = (("N301", "line1"), ("N401", "city"), ("N402", "state"), ("N403", "zip"))
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


class ClaimVerdict(msgspec.Struct, omit_defaults=True):
    """One claim of the file: its scrub (null when it could not become a visit) and whether it was held back.
    ``not_carried`` is left out when empty (only it has a default), so claims without it encode as before."""

    id: str  # CLM01
    segment: int
    payer: str  # our payer key
    payer_id: str | None  # 2010BB NM109
    held_back: bool
    reasons: list[str]  # why it was held back: error findings, or why it is no visit
    not_checked: list[str]  # rule ids that need minutes this claim does not give
    charge: float  # CLM02 as read
    result: ScrubResult | None
    not_carried: list[str] = msgspec.field(default_factory=list)  # what the corrected 837P does not write again


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
    corrected_837: str | None = None  # the corrected 837P's text, when asked for (the API's ``corrected=true``)

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


Ready = tuple[x12.BillingProvider, x12.Claim]  # a claim to write again, under its own billing provider


def scrub_837(
    reference: Reference,
    *,
    data: bytes,
    out: Path | None = None,
    database: Engine | None = None,
    now: datetime | None = None,
    corrected: bool = False,
    max_claims: int | None = None,
) -> Incoming837Report:
    """Scrub every claim of an 837P; with ``out`` (and ``database``, for the control numbers) write the claims
    without errors as one corrected 837P, whole or not at all; with ``corrected`` its text is in the report
    (``corrected_837``) too. BadInput for a file that cannot be read; TooLarge (nothing scrubbed) for more
    claims than ``max_claims``."""
    try:
        read = read_837(data)
    except X12Error as exc:
        raise BadInput("", f"not a readable 837P: {exc}") from None
    if max_claims is not None and len(read.claims) > max_claims:
        raise TooLarge("", f"{len(read.claims):,} claims; at most {max_claims:,} in one request")
    reference, keys, unknown = _payer_setup(reference, read.claims)
    engine = Scrubber(reference)
    separators = _separators(engine)
    disciplines = {code: facts.disciplines for code, facts in reference.catalog.codes.items()}
    verdicts, ready = [], []
    for claim in read.claims:
        verdict, built = _scrub_claim(claim, keys[claim.id], engine, disciplines, separators)
        verdicts.append(verdict)
        if built is not None:
            ready.append(built)
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
    if (out is not None or corrected) and ready:
        if database is None:
            raise BadInput("database", "a ledger is needed for the corrected 837P's control numbers")
        report.interchange_control_number, text = _corrected(engine, database, ready, now)
        report.written = len(ready)
        if out is not None:
            _write(out, text)
            report.out = str(out)
        if corrected:
            report.corrected_837 = text
    return report


def _separators(engine: Scrubber) -> Separators:
    try:
        return claim_settings(engine)[1]
    except ClaimRunError as exc:
        raise BadInput("practice", str(exc)) from None


def _scrub_claim(
    claim: IncomingClaim,
    key: str,
    engine: Scrubber,
    disciplines: dict[str, tuple[str, ...]],
    separators: Separators,
) -> tuple[ClaimVerdict, Ready | None]:
    verdict = ClaimVerdict(claim.id, claim.segment, key, claim.payer.id, True, [], [], float(claim.charge), None)
    verdict.reasons += [code_problem_reason(problem) for problem in claim.code_problems]
    verdict.not_carried = [line_attachment_note(found) for line in claim.lines for found in line.attachments]
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
    provider = billing_provider(claim.billing_provider, separators)
    if isinstance(provider, str):
        verdict.reasons.append(provider)
    if verdict.reasons or isinstance(provider, str):
        return verdict, None
    settings = engine.reference.practice.claims
    assert settings is not None
    try:
        built = build_claim(visit, _with_billed_charges(result, claim), settings)
    except (X12WriteError, ValueError) as exc:
        verdict.reasons.append(f"the corrected 837P would be invalid: {exc}")
        return verdict, None
    verdict.held_back = False
    return verdict, (provider, built)


def code_problem_reason(problem: CodeProblem) -> str:
    """Why a claim with a code outside its list is held back, naming the segment (the writer refuses it too)."""
    return f"{problem.id} at segment {problem.segment}: {problem.element} {quote(problem.value)} {problem.reason}"


def line_attachment_note(found: IncomingAttachment) -> str:
    """A 2400 PWK the corrected 837P leaves out (the writer writes PWK at the claim, 2300, only), naming it."""
    control = f" {quote(found.control_number)}" if found.control_number else ""
    return (
        f"PWK at segment {found.segment}: a service line (2400) attachment {quote(found.report_type)}/"
        f"{quote(found.transmission)}{control} is not written again (the corrected 837P has no line PWK)"
    )


def billing_provider(party: Party, separators: Separators) -> x12.BillingProvider | str:
    """The claim's 2010AA billing provider as the writer writes it again, or why it cannot be (a missing or
    unwritable NPI, name, address or tax id; an SSN (REF*SY), since the writer writes REF*EI)."""
    address = party.address or {}
    values = [
        ("NM103", "name", party.last_name),
        ("NM109", "NPI", party.id or ""),
        ("REF02", "tax id", party.tax_id or ""),
        *[(element, f"address {name}", address.get(name, "")) for element, name in ADDRESS_ELEMENTS],
    ]
    for element, what, value in values:
        reason = "is missing" if not value else x12.value_problem(element, value, separators)
        if reason is not None:
            return f"2010AA billing provider {what} ({element}) {reason}"
    if party.tax_id_qualifier == "SY":
        return "2010AA billing provider: a social security number (REF*SY) is not written again, only REF*EI"
    taxonomy = party.taxonomy if party.taxonomy and x12.value_problem("PRV03", party.taxonomy) is None else None
    return x12.BillingProvider(
        name=party.last_name,
        npi=party.id or "",
        tax_id=party.tax_id or "",
        address=x12.Address(
            address["line1"], address["city"], address["state"], address["zip"], address.get("line2") or None
        ),
        taxonomy=taxonomy,
    )


def _corrected(engine: Scrubber, database: Engine, ready: list[Ready], now: datetime | None) -> tuple[int, str]:
    """The corrected 837P's ISA13 and text: one interchange with the practice's envelope, submitter and
    receiver, numbered as ``claim`` numbers its own (the ledger's control numbers), a 2000A billing provider
    HL for each billing provider of the file with its own claims under it; not recorded as sent (the clinic
    or clearinghouse sends it)."""
    settings, separators = claim_settings(engine)
    numbers = next_control_numbers(database)
    base = claim_interchange(settings, separators, numbers, now or datetime.now(UTC), [])
    groups: dict[x12.BillingProvider, list[x12.Claim]] = {}
    for provider, claim in ready:
        groups.setdefault(provider, []).append(claim)
    return numbers["isa"], render_grouped(base, groups)


def render_grouped(base: x12.Interchange, groups: dict[x12.BillingProvider, list[x12.Claim]]) -> str:
    """``base`` (its envelope and header) with a 2000A HL per billing provider, each followed by its own
    claims' HLs; one group renders exactly as ``base`` with that provider and claims would. Each provider's
    loop is the writer's own (``Interchange.segments`` checks it), cut from a claim-less interchange."""
    compose = base.separators.component.join
    found: x12.Segments = []
    trailer: x12.Segments = []
    number = 1
    with collector_paused():
        for provider, claims in groups.items():
            alone = msgspec.structs.replace(base, billing_provider=provider, claims=()).segments(compose)
            start = next(index for index, segment in enumerate(alone) if segment[0] == "HL")
            found = found or alone[:start]  # ISA, GS, ST, BHT, submitter, receiver
            parent, trailer = number, alone[-3:]  # SE, GE, IEA
            found += [["HL", str(parent), "", "20", "1"], *alone[start + 1 : -3]]
            number += 1
            for claim in claims:
                segments, number = claim.segments(number, parent, compose)
                found += segments
        trailer[0] = ["SE", str(len(found) - 2 + 1), trailer[0][2]]  # ST..SE, without ISA and GS
        return render(cast(list[list[str]], found + trailer), base.separators)


def _write(out: Path, text: str) -> None:
    try:
        write_atomic(out, text.encode("ascii"), private=True)
    except OSError as exc:
        raise BadInput("out", f"cannot write {out}: {exc.strerror or exc.__class__.__name__}") from None
