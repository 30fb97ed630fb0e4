"""Building claims: one 837P interchange for many visits, with the visits held back and why.

The caller decides where the 837P goes (``destination``): to files (``ToFiles``: the CLI's ``claim --837``,
with the pending -> write -> sent protocol of ``claims.run``) or into the ledger (``TO_LEDGER``: the API and
the web page; the 837P text, its CMS-1500 JSON and its FHIR Bundle of Claims kept in ``interchanges`` and
recorded as sent in the transaction that takes the control numbers; secondary claims keep no CMS-1500 and no
FHIR Bundle: ``claim_forms`` and ``claim_fhir`` refuse them).
Either way a visit already sent is not sent again (unless ``resend``), a refused or empty build uses no
control number, and the audit event ``claims.build`` is written in the transaction that records the
interchange as sent (for a run that was killed after writing its file, by the next run, which finds it in
place).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from rehabclaim.claims.run import (
    LEDGER_PATH,
    SENT,
    ClaimRun,
    ClaimRunConflict,
    ClaimRunError,
    ClaimRunReport,
    FhirBundle,
    RecoveredInterchange,
    ReportSpool,
    VisitFindings,
    WrittenClaim,
    store_claims,
    write_claims,
)
from rehabclaim.errors import InputError
from rehabclaim.ledger.models import ClaimSent, InterchangeRecord
from rehabclaim.model import Visit
from rehabclaim.reference import Reference
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.services import audit
from rehabclaim.services.actor import Actor
from rehabclaim.services.errors import BadInput, Conflict, NotFound, Refusal, Unavailable
from rehabclaim.services.fhir import written_claims_bundle
from rehabclaim.services.reading import reading, utc

BUILD = "claims.build"
# the claim run's engine caches (``Scrubber(cache_entries=...)``): on the 100k-visit benchmark 4,096 entries
# a cache scrubbed as fast as 20,000 (the hit rates that matter: rule sets, verdicts, unit fees, over 95%
# either way) in about 55 MB less memory
CLAIM_CACHE_ENTRIES = 4096
Row = TypeVar("Row")

__all__ = [
    "TO_LEDGER",
    "ClaimBatch",
    "ClaimBatchSummary",
    "ClaimRunReport",
    "RecoveredInterchange",
    "ReportSpool",
    "StoredClaimBatch",
    "ToFiles",
    "ToLedger",
    "VisitFindings",
    "VisitStream",
    "WrittenClaim",
    "build_claims",
    "claim_batch",
    "claim_fhir",
    "claim_forms",
    "list_claim_batches",
    "secondary_claims",
    "stream_visits",
]


class ToFiles(msgspec.Struct, frozen=True):
    """The 837P written to ``x837`` (and the CMS-1500 JSON to ``cms1500``), owner-only, whole or not at all."""

    x837: Path
    cms1500: Path | None = None


class ToLedger(msgspec.Struct, frozen=True):
    """The 837P, its CMS-1500 JSON and its FHIR Bundle of Claims kept in the ledger; ``claim_batch`` fetches
    them."""


TO_LEDGER = ToLedger()


class ClaimBatch(msgspec.Struct):
    """``report`` is what ``claim --json`` prints (``held``: the visits held back, with their error findings).
    ``control_number`` (the ISA13) is set when the batch was kept in the ledger: ``claim_batch`` fetches it."""

    report: ClaimRunReport
    control_number: int | None


class StoredClaimBatch(msgspec.Struct):
    control_number: int  # ISA13
    created_at: datetime  # when it was built (UTC)
    created_by: str | None
    claims: int
    total_charge: Decimal
    x837: str  # the interchange, as sent
    cms1500: msgspec.Raw  # the same claims keyed by CMS-1500 item numbers (a JSON array; [] when secondary)
    secondary: bool  # secondary claims (``secondary_claims``): no CMS-1500 data kept, ``claim_forms`` refuses
    fhir: msgspec.Raw | None = None  # the FHIR R4 Bundle of its Claims; None: not kept (see ``claim_fhir``)


class ClaimBatchSummary(msgspec.Struct):
    control_number: int
    status: str  # sent, or pending while a file is being written
    created_at: datetime
    created_by: str | None
    claims: int
    total_charge: Decimal
    stored: bool  # kept in the ledger (claim_batch fetches it); else written to a file


class VisitStream:
    """The visits of JSON Lines, one line at a time (blank lines skipped), each decoded and checked as
    ``decode_visit`` checks it; ``line`` is the number of the line last read. Its codes and modifiers are
    checked against the catalog by the scrub itself (``build_lines``: the same check, the same error, made
    once instead of twice), and ``build_claims`` names ``line`` in that refusal. A bad line is a BadInput
    naming its number when it is reached, so ``build_claims`` stops there (nothing written, no control
    number taken)."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self.lines = lines
        self.line = 0

    def __iter__(self) -> Iterator[Visit]:
        for number, raw in enumerate(self.lines, start=1):
            self.line = number
            if not raw.strip():
                continue
            try:
                visit = decode_visit(raw)
            except InputError as exc:
                raise BadInput(exc.field, exc.reason, self.line) from None
            yield visit


