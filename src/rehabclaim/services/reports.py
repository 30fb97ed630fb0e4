"""Reports on the ledger: denials, paid against expected, underpaid lines, A/R aging and timely filing.

Each report is one function: the ledger's database (a SQLAlchemy engine) first, then keyword arguments;
it returns a msgspec Struct, refuses with ``BadInput`` (422, exit 2) for a bad argument and ``Unavailable``
(503, exit 2) when the ledger fails. Nothing is written. JSON: ``encode(report)`` (amounts are Decimals
written as JSON numbers; dates ISO 8601), the same bytes for the CLI's ``--json`` and the API.

Dates: ``since``/``until`` bound the date of service (both included, either may be None); ``as_of`` is
always an argument (never today's date behind the caller's back). ``until`` before ``since`` is refused.

1. ``denials_by_reason_and_payer(database, *, reference, since=None, until=None) -> DenialsReport``
   ``rows: list[DenialRow]`` by CAS group and reason (CARC) and payer (as the 835 names it, N1*PR, the
   denials worklist's payer): how many service lines (or claims, for claim-level CAS) and how much, with the
   reason's meaning, kind and next step from ``reference.remit_codes``. The items summed are the denials
   worklist's (``services.denials.worklist``): denials and patient balances, and every adjustment of a claim
   denied whole (CLP02 4); contractual write-downs (CO-45, MPPR, sequestration) of paid claims are left out.
   A reversal (CLP02 22) takes its items back: its lines count less one each and its (negative) amounts net
   out. ``claims`` counts visits' claims. Largest amount first; ``lines`` and ``amount`` total the rows.
2. ``paid_against_expected(database, *, reference, since=None, until=None) -> PaidReport``
   ``rows: list[PaidRow]``, one per payer (our payer key, with its name) and code: lines paid, units, the
   average paid per unit, the average allowed per unit (paid plus the patient's share), the average expected
   per unit (our estimate, recorded when the visit was posted) and the difference, allowed less expected.
   The per-payer average-paid table billing guides publish, from our own remittances. A row for each code
   paid at least once; by payer, then code.
3. ``underpaid_lines(database, *, reference, tolerance=Decimal("0.01"), since=None, until=None, limit=None,
   offset=0) -> UnderpaidReport``: ``lines: list[UnderpaidLine]``, the lines the payer allowed less than
   expected by more than ``tolerance``: visit id, date of service, code, payer, units, expected, paid, the
   patient's share, allowed, short by, and the payer's other adjustments on the line (the reasons). ``total``
   counts them all; ``limit`` (1 to ``services.audit.MAX_PAGE``, None: all) and ``offset`` page through them.
   Largest shortfall first.
4. ``ar_aging(database, *, as_of) -> AgingReport``: ``rows: list[AgingRow]`` by payer, ``total``: open
   balances in the buckets ``BUCKETS`` (0-30, 31-60, 61-90, 91-120, over 120 days), counted from the date of
   service to ``as_of``.
5. ``timely_filing(database, *, reference, as_of, within_days=30) -> TimelyReport``: ``visits:
   list[TimelyVisit]``, the posted visits no claim stands for (never sent, or denied and not sent again)
   whose payer's filing limit ends within ``within_days`` of ``as_of`` or has passed: days left (negative
   when passed), deadline, the limit and where it comes from. Most urgent first. ``payers_without_limit``:
   payers with such visits whose policy (and the default profile) sets no ``[claims] timely_filing_days``.

Every row has ``source``: where its figures come from. What the ledger does not store, and so how the
figures are made:

- Reports 1 to 3 are keyed by the date of service kept with each remittance claim (ledger revision 0006:
  ``remit_claims.service_date``, the posted visit's, else the 835's DTM*472), else by its posted visit's, so
  a claim sent by ``rehabclaim claim`` whose visit was never posted (``scrub --post``) and answered by an
  835 with DTM*472 is dated. A remittance with neither date (answered before 0006, or by an 835 without
  DTM*472, for a visit never posted) has no date: report 1 counts it without a date bound and leaves it out
  with one; reports 2 and 3 leave it out always (a figure per period cannot place it). Reports 1 and 2 say
  how many claims they left out (``undated_claims_left_out``).
- A visit not posted in reports 2 and 3: its rows are under the payer id its latest 837P carried, named as
  the 835 names the payer (N1*PR); its units are the 835's (SVC05, the units paid: the ledger keeps no
  billed line of it) and it has no estimate, so it counts in paid and allowed, never in expected or
  underpaid lines. Report 2 counts its lines paid in ``lines_not_posted``.
- "Paid against expected" compares like with like: our estimate is the fee schedule (or contracted) amount,
  of which the patient owes the deductible and coinsurance, so the payer's allowed amount (paid plus the PR
  adjustments) is set against it. The paid figures are shown too. A remittance line is matched to what we
  billed by visit and code (the ledger keeps no line control number): a "line" is a visit's code, its split
  lines (CQ/CO) together, amounts summed over every remittance (a reversal and its correction net out). Per
  unit means per unit billed. A line is paid when the payer allowed it something (paid it, or put it on the
  patient's deductible); lines allowed nothing are denials (report 1), counted in ``lines_unpaid``.
  Sequestration (CO-253) lowers what Medicare pays below our estimate: it shows in the difference and
  in an underpaid line's reductions.
- A/R aging: the balance of a visit's claim is the charge of its latest sent claim (a replacement replaces;
  a void closes it) less the charges its posted remittances adjudicated (an 835 claim balances: paid plus
  adjustments is its charge; the patient's share counts as adjudicated, patient payments are not kept), or
  the whole charge when that claim went out after the last of them was posted (sent again after a denial:
  not answered yet). The balances are the ledger's now: without the 835's dates the A/R of a past day cannot
  be rebuilt, ``as_of`` only sets the day ages are counted to (claims with a later date of service are left
  out, and counted). Ages count from the date of service, which is what timely filing and payers count
  from, and a resent claim does not restart it; a claim whose visit was not posted is aged from the day its
  first claim went out (``aged_from_sent_date`` counts them) and grouped under the payer id the 837P carried.
- Timely filing: the ledger keeps no front-end rejections (999, 277CA); a claim denied on an 835 (CLP02 4)
  counts as not filed until a claim for the visit goes out after that 835 was posted. The deadline is the
  date of service plus the payer's ``timely_filing_days``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

import msgspec
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rehabclaim.dates import DateRange
from rehabclaim.errors import quote
from rehabclaim.fees.estimate import cents
from rehabclaim.ledger import reports as queries
from rehabclaim.ledger.database import failure_reason
from rehabclaim.payers.policy import DEFAULT_KEY
from rehabclaim.reference import Reference
from rehabclaim.remits.worklist import Filters, from_ledger
from rehabclaim.services.audit import check_page
from rehabclaim.services.errors import BadInput, Unavailable

ZERO = Decimal(0)
BUCKETS: tuple[tuple[str, int | None], ...] = (  # label, last day in it (None: no end)
    ("0-30", 30),
    ("31-60", 60),
    ("61-90", 90),
    ("91-120", 120),
    ("over 120", None),
)
MAX_WITHIN_DAYS = 3660
Report = TypeVar("Report")

DENIALS_SOURCE = (
    "CAS adjustments of the posted 835s (remit_lines.adjustments, remit_claims.adjustments); "
    "meaning and next step: carc-rarc.toml"
)
PAID_SOURCE = (
    "paid: remit_lines.paid; patient's share: the line's PR adjustments; expected: visit_lines.expected "
    "(the estimate when the visit was posted); units: visit_lines.units"
)
PAID_NOT_POSTED_SOURCE = (
    "paid: remit_lines.paid; patient's share: the line's PR adjustments; units: remit_lines.units (SVC05: the "
    "visit was not posted, so no estimate); payer: claims_sent.payer (the 837P payer id), named by N1*PR"
)
AGING_SOURCE = (
    "claims_sent.total_charge of the visit's latest claim less remit_claims.charge; age from visits.date "
    "(from claims_sent.sent_at for a visit not posted)"
)
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def encode(report: msgspec.Struct) -> bytes:
    """A report as JSON: amounts as numbers, dates ISO 8601 (what the CLI's --json and the API print)."""
    return _ENCODER.encode(report)


# Results -----------------------------------------------------------------------------------------------------


class DenialRow(msgspec.Struct):
    group: str  # CAS group: CO, PR, OA, PI
    reason: str  # CARC
    payer: str  # as the 835 names it (N1*PR)
    meaning: str
    kind: str  # denial, patient, contractual or info (carc-rarc.toml; PR is always patient)
    next_step: str
    lines: int  # service lines (or claims, for claim-level adjustments) with this adjustment
    claims: int  # visits' claims among them
    amount: Decimal
    source: str = DENIALS_SOURCE


class DenialsReport(msgspec.Struct):
    since: date | None
    until: date | None
    rows: list[DenialRow]
    lines: int
    amount: Decimal
    undated_claims_left_out: int  # remittance claims without a date of service, left out by a date bound


class PaidRow(msgspec.Struct):
    payer: str  # our payer key (visits.payer); the 837P payer id for visits not posted
    payer_name: str
    code: str
    lines_paid: int  # visits' lines of this code the payer allowed something
    units: int  # units billed on them
    paid: Decimal
    average_paid_per_unit: Decimal | None  # None only if no unit was billed
    allowed: Decimal  # paid plus the patient's share
    average_allowed_per_unit: Decimal | None
    lines_with_expected: int  # lines with an estimate: the expected average and difference are over these
    average_expected_per_unit: Decimal | None
    difference_per_unit: Decimal | None  # allowed less expected, per unit, over the lines with an estimate
    lines_unpaid: int  # lines adjudicated with nothing allowed (denied: see the denials report)
    source: str = PAID_SOURCE


class PaidReport(msgspec.Struct):
    since: date | None
    until: date | None
    rows: list[PaidRow]
    unmatched_lines: int  # remittance lines whose code the visit did not bill (left out)
    lines_not_posted: int  # of the lines paid in the rows, those of visits not posted (units from the 835)
    undated_claims_left_out: int  # remittance claims without a date of service (always left out)


class Reduction(msgspec.Struct):
    group: str
    reason: str
    amount: Decimal
    meaning: str


class UnderpaidLine(msgspec.Struct):
    visit_id: str
    date_of_service: date
    payer: str
    payer_name: str
    code: str
    units: int
    expected: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    allowed: Decimal
    short_by: Decimal  # expected less allowed
    reductions: list[Reduction]  # the payer's adjustments on the line other than the patient's share
    source: str = PAID_SOURCE


class UnderpaidReport(msgspec.Struct):
    since: date | None
    until: date | None
    tolerance: Decimal
    total: int  # underpaid lines in all (``lines`` is the page limit/offset asked for)
    short_by: Decimal  # over all of them
    limit: int | None
    offset: int
    lines: list[UnderpaidLine]


class AgingBucket(msgspec.Struct):
    label: str  # 0-30, 31-60, 61-90, 91-120, over 120 (days)
    claims: int
    balance: Decimal


class AgingRow(msgspec.Struct):
    payer: str  # our payer key; the 837P payer id for a claim whose visit was not posted
    claims: int
    balance: Decimal
    buckets: list[AgingBucket]
    source: str = AGING_SOURCE


class AgingReport(msgspec.Struct):
    as_of: date
    rows: list[AgingRow]
    total: AgingRow
    aged_from_sent_date: int  # open claims whose visit was not posted: aged from the day first sent
    after_as_of: int  # open claims with a date of service after as_of, left out


class TimelyVisit(msgspec.Struct):
    visit_id: str
    patient_id: str
    payer: str
    payer_name: str
    date_of_service: date
    status: str  # "not sent" or "denied" (denied on an 835, not sent again since)
    charge: Decimal
    limit_days: int
    limit_from: str  # the payer file, or the default profile's
    deadline: date
    days_left: int  # negative: the limit has passed
    source: str = "visits (posted), claims_sent, remit_claims.status; limit: [claims] timely_filing_days"


class PayerWithoutLimit(msgspec.Struct):
    payer: str
    payer_name: str
    visits: int  # posted visits not filed


class TimelyReport(msgspec.Struct):
    as_of: date
    within_days: int
    visits: list[TimelyVisit]
    payers_without_limit: list[PayerWithoutLimit]


# Reports -----------------------------------------------------------------------------------------------------


def denials_by_reason_and_payer(
    database: Engine, *, reference: Reference, since: date | None = None, until: date | None = None
) -> DenialsReport:
    """Report 1 (see the module): the denials worklist's items summed by group, reason and payer."""
    dates = _dates(since, until)
    try:
        items = from_ledger(database, reference.remit_codes, Filters(dates=dates))
    except SQLAlchemyError as exc:
        raise _unavailable(exc) from None
    lines: dict[tuple[str, str, str], dict[str, int]] = {}  # by group, reason and payer: lines by visit
    amounts: dict[tuple[str, str, str], Decimal] = {}
    for item in items:
        key = (item.group, item.reason, item.payer)
        taken_back = item.status == queries.REVERSAL_STATUS  # its amounts are negative: they net out
        by_visit = lines.setdefault(key, {})
        by_visit[item.visit_id] = by_visit.get(item.visit_id, 0) + (-1 if taken_back else 1)
        amounts[key] = amounts.get(key, ZERO) + item.amount
    rows = [
        _denial_row(reference, key, sum(by_visit.values()), sum(1 for n in by_visit.values() if n > 0), amounts[key])
        for key, by_visit in lines.items()
        if sum(by_visit.values()) > 0
    ]
    rows.sort(key=lambda row: (-row.amount, row.group, row.reason, row.payer))
    undated = _reading(database, queries.undated_remittance_claims) if dates.start or dates.end else 0
    return DenialsReport(
        since,
        until,
        rows,
        lines=sum(row.lines for row in rows),
        amount=sum((row.amount for row in rows), ZERO),
        undated_claims_left_out=undated,
    )


def _denial_row(reference: Reference, key: tuple[str, str, str], lines: int, claims: int, amount: Decimal) -> DenialRow:
    group, reason, payer = key
    meaning, kind, next_step = reference.remit_codes.explain(group, reason)
    return DenialRow(group, reason, payer, meaning, kind, next_step, lines, claims, amount)


def paid_against_expected(
    database: Engine, *, reference: Reference, since: date | None = None, until: date | None = None
) -> PaidReport:
    """Report 2 (see the module): per payer and code, paid, allowed and expected per unit billed."""
    dates = _dates(since, until)

    def read(connection: Connection) -> PaidReport:
        groups: dict[tuple[str, str], _PaidTotals] = {}
        unmatched = 0
        for line in queries.paid_codes(connection, dates):
            if line.billed_units is None:
                unmatched += 1
                continue
            name = reference.payer(line.payer).name if line.posted else line.remit_payer
            totals = groups.setdefault((line.payer, line.code), _PaidTotals(name, line.posted))
            totals.add(line, line.billed_units)
        rows = [totals.row(payer, code) for (payer, code), totals in sorted(groups.items()) if totals.lines_paid]
        not_posted = sum(totals.lines_paid for totals in groups.values() if not totals.posted)
        undated = queries.undated_remittance_claims(connection)
        return PaidReport(since, until, rows, unmatched, not_posted, undated)

    return _reading(database, read)


class _PaidTotals:
    """Sums for one payer and code; per-unit figures are ratios of sums (each unit weighs the same)."""

    def __init__(self, name: str, posted: bool) -> None:
        self.name, self.posted = name, posted  # the payer's name; False: visits not posted (see the module)
        self.lines_paid = self.units = self.lines_unpaid = 0
        self.paid = self.allowed = ZERO
        self.estimated_lines = self.estimated_units = 0
        self.estimated_allowed = self.expected = ZERO

    def add(self, line: queries.PaidCode, units: int) -> None:
        if line.allowed <= 0:
            self.lines_unpaid += 1
            return
        self.lines_paid += 1
        self.units += units
        self.paid += line.paid
        self.allowed += line.allowed
        if line.expected is not None:
            self.estimated_lines += 1
            self.estimated_units += units
            self.estimated_allowed += line.allowed
            self.expected += line.expected

    def row(self, payer: str, code: str) -> PaidRow:
        expected = _per_unit(self.expected, self.estimated_units)
        difference = _per_unit(self.estimated_allowed - self.expected, self.estimated_units)
        return PaidRow(
            payer=payer,
            payer_name=self.name,
            code=code,
            lines_paid=self.lines_paid,
            units=self.units,
            paid=self.paid,
            average_paid_per_unit=_per_unit(self.paid, self.units),
            allowed=self.allowed,
            average_allowed_per_unit=_per_unit(self.allowed, self.units),
            lines_with_expected=self.estimated_lines,
            average_expected_per_unit=expected,
            difference_per_unit=difference,
            lines_unpaid=self.lines_unpaid,
            source=PAID_SOURCE if self.posted else PAID_NOT_POSTED_SOURCE,
        )


def _per_unit(amount: Decimal, units: int) -> Decimal | None:
    """Per unit billed, in cents (rounded half up); None without units."""
    return cents(amount / units) if units else None


def underpaid_lines(
    database: Engine,
    *,
    reference: Reference,
    tolerance: Decimal = Decimal("0.01"),
    since: date | None = None,
    until: date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> UnderpaidReport:
    """Report 3 (see the module): lines allowed less than expected by more than ``tolerance``."""
    dates = _dates(since, until)
    if not tolerance.is_finite() or tolerance < 0:
        raise BadInput("tolerance", f"expected an amount of 0 or more, got {quote(str(tolerance))}")
    check_page(limit, offset)

    def read(connection: Connection) -> UnderpaidReport:
        found = [
            _underpaid(reference, line)
            for line in queries.paid_codes(connection, dates)
            if line.expected is not None
            and line.billed_units is not None
            and line.allowed > 0
            and line.expected - line.allowed > tolerance
        ]
        found.sort(key=lambda line: (-line.short_by, line.date_of_service, line.visit_id, line.code))
        page = found[offset:] if limit is None else found[offset : offset + limit]
        short = sum((line.short_by for line in found), ZERO)
        return UnderpaidReport(since, until, tolerance, len(found), short, limit, offset, page)

    return _reading(database, read)


def _underpaid(reference: Reference, line: queries.PaidCode) -> UnderpaidLine:
    assert line.expected is not None and line.billed_units is not None  # the caller keeps only those
    reductions = [
        Reduction(group, reason, amount, reference.remit_codes.explain(group, reason)[0])
        for (group, reason), amount in sorted(line.reductions.items())
    ]
    return UnderpaidLine(
        visit_id=line.visit_id,
        date_of_service=line.date,
        payer=line.payer,
        payer_name=reference.payer(line.payer).name,
        code=line.code,
        units=line.billed_units,
        expected=line.expected,
        paid=line.paid,
        patient_responsibility=line.patient,
        allowed=line.allowed,
        short_by=line.expected - line.allowed,
        reductions=reductions,
    )


def ar_aging(database: Engine, *, as_of: date) -> AgingReport:
    """Report 4 (see the module): open balances by payer and age on ``as_of``."""

    def read(connection: Connection) -> AgingReport:
        by_payer: dict[str, AgingRow] = {}
        total = _aging_row("(all)")
        from_sent = after = 0
        for claim in queries.open_claims(connection):
            start = claim.date_of_service or claim.first_sent
            if start > as_of:
                after += 1
                continue
            from_sent += claim.date_of_service is None
            bucket = _bucket((as_of - start).days)
            row = by_payer.setdefault(claim.payer, _aging_row(claim.payer))
            for counted in (row, total):
                _count(counted, bucket, claim.balance)
        rows = [by_payer[payer] for payer in sorted(by_payer)]
        return AgingReport(as_of, rows, total, from_sent, after)

    return _reading(database, read)


def _aging_row(payer: str) -> AgingRow:
    return AgingRow(payer, 0, ZERO, [AgingBucket(label, 0, ZERO) for label, _ in BUCKETS])


def _bucket(days: int) -> int:
    return next(index for index, (_, last) in enumerate(BUCKETS) if last is None or days <= last)


def _count(row: AgingRow, bucket: int, balance: Decimal) -> None:
    row.claims += 1
    row.balance += balance
    row.buckets[bucket].claims += 1
    row.buckets[bucket].balance += balance


def timely_filing(database: Engine, *, reference: Reference, as_of: date, within_days: int = 30) -> TimelyReport:
    """Report 5 (see the module): visits not filed whose limit ends within ``within_days`` of ``as_of``."""
    if not 0 <= within_days <= MAX_WITHIN_DAYS:
        raise BadInput("within_days", f"expected 0 to {MAX_WITHIN_DAYS} days, got {within_days}")
    default = reference.payers[DEFAULT_KEY]

    def read(connection: Connection) -> TimelyReport:
        visits: list[TimelyVisit] = []
        without: list[PayerWithoutLimit] = []
        for payer in queries.visit_payers(connection):
            policy = reference.payer(payer)
            limit, limit_from = policy.claims.timely_filing_days, policy.origin
            if limit is None or not policy.configured:  # the default profile's, read now (not a cached copy)
                limit, limit_from = default.claims.timely_filing_days, f"the default profile ({default.origin})"
            if limit is None:
                count = sum(1 for _ in queries.unfiled_visits(connection, payer, None))
                if count:
                    without.append(PayerWithoutLimit(payer, policy.name, count))
                continue
            served_by = as_of.toordinal() + within_days - limit  # a deadline within reach: served by then
            if served_by < 1:
                continue  # a limit longer than the calendar: nothing is near it
            for visit in queries.unfiled_visits(connection, payer, _day(served_by)):
                deadline = _day(visit.date.toordinal() + limit)
                if deadline is None:
                    continue
                visits.append(
                    TimelyVisit(
                        visit_id=visit.visit_id,
                        patient_id=visit.patient_id,
                        payer=payer,
                        payer_name=policy.name,
                        date_of_service=visit.date,
                        status="denied" if visit.denied else "not sent",
                        charge=visit.charge,
                        limit_days=limit,
                        limit_from=limit_from,
                        deadline=deadline,
                        days_left=(deadline - as_of).days,
                    )
                )
        visits.sort(key=lambda visit: (visit.days_left, visit.date_of_service, visit.visit_id))
        return TimelyReport(as_of, within_days, visits, without)

    return _reading(database, read)


def _day(ordinal: int) -> date | None:
    """The day of ``ordinal``; None past the calendar's last day (no bound)."""
    return date.fromordinal(ordinal) if ordinal <= date.max.toordinal() else None


# Helpers -------------------------------------------------------------------------------------------------------


def _dates(since: date | None, until: date | None) -> DateRange:
    try:
        return DateRange(since, until)
    except ValueError:
        raise BadInput("until", f"{until} is before since {since}") from None


def _reading(database: Engine, read: Callable[[Connection], Report]) -> Report:
    """Run ``read`` in one transaction (it writes nothing); a ledger failure is Unavailable, one line naming
    the driver's reason, never the SQL."""
    try:
        with database.connect() as connection, connection.begin():
            return read(connection)
    except SQLAlchemyError as exc:
        raise _unavailable(exc) from None


def _unavailable(exc: SQLAlchemyError) -> Unavailable:
    return Unavailable("database", f"the ledger failed ({failure_reason(exc)})")
