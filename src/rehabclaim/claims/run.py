"""Building one 837P interchange from many visits, so that no claim goes out twice and the ledger and the
files never disagree, even when runs overlap or one is killed.

1. Pending interchanges left by writers that died (same host; process gone, or its id now another's) are
   resolved first: the file at their path holds their ISA13 -> they were sent; otherwise their claims were
   never sent and the record goes (``resolve_pending``).
2. Every visit is scrubbed with the claim rules and its claim built and checked; visits with errors are
   held back. No control number is taken yet, so a refused visit never costs one.
   ``write_claims`` streams: each claim kept is rendered at once into a temporary body file beside the 837P
   (and its CMS-1500 form into one beside that file), in chunks of ``QUERY_CHUNK`` claims whose keys are
   looked up in ``claims_sent`` first (so the HL numbers are final); a visit or segment list is never held
   past its chunk, only each claim's ``SentClaim`` (ids, amount, line count). A failure here (a bad line, a
   full disk, Ctrl-C) leaves no file and has taken no control number.
3. One transaction: take the control numbers (the UPDATE serialises concurrent runs: row lock on
   PostgreSQL, write lock on SQLite), drop the visits already sent (a ``claims_sent`` row for the same visit,
   payer and frequency, whose interchange is pending or sent) unless ``resend``, refuse a path that holds
   (or is being written with) a recorded interchange, render the interchange (its final check raises on
   any bad element), record the interchange ``pending`` with its claims; commit. With nothing left to send
   the transaction is rolled back: no number used, no file written. (Streamed: the keys are looked up
   again, and a ledger that changed since step 2 for these visits refuses the run, rolled back; the file is
   assembled from envelope header, body and trailer, flushed to disk, before the commit.)
4. The file is written whole (temporary file, fsync, rename; owner-only) at the recorded path; if that
   fails, the pending record and its claims are removed again (nothing was sent). Streamed, only the rename
   is left to do here.
5. The interchange is marked ``sent``. A crash between 3 and 5 is what step 1 resolves.

``store_claims`` keeps the 837P (and its CMS-1500 data) in the ledger instead of a file (the API and the web
page): steps 1 to 3, with the text stored and the interchange recorded ``sent`` in the transaction that
takes its control numbers, so there is no window for a crash to leave. The caller's ``audit`` writes the
change's audit event in the transaction that makes it (marks the interchange sent, or stores it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NamedTuple

import msgspec
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy import Engine as Database

from rehabclaim.atomic import PRIVATE_MODE, make_folder, pid_alive, remove_stale_temporaries
from rehabclaim.claims.build import ClaimDataError, address, build_claim
from rehabclaim.claims.cms1500 import cms1500
from rehabclaim.claims.secondary import SecondaryHeld, secondary_builder
from rehabclaim.claims.text import practice_fields
from rehabclaim.ledger.database import insert_ignoring_duplicates
from rehabclaim.ledger.models import ClaimSent, ControlNumber, InterchangeRecord, column_limits
from rehabclaim.model import Finding, Visit
from rehabclaim.practice import ClaimSettings
from rehabclaim.rules import RULES
from rehabclaim.scrubber import Scrubber
from rehabclaim.x12 import claim837 as x12
from rehabclaim.x12.core import (
    ISA_LENGTH,
    Separators,
    X12Error,
    X12WriteError,
    collector_paused,
    read_separators,
    render,
)

CONTROL_NAMES = ("isa", "gs", "st")
MAX_CONTROL = 999_999_999  # ISA13 is nine digits
PENDING, SENT = "pending", "sent"
LEDGER_PATH = "ledger:"  # the path of an interchange kept in the ledger (a file's path is absolute)
QUERY_CHUNK = 500  # visit ids per IN (...) query, well under every database's parameter limit

SECONDARY_RULE = "COB"  # the finding id of a visit held back from a secondary claim (claims.secondary)
CLAIM_RULES = frozenset(rule.id for rule in RULES if rule.stage == "claim")  # their info goes with the claim
KEY_SEPARATOR = "\x1f"  # between a claim key's parts: not printable, so in no value an 837P can carry
ClaimKey = str  # visit id, payer id, frequency joined by KEY_SEPARATOR: the same claim if all three match


class ClaimRunError(ValueError):
    """The practice file cannot produce claims, or the output cannot be written (exit status 2)."""


class ClaimRunConflict(ClaimRunError):
    """Another claim run sent or released some of this run's visits while it built them: nothing was written
    or recorded; running again settles it (a conflict, not bad input)."""


class SentClaim(NamedTuple):
    """What the ledger record, the report and the audit event keep of a claim sent (not the claim itself)."""

    control_number: str  # the visit id (CLM01)
    payer: str  # the payer id (2010BB NM109)
    frequency: str  # CLM05-3
    total_charge: Decimal
    lines: int

    @classmethod
    def of(cls, claim: x12.Claim) -> SentClaim:
        return cls(claim.control_number, claim.payer.id, claim.frequency, claim.total_charge, len(claim.lines))


class SentClaims:
    """The ``SentClaim`` of every claim a run sends, compact (a run of 100k claims keeps them all until its
    transaction): one key string a claim (the object its seen set holds too), charges in integer cents and
    line counts in arrays; a charge with a fraction of a cent (none in practice) is kept as it is. Iterating
    makes each ``SentClaim`` again, equal to the one appended."""

    def __init__(self) -> None:
        self.keys: list[ClaimKey] = []
        self.cents = array("q")
        self.lines = array("l")
        self.uneven: dict[int, Decimal] = {}  # index -> a charge cents cannot hold exactly

    @classmethod
    def of(cls, claims: Iterable[x12.Claim]) -> SentClaims:
        sent = cls()
        for claim in claims:
            sent.add(_key(claim), claim.total_charge, len(claim.lines))
        return sent

    def add(self, key: ClaimKey, charge: Decimal, lines: int) -> None:
        cents = charge.scaleb(2)
        if cents != cents.to_integral_value():
            self.uneven[len(self.keys)] = charge
        self.keys.append(key)
        self.cents.append(int(cents))
        self.lines.append(lines)

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[SentClaim]:
        for index, key in enumerate(self.keys):
            visit_id, payer, frequency = key.split(KEY_SEPARATOR)
            charge = self.uneven.get(index) or Decimal(self.cents[index]).scaleb(-2)
            yield SentClaim(visit_id, payer, frequency, charge, self.lines[index])


class SpooledItems:
    """The JSON items of one report list, comma-separated in an anonymous temporary file (made on the first
    item): a run's items are on disk, not in memory, until the report is printed."""

    def __init__(self) -> None:
        self.count = 0
        self.file: IO[bytes] | None = None

    def add(self, item: bytes) -> None:
        if self.file is None:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 (it lives across the run; ``clear`` closes it)
        self.file.write(b"," + item if self.count else item)
        self.count += 1

    def clear(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file, self.count = None, 0

    def copy_to(self, out: IO[bytes]) -> None:
        if self.file is not None:
            self.file.flush()
            self.file.seek(0)
            shutil.copyfileobj(self.file, out, 1 << 20)


class ReportSpool:
    """``claim --json`` streamed: the report's ``claims``, ``held`` and ``notes`` items written as the run
    goes (``ClaimRun(spool=...)``), the report printed at the end as ``msgspec.json.encode`` prints it whole
    (``write``): the same bytes, without the lists ever held."""

    LISTS = ("claims", "held", "notes")  # ClaimRunReport's spooled lists, in the order of its fields

    def __init__(self) -> None:
        self.claims, self.held, self.notes = SpooledItems(), SpooledItems(), SpooledItems()

    def write(self, report: ClaimRunReport, out: IO[bytes]) -> None:
        """``report`` (whose spooled lists are empty) with the spooled items in those lists."""
        whole = msgspec.json.encode(report)
        for name in self.LISTS:
            empty = f'"{name}":[]'.encode()  # a field name: no string value holds it (a quote in one is escaped)
            head, found, whole = whole.partition(empty)
            assert found, f"{name}: not an empty list in the report"
            out.write(head + empty[:-1])
            getattr(self, name).copy_to(out)
            out.write(b"]")
        out.write(whole)

    def close(self) -> None:
        for name in self.LISTS:
            getattr(self, name).clear()


class WrittenClaim(msgspec.Struct):
    id: str  # the visit id (CLM01)
    total_charge: float
    lines: int


class VisitFindings(msgspec.Struct):
    id: str  # the visit id
    findings: list[Finding]


class RecoveredInterchange(msgspec.Struct):
    interchange_control_number: int
    outcome: str  # "sent" or "not sent"


class ClaimRunReport(msgspec.Struct):
    """What ``claim --json`` prints (a contract: fields are added, never renamed)."""

    written: int
    held_back: int
    interchange_control_number: int | None
    claims: list[WrittenClaim]
    held: list[VisitFindings]  # visits held back, with the error findings that held them
    already_sent: list[str]
    recovered_interchanges: list[RecoveredInterchange]
    notes: list[VisitFindings]  # claim-rule information on claims written


@dataclass(slots=True)
class ClaimRun:
    """``sent``: every claim sent; ``written``: the claims themselves, kept only when the caller asks
    (``write_claims(keep_claims=True)``, ``store_claims``)."""

    written: list[x12.Claim] = field(default_factory=list)
    held_back: list[tuple[str, list[Finding]]] = field(default_factory=list)
    interchange_control_number: int | None = None
    already_sent: list[str] = field(default_factory=list)  # visit ids not sent again (no --resend)
    recovered: list[tuple[int, str]] = field(default_factory=list)  # (ISA13, "sent" or "not sent")
    notes: list[tuple[str, list[Finding]]] = field(default_factory=list)  # claim-rule info on claims written
    sent: SentClaims = field(default_factory=SentClaims)
    spool: ReportSpool | None = None  # held-back visits, notes and claims sent go here instead (``ReportSpool``)

    def hold(self, visit_id: str, findings: list[Finding]) -> None:
        if self.spool is None:
            self.held_back.append((visit_id, findings))
        else:
            self.spool.held.add(msgspec.json.encode(VisitFindings(visit_id, findings)))

    def note(self, visit_id: str, findings: list[Finding]) -> None:
        if self.spool is None:
            self.notes.append((visit_id, findings))
        else:
            self.spool.notes.add(msgspec.json.encode(VisitFindings(visit_id, findings)))

    def send(self, claim: x12.Claim, key: ClaimKey) -> None:
        charge, lines = claim.total_charge, len(claim.lines)
        self.sent.add(key, charge, lines)
        if self.spool is not None:
            self.spool.claims.add(msgspec.json.encode(WrittenClaim(claim.control_number, float(charge), lines)))

    def unsend(self) -> None:
        """No claim sent after all (a concurrent run sent them first)."""
        self.sent, self.written = SentClaims(), []
        if self.spool is not None:
            self.spool.claims.clear()

    def report(self) -> ClaimRunReport:
        """The report; with a spool, its spooled lists empty (``ReportSpool.write`` fills them)."""
        spooled = self.spool is not None
        written = [] if spooled else [WrittenClaim(c.control_number, float(c.total_charge), c.lines) for c in self.sent]
        return ClaimRunReport(
            written=len(self.sent),
            held_back=self.spool.held.count if self.spool is not None else len(self.held_back),
            interchange_control_number=self.interchange_control_number,
            claims=written,
            held=[VisitFindings(visit_id, findings) for visit_id, findings in self.held_back],
            already_sent=self.already_sent,
            recovered_interchanges=[RecoveredInterchange(number, outcome) for number, outcome in self.recovered],
            notes=[VisitFindings(visit_id, findings) for visit_id, findings in self.notes],
        )

    def as_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = msgspec.to_builtins(self.report())
        return report


AuditRun = Callable[[Connection, ClaimRun], None]  # the run's audit event, in the transaction that sends it
AuditRecovery = Callable[[Connection, int], None]  # a dead run's interchange found sent (its ISA13), likewise
FhirBundle = Callable[[list[str], datetime], str]  # the FHIR Bundle of the claims sent (visit ids), made then


def _take_control_numbers(connection: Connection) -> dict[str, int]:
    numbers = {}
    for name in CONTROL_NAMES:
        insert_ignoring_duplicates(connection, ControlNumber, {"name": name, "value": 0})
        current = ControlNumber.name == name
        connection.execute(update(ControlNumber).where(current).values(value=ControlNumber.value % MAX_CONTROL + 1))
        numbers[name] = connection.execute(select(ControlNumber.value).where(current)).scalar_one()
    return numbers


def next_control_numbers(database: Database) -> dict[str, int]:
    """The next ISA13, GS06 and ST02, each one more than the last used. The UPDATE comes before the read,
    so it takes the row lock (PostgreSQL) or the write lock (SQLite) first: two runs never share a number."""
    with database.begin() as connection:
        return _take_control_numbers(connection)


def check_settings(settings: ClaimSettings, origin: str) -> Separators:
    """The interchange's separators, once every practice value the 837P carries fits its element."""
    chosen = settings.separators
    separators = Separators(chosen.element, chosen.component, chosen.repetition, chosen.segment)
    try:
        separators.check()
    except ValueError as exc:
        raise ClaimRunError(f"{origin}: claims.separators: {exc}") from None
    problems = [
        f"{path} {reason} (837P element {reference})"
        for path, reference, value in practice_fields(settings)
        if (reason := x12.value_problem(reference, value, separators)) is not None
    ]
    if problems:
        raise ClaimRunError(f"{origin}: {'; '.join(problems)}")
    return separators


def _isa13(path: str) -> int | None:
    """The interchange control number of the X12 file at ``path``; None if there is none."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(ISA_LENGTH + 16).decode("ascii")
        isa = head[: ISA_LENGTH - 1].split(read_separators(head).element)
        return int(isa[13]) if isa[0] == "ISA" else None
    except (OSError, UnicodeDecodeError, X12Error, ValueError, IndexError):
        return None


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where /proc tells (Linux); else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _writer_gone(pid: int, recorded: datetime) -> bool:
    """Whether the process that recorded an interchange is gone: no process has its id, or the one that has
    it started after the record was made (the id was reused, after a reboot say)."""
    if not pid_alive(pid):
        return True
    started = _process_start(pid)
    when = recorded if recorded.tzinfo else recorded.replace(tzinfo=UTC)  # SQLite returns it naive (UTC)
    return started is not None and started > when.timestamp() + 1


def resolve_pending(database: Database, audit: AuditRecovery | None = None) -> list[tuple[int, str]]:
    """Resolve the pending interchanges of writers on this host that are gone (step 1 of the module); those
    of live writers, or of other hosts (whose processes cannot be seen), are left alone."""
    host = socket.gethostname()
    with database.connect() as connection:
        pending = connection.execute(
            select(
                InterchangeRecord.control_number,
                InterchangeRecord.path,
                InterchangeRecord.pid,
                InterchangeRecord.created_at,
            ).where(InterchangeRecord.status == PENDING, InterchangeRecord.host == host)
        ).all()
    resolved = []
    for number, path, pid, recorded in pending:
        if not _writer_gone(pid, recorded):
            continue
        with contextlib.suppress(OSError):
            remove_stale_temporaries(Path(path))  # the dead writer's half-written file, if any
        if _isa13(path) == number:  # the dead run's build is complete now: ``audit`` records it
            _mark_sent(database, number, _completing(audit, number))
            resolved.append((number, SENT))
        elif _forget(database, number):  # as if that run had never been: nothing to audit
            resolved.append((number, "not sent"))
    return resolved


def _completing(audit: AuditRecovery | None, number: int) -> Callable[[Connection], None] | None:
    return None if audit is None else lambda connection: audit(connection, number)


def _mark_sent(database: Database, number: int, audit: Callable[[Connection], None] | None = None) -> None:
    with database.begin() as connection:
        marked = connection.execute(
            update(InterchangeRecord)
            .where(InterchangeRecord.control_number == number, InterchangeRecord.status == PENDING)
            .values(status=SENT)
        )
        if marked.rowcount and audit is not None:
            audit(connection)


def _forget(database: Database, number: int) -> bool:
    """Remove a pending interchange and its claims (they were never sent); whether it was still there."""
    with database.begin() as connection:
        gone = connection.execute(
            delete(InterchangeRecord).where(
                InterchangeRecord.control_number == number, InterchangeRecord.status == PENDING
            )
        )
        if gone.rowcount:
            connection.execute(delete(ClaimSent).where(ClaimSent.interchange_control_number == number))
        return bool(gone.rowcount)


def _build_all(
    visits: Iterable[Visit],
    engine: Scrubber,
    settings: ClaimSettings,
    run: ClaimRun,
    progress: Callable[[int], None] | None,
    then: Callable[[Visit, x12.Claim], x12.Claim] | None = None,
) -> Iterator[x12.Claim]:
    """Step 2, one visit at a time: each visit's claim (``then``: made into another, the secondary claim),
    or the visit held back with its errors."""
    for visit in visits:
        result = engine.scrub(visit, for_claim=True)
        errors = [f for f in result.findings if f.severity == "error"]
        if not errors:
            try:
                claim = build_claim(visit, result, settings)
                built = claim if then is None else then(visit, claim)
            except SecondaryHeld as exc:  # no secondary claim to send (yet), the reason named
                errors = [Finding(SECONDARY_RULE, "error", None, f"no secondary claim: {exc}")]
            except ClaimDataError as exc:  # optional claim fields the 837P cannot carry, each field named
                errors = [Finding("X006", "error", None, f"claim data the 837P cannot carry: {exc}")]
            except X12WriteError as exc:  # a value rule X006 should have refused: still never written
                errors = [Finding("X006", "error", None, f"the 837P would be invalid: {exc}")]
            notes = [f for f in result.findings if f.rule in CLAIM_RULES]
            if notes and not errors:
                run.note(visit.id, notes)
        if errors:
            run.hold(visit.id, errors)
        else:
            yield built
        if progress is not None:
            progress(1)


def _key(claim: x12.Claim) -> ClaimKey:
    return KEY_SEPARATOR.join((claim.control_number, claim.payer.id, claim.frequency))


def _sent_before(connection: Connection, claims: Iterable[x12.Claim]) -> set[ClaimKey]:
    """The keys of ``claims`` already in ``claims_sent``: their interchanges are pending or sent, since the
    rows of an interchange never sent are removed."""
    return _keys_sent(connection, {_key(claim) for claim in claims})


def _keys_sent(connection: Connection, keys: set[ClaimKey]) -> set[ClaimKey]:
    visit_ids = sorted({key.split(KEY_SEPARATOR, 1)[0] for key in keys})
    found: set[ClaimKey] = set()
    for start in range(0, len(visit_ids), QUERY_CHUNK):
        rows = connection.execute(
            select(ClaimSent.visit_id, ClaimSent.payer, ClaimSent.frequency).where(
                ClaimSent.visit_id.in_(visit_ids[start : start + QUERY_CHUNK])
            )
        )
        found.update(KEY_SEPARATOR.join((row.visit_id, row.payer, row.frequency)) for row in rows)
    return found & keys


def _unsent(connection: Connection, claims: list[x12.Claim], resend: bool) -> tuple[list[x12.Claim], list[str]]:
    """The claims to send now, and the visit ids left out because they were sent before (or twice in the
    input: a visit goes once into an interchange, even with ``resend``)."""
    sent = set() if resend else _sent_before(connection, claims)
    to_send, skipped = [], []
    for claim in claims:
        key = _key(claim)
        if key in sent:
            skipped.append(claim.control_number)
        else:
            sent.add(key)
            to_send.append(claim)
    return to_send, skipped


def _refuse_replacing(connection: Connection, path: str) -> None:
    """An interchange the ledger records must stay in its file: replacing it would lose claims recorded as
    sent (perhaps not yet transmitted), and two live runs renaming onto one path would lose the first's."""
    busy = connection.execute(
        select(InterchangeRecord.pid, InterchangeRecord.host).where(
            InterchangeRecord.path == path, InterchangeRecord.status == PENDING
        )
    ).first()
    if busy is not None:
        raise ClaimRunError(
            f"{path}: another claim run (process {busy.pid} on {busy.host}) is writing this file; "
            "wait for it to finish or write to another path"
        )
    number = _isa13(path)
    recorded = connection.execute(
        select(InterchangeRecord.status).where(InterchangeRecord.control_number == number)
    ).scalar()
    if number is not None and recorded is not None:
        raise ClaimRunError(
            f"{path}: holds interchange {number}, recorded as {recorded}; a new one would replace its claims "
            "(perhaps not transmitted yet): move the file away or write to another path"
        )


def _record(
    connection: Connection,
    number: int,
    path: str,
    claims: Iterable[SentClaim],
    created: datetime,
    status: str = PENDING,
    **stored: str | None,
) -> None:
    """The interchange (``status``: pending for a file about to be written), by this host and process, at the
    real time (``_writer_gone`` compares it with process start times; ``created``, the file's date, may be set
    by the caller), with its claims; ``stored``: content, cms1500, fhir and created_by."""
    connection.execute(
        insert(InterchangeRecord).values(
            control_number=number,
            path=path,
            status=status,
            host=socket.gethostname(),
            pid=os.getpid(),
            created_at=datetime.now(UTC),
            **stored,
        )
    )
    sent = iter(claims)
    while rows := [_claim_row(c, number, created) for c in itertools.islice(sent, QUERY_CHUNK)]:
        connection.execute(insert(ClaimSent), rows)  # a chunk at a time: a run's rows are never all held as dicts


def _claim_row(claim: SentClaim, number: int, created: datetime) -> dict[str, object]:
    return {
        "visit_id": claim.control_number,
        "payer": claim.payer,
        "frequency": claim.frequency,
        "interchange_control_number": number,
        "total_charge": claim.total_charge,
        "sent_at": created,
    }


def claim_interchange(
    settings: ClaimSettings, separators: Separators, numbers: dict[str, int], created: datetime, claims: list[x12.Claim]
) -> x12.Interchange:
    return x12.Interchange(
        sender_id=settings.sender_id,
        receiver_id=settings.receiver_id,
        interchange_control_number=numbers["isa"],
        group_control_number=numbers["gs"],
        transaction_control_number=numbers["st"] % 10_000 or 1,
        created=created,
        submitter=x12.Submitter(**msgspec.structs.asdict(settings.submitter)),
        receiver=x12.Receiver(**msgspec.structs.asdict(settings.receiver)),
        billing_provider=x12.BillingProvider(
            name=settings.billing_provider.name,
            npi=settings.billing_provider.npi,
            tax_id=settings.billing_provider.tax_id,
            taxonomy=settings.billing_provider.taxonomy,
            address=address(settings.billing_provider.address),
        ),
        claims=tuple(claims),
        usage=settings.usage,
        separators=separators,
    )


def _check_writable(*paths: Path | None) -> None:
    """Refuse an output that cannot be written before any control number is taken (the common cases)."""
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            raise ClaimRunError(f"{path}: is a folder, not a file")
        folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ClaimRunError(f"{path}: cannot write in {folder} (permission denied)")


def claim_settings(engine: Scrubber) -> tuple[ClaimSettings, Separators]:
    settings = engine.fees.practice.claims
    if settings is None:
        raise ClaimRunError(f"{engine.fees.practice.origin}: the practice file has no [claims] section")
    return settings, check_settings(settings, engine.fees.practice.origin)


def write_claims(
    visits: Iterable[Visit],
    engine: Scrubber,
    database: Database,
    out: Path,
    cms1500_out: Path | None = None,
    now: datetime | None = None,
    resend: bool = False,
    progress: Callable[[int], None] | None = None,
    *,
    created_by: str | None = None,
    audit: AuditRun | None = None,
    audit_recovery: AuditRecovery | None = None,
    secondary: bool = False,
    keep_claims: bool = True,
    spool: ReportSpool | None = None,
) -> ClaimRun:
    """Write one 837P interchange (and CMS-1500 data) for ``visits`` in the order of the module's steps,
    streamed: ``visits`` is read once, one at a time. ``resend``: send visits already sent again, as
    originals. ``progress`` is told of each visit done. ``created_by``: who builds it (kept with the
    interchange); ``audit`` runs in the transaction that marks it sent, ``audit_recovery`` in the one that
    marks a dead run's interchange sent. ``secondary``: each visit's secondary claim, from the primary's
    posted 835 (``claims.secondary``), instead of its claim. ``keep_claims``: also keep each claim in
    ``run.written`` (memory grows with the run; the CLI and the API do without). ``spool``: the report's
    lists written there as the run goes (``ReportSpool``), not kept in ``run``."""
    settings, separators = claim_settings(engine)
    _check_writable(out, cms1500_out)
    run = ClaimRun(recovered=resolve_pending(database, audit_recovery), spool=spool)
    then = secondary_builder(database, settings) if secondary else None
    built = _build_all(visits, engine, settings, run, progress, then)
    with _Beside(out) as body, _Beside(cms1500_out) as forms:
        state = _stream_body(built, database, settings, separators, run, (body, forms), resend, keep_claims)
        if not run.sent:
            return run
        if forms.opened:
            forms.write(b"]")
        created = now or datetime.now(UTC)
        path = os.path.abspath(out)
        with _Beside(out) as whole:
            with database.connect() as connection, connection.begin() as transaction:
                numbers = _take_control_numbers(connection)
                if not (resend or _confirm_unsent(connection, state, run)):
                    transaction.rollback()  # sent meanwhile by another run: the control numbers were not used
                    return run
                _refuse_replacing(connection, path)
                interchange = claim_interchange(settings, separators, numbers, created, [])
                _assemble(interchange, body, state.segments, whole)
                _record(connection, numbers["isa"], path, run.sent, created, created_by=_clipped(created_by))
            ready = whole.detach()  # recorded pending: renamed into place now (step 4)
        run.interchange_control_number = numbers["isa"]
        sent = None if audit is None else (lambda connection: audit(connection, run))
        _rename_recorded(database, numbers["isa"], ready, out, sent)
        if cms1500_out is not None:
            _finish_forms(forms, cms1500_out, out)
    return run


class _Beside:
    """A temporary file beside ``target`` named as ``atomic`` names its own (so ``remove_stale_temporaries``
    finds it after a kill), created on the first write, removed on leaving unless detached or renamed."""

    def __init__(self, target: Path | None) -> None:
        self.target = target
        self.path: str | None = None
        self.handle: IO[bytes] | None = None

    @property
    def opened(self) -> bool:
        return self.handle is not None

    def write(self, data: bytes) -> None:
        if self.handle is None:
            assert self.target is not None
            make_folder(self.target.parent, private=True)
            remove_stale_temporaries(self.target)
            prefix = f".{self.target.name}.{os.getpid()}."
            descriptor, self.path = tempfile.mkstemp(dir=self.target.parent, prefix=prefix, suffix=".tmp")
            self.handle = os.fdopen(descriptor, "w+b")
        self.handle.write(data)

    def finish(self) -> str:
        """Flushed to disk and owner-only: its path, ready to be renamed (and no longer removed here)."""
        assert self.handle is not None and self.path is not None
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.chmod(self.path, PRIVATE_MODE)
        return self.detach()

    def detach(self) -> str:
        path, self.path = self.path, None
        assert path is not None
        return path

    def __enter__(self) -> _Beside:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.path is not None:
            Path(self.path).unlink(missing_ok=True)


@dataclass(slots=True)
class _Stream:
    """Where a streamed run is: the next HL number, the claim segments written, the keys sent by this run
    and those found already sent in the ledger (step 3 looks them up again)."""

    separators: Separators
    hl: int = 2
    segments: int = 0
    seen: set[ClaimKey] = field(default_factory=set)
    sent_before: set[ClaimKey] = field(default_factory=set)
    order: list[ClaimKey] = field(default_factory=list)  # every claim built, in input order (the keys)


def _stream_body(
    built: Iterator[x12.Claim],
    database: Database,
    settings: ClaimSettings,
    separators: Separators,
    run: ClaimRun,
    outputs: tuple[_Beside, _Beside],
    resend: bool,
    keep_claims: bool,
) -> _Stream:
    """Step 2 streamed: the claims to send rendered into the body (and their CMS-1500 forms, as the items of
    one JSON array, into the forms file when it has a target), ``QUERY_CHUNK`` at a time; visits already sent
    (or twice in the input) go to ``run.already_sent``."""
    state, chunk = _Stream(separators), list[x12.Claim]()
    for claim in built:
        chunk.append(claim)
        if len(chunk) == QUERY_CHUNK:
            _write_chunk(chunk, database, settings, run, outputs, resend, keep_claims, state)
            chunk = []
    if chunk:
        _write_chunk(chunk, database, settings, run, outputs, resend, keep_claims, state)
    return state


def _write_chunk(
    chunk: list[x12.Claim],
    database: Database,
    settings: ClaimSettings,
    run: ClaimRun,
    outputs: tuple[_Beside, _Beside],
    resend: bool,
    keep_claims: bool,
    state: _Stream,
) -> None:
    body, forms = outputs
    if resend:
        sent: set[ClaimKey] = set()
    else:
        with database.connect() as connection:
            sent = _sent_before(connection, chunk)
        state.sent_before |= sent
    with collector_paused():  # the chunk's segments, many short lists, are gone before the collector resumes
        text, count = _render_chunk(chunk, sent, settings, run, forms, keep_claims, state)
    if count:
        body.write(text.encode("ascii"))
        state.segments += count


def _render_chunk(
    chunk: list[x12.Claim],
    sent: set[ClaimKey],
    settings: ClaimSettings,
    run: ClaimRun,
    forms: _Beside,
    keep_claims: bool,
    state: _Stream,
) -> tuple[str, int]:
    """The 837P text of the chunk's claims to send and its number of segments (the others are listed as
    already sent); each claim sent is recorded in ``run`` (and its CMS-1500 form written)."""
    found: x12.Segments = []
    compose = state.separators.component.join
    for claim in chunk:
        key = _key(claim)
        if key in sent or key in state.seen:
            state.order.append(key)
            run.already_sent.append(claim.control_number)
            continue
        state.seen.add(key)
        state.order.append(key)  # the object the seen set and ``run.sent`` hold: no more memory a claim
        claim_segments, state.hl = claim.segments(state.hl, 1, compose)
        found += claim_segments
        run.send(claim, key)
        if keep_claims:
            run.written.append(claim)
        if forms.target is not None:
            forms.write(b"," if forms.opened else b"[")
            forms.write(msgspec.json.encode(cms1500(claim, settings)))
    return (render(_texts(found), state.separators), len(found)) if found else ("", 0)


def _texts(segments: x12.Segments) -> list[list[str]]:
    """Segments whose composites were joined (``Claim.segments`` with ``component.join``) are all text."""
    return segments  # type: ignore[return-value]


def _confirm_unsent(connection: Connection, state: _Stream, run: ClaimRun) -> bool:
    """Step 3's look-up again, under the control numbers' lock: whether there is still something to send.
    The ledger must say what step 2 read, or else that every claim built is sent now (a concurrent run of
    the same visits sent them first: all are listed as already sent); otherwise (some were sent or released
    meanwhile) the run is refused and rolled back, no number used: run again, it builds from the ledger."""
    built = state.seen | state.sent_before
    sent_now = _keys_sent(connection, built)
    if sent_now == state.sent_before:
        return True
    if sent_now == built:
        run.already_sent = [key.split(KEY_SEPARATOR, 1)[0] for key in state.order]
        run.unsend()
        return False
    raise ClaimRunConflict(
        "the ledger changed while the claims were built (another claim run sent or released some of these "
        "visits); nothing was written or recorded: run the claim run again"
    )


def _assemble(interchange: x12.Interchange, body: _Beside, claim_segments: int, whole: _Beside) -> None:
    """The interchange (``interchange`` has no claims) in ``whole``: its envelope and header as
    ``Interchange.render`` writes and checks them, the body, then SE (counting the body's segments too), GE
    and IEA."""
    empty = interchange.render()
    trailer = _texts(interchange.segments()[-3:])
    header = empty.removesuffix(render(trailer, interchange.separators))
    assert len(header) < len(empty), "the interchange ends with SE, GE, IEA"
    trailer[0][1] = str(int(trailer[0][1]) + claim_segments)  # SE01 counts ST..SE
    whole.write(header.encode("ascii"))
    assert body.handle is not None and whole.handle is not None
    body.handle.flush()
    body.handle.seek(0)
    shutil.copyfileobj(body.handle, whole.handle, 1 << 20)
    whole.write(render(trailer, interchange.separators).encode("ascii"))
    whole.path = whole.finish()


def _rename_recorded(
    database: Database, number: int, ready: str, out: Path, audit: Callable[[Connection], None] | None
) -> None:
    """Step 4 and 5 of a streamed run: the recorded file renamed into place, then marked sent; if the rename
    fails, the pending record goes (nothing was sent; the control number stays used)."""
    try:
        os.replace(ready, out)
    except BaseException:
        Path(ready).unlink(missing_ok=True)
        _forget(database, number)
        raise
    _mark_sent(database, number, audit)


def _finish_forms(forms: _Beside, path: Path, out: Path) -> None:
    try:
        os.replace(forms.finish(), path)
    except OSError as exc:
        raise ClaimRunError(
            f"{path}: cannot write ({exc.strerror}); the 837P {out} was written and recorded as sent"
        ) from None


def store_claims(
    visits: Iterable[Visit],
    engine: Scrubber,
    database: Database,
    *,
    created_by: str,
    now: datetime | None = None,
    resend: bool = False,
    progress: Callable[[int], None] | None = None,
    audit: AuditRun | None = None,
    audit_recovery: AuditRecovery | None = None,
    secondary: bool = False,
    fhir_bundle: FhirBundle | None = None,
) -> ClaimRun:
    """Build one 837P interchange for ``visits`` and keep it in the ledger with its CMS-1500 data, recorded
    as sent in the transaction that takes its control numbers (with ``audit``): all of it, or nothing and
    no number used. Its text is in ``interchanges.content``, its CMS-1500 data in ``interchanges.cms1500``,
    and what ``fhir_bundle`` makes of the claims sent in ``interchanges.fhir``. ``secondary``: as for
    ``write_claims``, and no CMS-1500 data or FHIR Bundle is kept (both NULL)."""
    settings, separators = claim_settings(engine)
    run = ClaimRun(recovered=resolve_pending(database, audit_recovery))
    then = secondary_builder(database, settings) if secondary else None
    built = list(_build_all(visits, engine, settings, run, progress, then))
    if not built:
        return run
    created = now or datetime.now(UTC)
    bundle = None if secondary else fhir_bundle
    # made before the transaction (it scrubs again and checks each Claim: the slow part), so the control
    # numbers are not held meanwhile; made again inside only when some claims turn out to be sent already
    fhir = None if bundle is None else bundle([c.control_number for c in built], created)
    with database.connect() as connection, connection.begin() as transaction:
        numbers = _take_control_numbers(connection)
        claims, run.already_sent = _unsent(connection, built, resend)
        if not claims:
            transaction.rollback()  # nothing to send: the control numbers were not used
            return run
        text = claim_interchange(settings, separators, numbers, created, claims).render()
        # no CMS-1500 for secondary claims: the form has no place for the primary's payment (their 2320/2430)
        forms = None if secondary else msgspec.json.encode([cms1500(claim, settings) for claim in claims]).decode()
        if bundle is not None and len(claims) != len(built):
            fhir = bundle([c.control_number for c in claims], created)
        stored = {"content": text, "cms1500": forms, "fhir": fhir, "created_by": _clipped(created_by)}
        run.sent = SentClaims.of(claims)
        _record(connection, numbers["isa"], LEDGER_PATH, run.sent, created, SENT, **stored)
        run.written, run.interchange_control_number = claims, numbers["isa"]
        if audit is not None:
            audit(connection, run)
    return run


def _clipped(user: str | None) -> str | None:
    """The acting user as ``interchanges.created_by`` holds it."""
    limit = dict(column_limits(InterchangeRecord).lengths)["created_by"]
    return None if user is None else user[:limit]