def stream_visits(lines: Iterable[bytes]) -> VisitStream:
    """The visits of JSON Lines, streamed (``VisitStream``); their codes are checked by the scrub of
    ``build_claims``, which names the line."""
    return VisitStream(lines)


def build_claims(
    database: Engine,
    *,
    reference: Reference,
    visits: Iterable[Visit],
    actor: Actor,
    resend: bool = False,
    destination: ToFiles | ToLedger | Path,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    secondary: bool = False,
    spool: ReportSpool | None = None,
) -> ClaimBatch:
    """One 837P interchange for ``visits`` (a bare Path: ``ToFiles(path)``). ``now``: the interchange's date
    (default: the current time); ``progress`` is told of each visit done; ``secondary``: the visits'
    secondary claims (``secondary_claims``). ``spool`` (files only): the report's claims, held and notes
    go there as the run goes, its report has those lists empty: ``spool.write(batch.report, out)`` prints
    the whole report, the bytes of ``msgspec.json.encode`` of the unspooled one."""
    audit.require_change(actor, what="build claims")
    target = ToFiles(destination) if isinstance(destination, Path) else destination
    engine = Scrubber(reference, cache_entries=CLAIM_CACHE_ENTRIES)
    built, recovered = _audit_events(actor, target)
    try:
        if isinstance(target, ToLedger):
            kept = list(visits)  # bounded by the request; the FHIR Bundle reads the visits sent again
            run = store_claims(
                kept,
                engine,
                database,
                created_by=actor.user,
                now=now,
                resend=resend,
                progress=progress,
                audit=built,
                audit_recovery=recovered,
                secondary=secondary,
                fhir_bundle=_fhir_bundle(reference, kept),
            )
            return ClaimBatch(run.report(), run.interchange_control_number)
        run = write_claims(
            visits,
            engine,
            database,
            target.x837,
            target.cms1500,
            now=now,
            resend=resend,
            progress=progress,
            created_by=actor.user,
            audit=built,
            audit_recovery=recovered,
            secondary=secondary,
            keep_claims=False,  # streamed: memory stays flat however many visits
            spool=spool,
        )
    except ClaimRunConflict as exc:
        raise Conflict("", str(exc)) from None
    except ClaimRunError as exc:
        raise BadInput("", str(exc)) from None
    except InputError as exc:
        if isinstance(visits, VisitStream):  # a code the catalog does not know, found by the scrub
            raise BadInput(exc.field, exc.reason, visits.line) from None
        raise Refusal.from_input_error(exc) from None
    except OSError as exc:
        where = exc.filename or (target.x837 if isinstance(target, ToFiles) else "")
        raise Unavailable("", f"{where}: cannot write ({exc.strerror}); no claim was sent") from None
    except SQLAlchemyError as exc:
        raise Unavailable(
            "database",
            f"the ledger failed ({exc.__class__.__name__}); no claim is sent twice: "
            "the next run settles any interchange left pending",
        ) from None
    return ClaimBatch(run.report(), None)


def secondary_claims(
    database: Engine,
    *,
    reference: Reference,
    visits: Iterable[Visit],
    actor: Actor,
    resend: bool = False,
    destination: ToFiles | ToLedger | Path,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    spool: ReportSpool | None = None,
) -> ClaimBatch:
    """One 837P interchange of secondary claims: for each visit whose primary payer's 835 is posted with a
    patient responsibility left, its claim to ``visit.secondary`` carrying the primary's adjudication
    (2320/2330A/2330B, 2430; ``claims.secondary``). Visits with nothing to send on are held back, each with
    the reason (finding ``COB``); the rest is as ``build_claims`` (control numbers, sent once, atomic)."""
    return build_claims(
        database,
        reference=reference,
        visits=visits,
        actor=actor,
        resend=resend,
        destination=destination,
        now=now,
        progress=progress,
        secondary=True,
        spool=spool,
    )


def _fhir_bundle(reference: Reference, visits: list[Visit]) -> FhirBundle:
    """The FHIR Bundle of the claims a batch sends (their visit ids), dated the batch's day: the bytes
    ``claim --fhir`` writes for them."""

    def bundle(written: list[str], created: datetime) -> str:
        return written_claims_bundle(reference, visits=visits, written=written, created=created.date()).decode()

    return bundle


def _audit_events(
    actor: Actor, target: ToFiles | ToLedger
) -> tuple[Callable[[Connection, ClaimRun], None], Callable[[Connection, int], None]]:
    """The audit event of a build (ids, counts and amounts), written when its interchange is recorded as
    sent; and of a dead run's build, completed when this run finds its file in place: the same event, by the
    user who built it (the channel is this run's), so an interrupted run leaves the trail a whole one would."""
    where = "kept in the ledger" if isinstance(target, ToLedger) else "written to a file"

    def built(connection: Connection, run: ClaimRun) -> None:
        charge = sum((claim.total_charge for claim in run.sent), Decimal(0))
        _build_event(connection, actor, run.interchange_control_number, len(run.sent), charge, where)

    def completed(connection: Connection, number: int) -> None:
        claims, charge = connection.execute(
            select(*_claim_totals()).where(ClaimSent.interchange_control_number == number)
        ).one()
        creator = connection.execute(
            select(InterchangeRecord.created_by).where(InterchangeRecord.control_number == number)
        ).scalar()
        builder = msgspec.structs.replace(actor, user=creator) if creator else actor
        _build_event(connection, builder, number, claims, Decimal(charge), "written to a file")

    return built, completed


