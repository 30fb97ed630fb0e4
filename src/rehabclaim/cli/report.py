"""``rehabclaim report``: the ledger's reports (``rehabclaim.services.reports``) as tables, or as JSON with
``--json`` (the bytes the API returns). Dates are YYYY-MM-DD; a bad one is one line and exit status 2.

    rehabclaim report denials   [--since] [--until]     denied and adjusted lines by reason and payer
    rehabclaim report paid      [--since] [--until]     average paid and expected per unit, by payer and code
    rehabclaim report underpaid [--since] [--until] [--tolerance] [--limit] [--offset]
    rehabclaim report aging     [--as-of]               open balances by payer, 0-30 ... over 120 days
    rehabclaim report timely    [--as-of] [--within-days]   visits near (or past) the payer's filing limit
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, TypeVar

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rehabclaim.cli.common import DatabaseOption, JsonOption, call, console, fail, open_ledger, reference_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from rehabclaim.services import reports

Report = TypeVar("Report", bound=msgspec.Struct)
report_app: typer.Typer = typer.Typer(
    no_args_is_help=True,
    help="Reports on the ledger: denials, paid against expected, underpaid lines, A/R aging, timely filing.",
)

SinceOption = Annotated[str | None, typer.Option("--since", help="Dates of service from YYYY-MM-DD.")]
UntilOption = Annotated[str | None, typer.Option("--until", help="Dates of service through YYYY-MM-DD.")]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="The day ages and days left are counted to, YYYY-MM-DD; default: today."),
]


def _day(option: str, text: str | None) -> date | None:
    from rehabclaim.errors import quote

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: expected YYYY-MM-DD, got {quote(text)}") from None


def _as_of(text: str | None) -> date:
    return _day("--as-of", text) or date.today()  # the CLI's default, said in --as-of's help


@contextmanager
def _ledger(database_url: str | None) -> Iterator[Engine]:
    ledger = open_ledger(database_url)
    try:
        yield ledger
    finally:
        ledger.dispose()


def _show(report: Report, as_json: bool, render: Callable[[Console, Report], None]) -> None:
    from rehabclaim.services.reports import encode

    if as_json:
        sys.stdout.buffer.write(encode(report) + b"\n")
        sys.stdout.buffer.flush()
    else:
        render(console, report)


@report_app.command("denials")
def denials(
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Denied and adjusted lines by reason (CARC) and payer: count, amount, meaning and next step."""
    from rehabclaim.services.reports import denials_by_reason_and_payer

    _dated_report(denials_by_reason_and_payer, since, until, database_url, as_json, _render_denials)