def _build_event(
    connection: Connection, actor: Actor, number: int | None, claims: int, charge: Decimal, where: str
) -> None:
    detail = f"{claims} claim(s), charge {charge:.2f}, {where}"
    audit.record(connection, actor=actor, action=BUILD, subject=f"ISA13 {number}", detail=detail)


def claim_batch(database: Engine, *, control_number: int) -> StoredClaimBatch:
    """The batch kept in the ledger under ``control_number`` (its ISA13); NotFound for any other number."""
    query = (
        select(
            InterchangeRecord.control_number,
            InterchangeRecord.created_at,
            InterchangeRecord.created_by,
            InterchangeRecord.content,
            InterchangeRecord.cms1500,
            InterchangeRecord.fhir,
            *_claim_totals(),
        )
        .outerjoin(ClaimSent, ClaimSent.interchange_control_number == InterchangeRecord.control_number)
        .where(InterchangeRecord.control_number == control_number, InterchangeRecord.status == SENT)
        .group_by(InterchangeRecord.control_number)
    )
    with reading(database) as connection:
        row = connection.execute(query).first()
    if row is None or row.content is None:
        reason = "was written to a file, not kept in the ledger" if row is not None else "is not in the ledger"
        raise NotFound("control_number", f"claim batch {control_number} {reason}")
    return StoredClaimBatch(
        control_number=row.control_number,
        created_at=utc(row.created_at),
        created_by=row.created_by,
        claims=row.claims,
        total_charge=Decimal(row.total_charge),
        x837=row.content,
        cms1500=msgspec.Raw(row.cms1500 or "[]"),
        secondary=row.cms1500 is None,  # ``store_claims`` keeps the forms of every batch but secondary ones
        fhir=None if row.fhir is None else msgspec.Raw(row.fhir),
    )


def claim_forms(database: Engine, *, control_number: int) -> msgspec.Raw:
    """The CMS-1500 data of the batch kept under ``control_number`` (what ``claim --cms1500`` writes).
    NotFound for a batch of secondary claims (none kept: the form would not show the primary's payment,
    which their 837P carries) and for any number ``claim_batch`` refuses."""
    batch = claim_batch(database, control_number=control_number)
    if batch.secondary:
        raise NotFound(
            "control_number",
            f"claim batch {control_number} holds secondary claims: no CMS-1500 data is kept for them "
            "(the form has no place for the primary payer's payment; the batch's 837P carries it)",
        )
    return batch.cms1500


def list_claim_batches(database: Engine, *, limit: int, offset: int) -> list[ClaimBatchSummary]:
    """Every interchange the ledger records, newest first, ``limit`` of them after ``offset``."""
    audit.check_page(limit, offset)
    query = (
        select(
            InterchangeRecord.control_number,
            InterchangeRecord.status,
            InterchangeRecord.created_at,
            InterchangeRecord.created_by,
            InterchangeRecord.path,
            *_claim_totals(),
        )
        .outerjoin(ClaimSent, ClaimSent.interchange_control_number == InterchangeRecord.control_number)
        .group_by(InterchangeRecord.control_number)
        .order_by(InterchangeRecord.created_at.desc(), InterchangeRecord.control_number.desc())
        .limit(limit)
        .offset(offset)
    )
    with reading(database) as connection:
        rows = connection.execute(query).all()
    return [
        ClaimBatchSummary(
            control_number=row.control_number,
            status=row.status,
            created_at=utc(row.created_at),
            created_by=row.created_by,
            claims=row.claims,
            total_charge=Decimal(row.total_charge),
            stored=row.path == LEDGER_PATH,
        )
        for row in rows
    ]


def _claim_totals() -> tuple[Any, Any]:
    return (
        func.count(ClaimSent.id).label("claims"),
        func.coalesce(func.sum(ClaimSent.total_charge), 0).label("total_charge"),
    )


def claim_fhir(database: Engine, *, control_number: int) -> msgspec.Raw:
    """The FHIR R4 Bundle of Claims of the batch kept under ``control_number`` (what ``claim --fhir`` writes
    for its visits). NotFound for a batch of secondary claims and for one kept before ledger revision 0007
    (neither keeps one: the visits are not stored, so it cannot be made again), and for any number
    ``claim_batch`` refuses."""
    batch = claim_batch(database, control_number=control_number)
    if batch.fhir is not None:
        return batch.fhir
    why = (
        "holds secondary claims: no FHIR Bundle is kept for them (`claim --fhir` makes none either)"
        if batch.secondary
        else "was kept before FHIR Bundles were (ledger revision 0007): its visits are not stored to make one"
    )
    raise NotFound("control_number", f"claim batch {control_number} {why}")