@report_app.command("paid")
def paid(
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Per payer and code: lines paid, average paid, allowed and expected per unit, and the difference."""
    from rehabclaim.services.reports import paid_against_expected

    _dated_report(paid_against_expected, since, until, database_url, as_json, _render_paid)


def _dated_report(
    report_of: Callable[..., Report],
    since: str | None,
    until: str | None,
    database_url: str | None,
    as_json: bool,
    render: Callable[[Console, Report], None],
) -> None:
    """Run a report over dates of service ``since``..``until`` and show it."""
    first, last = _day("--since", since), _day("--until", until)
    reference = reference_for(None)
    with _ledger(database_url) as ledger:
        report = call(report_of, ledger, reference=reference, since=first, until=last)
    _show(report, as_json, render)


@report_app.command("underpaid")
def underpaid(
    since: SinceOption = None,
    until: UntilOption = None,
    tolerance: Annotated[str, typer.Option(help="Only lines short by more than this amount (dollars).")] = "0.01",
    limit: Annotated[int | None, typer.Option(help="Show at most this many lines (largest shortfall first).")] = None,
    offset: Annotated[int, typer.Option(help="Skip this many lines first.")] = 0,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Lines the payer allowed less than we expected (our estimate when the visit was posted)."""
    from rehabclaim.errors import quote
    from rehabclaim.services.reports import underpaid_lines

    first, last = _day("--since", since), _day("--until", until)
    try:
        amount = Decimal(tolerance)
    except InvalidOperation:
        raise fail(f"--tolerance: expected an amount such as 0.01, got {quote(tolerance)}") from None
    reference = reference_for(None)
    with _ledger(database_url) as ledger:
        report = call(
            underpaid_lines,
            ledger,
            reference=reference,
            tolerance=amount,
            since=first,
            until=last,
            limit=limit,
            offset=offset,
        )
    _show(report, as_json, _render_underpaid)


@report_app.command("aging")
def aging(as_of: AsOfOption = None, as_json: JsonOption = False, database_url: DatabaseOption = None) -> None:
    """Open claim balances by payer in 0-30, 31-60, 61-90, 91-120 and over 120 days from the date of service."""
    from rehabclaim.services.reports import ar_aging

    day = _as_of(as_of)
    with _ledger(database_url) as ledger:
        report = call(ar_aging, ledger, as_of=day)
    _show(report, as_json, _render_aging)


@report_app.command("timely")
def timely(
    as_of: AsOfOption = None,
    within_days: Annotated[int, typer.Option(help="Show visits whose filing limit ends within this many days.")] = 30,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Posted visits not filed (never sent, or denied) whose payer's timely-filing limit is near or past."""
    from rehabclaim.services.reports import timely_filing

    day = _as_of(as_of)
    reference = reference_for(None)
    with _ledger(database_url) as ledger:
        report = call(timely_filing, ledger, reference=reference, as_of=day, within_days=within_days)
    _show(report, as_json, _render_timely)


# Tables ----------------------------------------------------------------------------------------------------


def _money(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


def _period(since: date | None, until: date | None) -> str:
    from rehabclaim.dates import DateRange

    return f"dates of service: {DateRange(since, until)}"


def _render_denials(console: Console, report: reports.DenialsReport) -> None:
    table = Table(title=f"Denials by reason and payer ({_period(report.since, report.until)})")
    for column in ("Reason", "Payer", "Lines", "Claims", "Amount", "Meaning", "Next step"):
        table.add_column(column, justify="right" if column in ("Lines", "Claims", "Amount") else "left")
    for row in report.rows:
        table.add_row(
            f"{row.group}-{row.reason}",
            escape(row.payer),
            str(row.lines),
            str(row.claims),
            _money(row.amount),
            escape(row.meaning),
            row.next_step,
        )
    table.add_section()
    table.add_row("Total", "", str(report.lines), "", _money(report.amount), "", "")
    console.print(table)
    if report.undated_claims_left_out:
        console.print(
            f"{report.undated_claims_left_out} remittance claim(s) left out: their visits were not posted, so "
            "their dates of service are unknown",
            highlight=False,
        )


def _render_paid(console: Console, report: reports.PaidReport) -> None:
    table = Table(title=f"Paid against expected, per unit billed ({_period(report.since, report.until)})")
    columns = ("Payer", "Code", "Lines", "Units", "Paid/unit", "Allowed/unit", "Expected/unit", "Difference")
    for column in (*columns, "Unpaid"):
        table.add_column(column, justify="left" if column in ("Payer", "Code") else "right")
    for row in report.rows:
        table.add_row(
            escape(row.payer),
            row.code,
            str(row.lines_paid),
            str(row.units),
            _money(row.average_paid_per_unit),
            _money(row.average_allowed_per_unit),
            _money(row.average_expected_per_unit),
            _money(row.difference_per_unit),
            str(row.lines_unpaid),
        )
    console.print(table)
    console.print("Allowed: paid plus the patient's share; difference: allowed less expected.", highlight=False)
    if report.unmatched_lines:
        console.print(f"{report.unmatched_lines} remittance line(s) for codes the visit did not bill: left out.")


def _render_underpaid(console: Console, report: reports.UnderpaidReport) -> None:
    shown = f"{len(report.lines)} of {report.total}" if len(report.lines) != report.total else str(report.total)
    table = Table(
        title=f"Underpaid lines: {shown}, short by {_money(report.short_by)} in all "
        f"(tolerance {_money(report.tolerance)}; {_period(report.since, report.until)})"
    )
    for column in ("Visit", "Date", "Payer", "Code", "Units", "Expected", "Allowed", "Paid", "Short by", "Reasons"):
        left = column in ("Visit", "Date", "Payer", "Code", "Reasons")
        table.add_column(column, justify="left" if left else "right")
    for line in report.lines:
        table.add_row(
            escape(line.visit_id),
            line.date_of_service.isoformat(),
            escape(line.payer),
            line.code,
            str(line.units),
            _money(line.expected),
            _money(line.allowed),
            _money(line.paid),
            _money(line.short_by),
            ", ".join(f"{r.group}-{r.reason} {_money(r.amount)}" for r in line.reductions),
        )
    console.print(table)


def _render_aging(console: Console, report: reports.AgingReport) -> None:
    table = Table(title=f"A/R aging as of {report.as_of.isoformat()} (days from the date of service)")
    table.add_column("Payer")
    for bucket in report.total.buckets:
        table.add_column(bucket.label, justify="right")
    table.add_column("Total", justify="right")
    for row in [*report.rows, report.total]:
        if row is report.total:
            table.add_section()
        cells = [f"{_money(b.balance)} ({b.claims})" if b.claims else "" for b in row.buckets]
        table.add_row(
            "Total" if row is report.total else escape(row.payer), *cells, f"{_money(row.balance)} ({row.claims})"
        )
    console.print(table)
    if report.aged_from_sent_date:
        console.print(
            f"{report.aged_from_sent_date} claim(s) of visits not posted: aged from the day first sent, "
            "under the payer id on the claim",
            highlight=False,
        )
    if report.after_as_of:
        console.print(f"{report.after_as_of} open claim(s) with a date of service after the as-of day: left out.")


def _render_timely(console: Console, report: reports.TimelyReport) -> None:
    table = Table(
        title=f"Timely filing as of {report.as_of.isoformat()}: limits ending within {report.within_days} days "
        "or passed"
    )
    for column in ("Visit", "Patient", "Payer", "Served", "Status", "Limit", "Deadline", "Days left", "Charge"):
        table.add_column(column, justify="right" if column in ("Limit", "Days left", "Charge") else "left")
    for visit in report.visits:
        left = f"[red]{visit.days_left}[/red]" if visit.days_left < 0 else str(visit.days_left)
        table.add_row(
            escape(visit.visit_id),
            escape(visit.patient_id),
            escape(visit.payer),
            visit.date_of_service.isoformat(),
            visit.status,
            f"{visit.limit_days} d",
            visit.deadline.isoformat(),
            left,
            _money(visit.charge),
        )
    console.print(table)
    for payer in report.payers_without_limit:
        console.print(
            f"{escape(payer.payer)}: {payer.visits} visit(s) not filed; no timely_filing_days in its policy or the "
            "default profile",
            highlight=False,
        )
