"""Rich rendering of results for people; ``--json`` output never goes through here."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rehabclaim.batch import BatchSummary
from rehabclaim.catalog import Code
from rehabclaim.catalog.search import SearchHit
from rehabclaim.model import ScrubResult
from rehabclaim.payers import PayerPolicy
from rehabclaim.rules import Rule
from rehabclaim.units import UnitPlan

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def code_facts(console: Console, code: Code) -> None:
    table = Table(show_header=False, title=escape(f"{code.code}  {code.description}"), title_justify="left")
    for key, value in code.as_dict().items():
        if key in ("code", "description") or value in (None, [], ""):
            continue
        table.add_row(key, escape(", ".join(value) if isinstance(value, list) else str(value)))  # [recalled] shows
    console.print(table)


def search_hits(console: Console, query: str, hits: list[SearchHit]) -> None:
    table = Table(title=escape(f"codes for {query!r}"), title_justify="left")
    for column in ("code", "score", "description"):
        table.add_column(column)
    for hit in hits:
        note = f" (deleted {hit.code.end}, use {hit.code.replaced_by})" if hit.code.end else ""
        table.add_row(hit.code.code, f"{hit.score:.2f}", escape(hit.code.description + note))
    console.print(table)


def unit_plan(console: Console, plan: UnitPlan, rows: list[tuple[str, int, int | None, str]]) -> None:
    console.print(f"[bold]{plan.method}[/bold] method: {plan.total_minutes} timed min = {plan.total_units} timed units")
    table = Table()
    for column in ("code", "units", "minutes", "why"):
        table.add_column(column)
    for code, units, minutes, why in rows:
        table.add_row(escape(code), str(units), "" if minutes is None else str(minutes), escape(why))
    console.print(table)


def scrub_result(console: Console, result: ScrubResult) -> None:
    console.print(
        f"[bold]visit {escape(result.id)}[/bold]  payer {escape(result.payer)}, {result.method} method: "
        f"{result.total_timed_minutes} timed min = {result.total_timed_units} timed units",
        highlight=False,
    )
    lines = Table()
    for column in ("code", "units", "modifiers", "min", "why"):
        lines.add_column(column, overflow="fold")
    for line in result.lines:
        minutes = "" if line.minutes is None else str(line.minutes)
        lines.add_row(escape(line.code), str(line.units), escape(" ".join(line.modifiers)), minutes, escape(line.why))
    console.print(lines)
    if result.findings:
        findings = Table()
        for column in ("severity", "rule", "code", "message"):
            findings.add_column(column, overflow="fold")
        for finding in result.findings:
            style = SEVERITY_STYLE[finding.severity]
            findings.add_row(
                f"[{style}]{finding.severity}[/{style}]",
                finding.rule,
                escape(finding.code or ""),
                escape(finding.message),
            )
        console.print(findings)
    else:
        console.print("[green]no findings[/green]")


def batch_summary(console: Console, summary: BatchSummary) -> None:
    console.print(
        f"{summary.visits} visits, {summary.lines} lines, {summary.visits_with_errors} visits with errors, "
        f"{len(summary.skipped)} skipped, {summary.visits_per_second:,.0f} visits/s ({summary.workers} workers)"
    )
    if summary.errors_by_rule:
        table = Table(title="errors by rule", title_justify="left")
        table.add_column("rule")
        table.add_column("count", justify="right")
        for rule_id, count in sorted(summary.errors_by_rule.items()):
            table.add_row(rule_id, str(count))
        console.print(table)
    for _, message in summary.skipped[:20]:
        console.print(f"[red]skipped[/red] {escape(message)}", highlight=False)


def rule_list(console: Console, rules: tuple[Rule, ...]) -> None:
    table = Table()
    for column in ("id", "name", "severity", "summary"):
        table.add_column(column)
    for rule in rules:
        table.add_row(rule.id, rule.name, rule.severity, rule.summary)
    console.print(table)


def payer_list(console: Console, policies: list[PayerPolicy]) -> None:
    table = Table()
    for column in ("key", "name", "units", "fees", "origin"):
        table.add_column(column)
    for policy in policies:
        table.add_row(*map(escape, (policy.key, policy.name, policy.units.method, policy.fees.schedule, policy.origin)))
    console.print(table)


def payer_policy(console: Console, policy: PayerPolicy) -> None:
    table = Table(show_header=False, title=escape(f"{policy.key}: {policy.name}"), title_justify="left")
    for name, value in msgspec.structs.asdict(policy).items():
        shown = msgspec.json.encode(value).decode() if isinstance(value, msgspec.Struct) else str(value)
        table.add_row(name, escape(shown))
    console.print(table)


def fee(console: Console, payload: dict[str, Any]) -> None:
    console.print(f"[bold]{payload['code']}[/bold] on {payload['date']}, locality {payload['locality']}")
    console.print(escape(payload["why"]), highlight=False)
    console.print(
        f"per unit ${payload['per_unit']:.2f}; further units of the day ${payload['further_unit']:.2f} "
        f"(MPPR {payload['mppr_percent']:.0f}% of PE ${payload['pe_payment']:.2f}); "
        f"{payload['units']} unit(s): ${payload['total']:.2f}"
    )


def ledger_state(console: Console, state: dict[str, Any]) -> None:
    console.print(f"[bold]patient {escape(state['patient'])}[/bold]", highlight=False)
    visits = Table(title="visits", title_justify="left")
    for column in ("id", "date", "payer", "discipline", "units", "charge", "expected", "allowed"):
        visits.add_column(column)
    for v in state["visits"]:
        allowed = "" if v["allowed"] is None else f"{v['allowed']:.2f}"
        visits.add_row(
            escape(v["id"]),
            v["date"],
            escape(v["payer"]),
            v["discipline"],
            str(v["therapy_units"]),
            f"{v['charge']:.2f}",
            f"{v['expected']:.2f}",
            allowed,
        )
    console.print(visits)
    for row in state["allowed_by_year"]:
        console.print(f"allowed {row['year']} {row['benefit']}: ${row['amount']:.2f}")
    for e in state["orthotic_encounters"]:
        console.print(f"orthotic encounter {e['date']} {e['code']} {e['body_region'] or '(region not stated)'}")
    for p in state["plans_of_care"]:
        console.print(f"plan of care {p['discipline']} {p['certified_from']} to {p['certified_through']}")
    for a in state["authorizations"]:
        console.print(f"authorization {a['payer']} {a['number'] or ''} {a['from']} to {a['through']}")


LISTED = 20  # visit ids a summary names before "and N more"


def claim_run(console: Console, run: Any, path: Any) -> None:
    for number, outcome in run.recovered:
        console.print(f"[yellow]interchange {number}, left pending by a run that stopped, was {outcome}[/yellow]")
    if run.written:
        console.print(
            f"[green]{len(run.written)} claim(s) written[/green] to {path} "
            f"(interchange {run.interchange_control_number})"
        )
    else:
        console.print("[yellow]no claim written[/yellow]")
    if run.already_sent:
        more = len(run.already_sent) - LISTED
        shown = escape(", ".join(run.already_sent[:LISTED]) + (f" and {more} more" if more > 0 else ""))
        console.print(
            f"[yellow]{len(run.already_sent)} already sent, not sent again[/yellow] (--resend sends them): {shown}",
            highlight=False,
        )
    for visit_id, findings in run.notes:
        for finding in findings:
            console.print(escape(f"  {visit_id}: {finding.rule} {finding.message}"), highlight=False)
    if run.held_back:
        console.print(f"[red]{len(run.held_back)} held back:[/red]")
        for visit_id, findings in run.held_back:
            for finding in findings:
                console.print(escape(f"  {visit_id}: {finding.rule} {finding.message}"), highlight=False)


SUMMARY_ROWS = 50  # claims (or work items) a table shows unless --all: a large file stays fast to print


def _more(console: Console, shown: int, total: int, what: str) -> None:
    if total > shown:
        console.print(f"... {total - shown:,} more {what} not shown (--all shows every one; --json holds them all)")


def remittance(console: Console, remit: Any, limit: int | None = SUMMARY_ROWS) -> None:
    """Totals, each payment, the first ``limit`` claims (all when None), provider adjustments, segments the
    reader did not know (a warning each) and imbalances. Never the patient's name. Text from the file is
    escaped: a ``[/]`` in a payer name must print as itself, not break (or style) the output."""
    claims = remit.claims
    charged = sum((claim.charge for claim in claims), Decimal(0))
    paid = sum((claim.paid for claim in claims), Decimal(0))
    patient = sum((claim.patient_responsibility for claim in claims), Decimal(0))
    console.print(
        f"[bold]{len(remit.payments):,} payment(s), {len(claims):,} claim(s)[/bold]: charged {charged}, "
        f"paid {paid}, patient responsibility {patient}; payments total {remit.total_paid}",
        highlight=False,
    )
    by_status = Counter(f"{claim.status} {claim.status_meaning}" for claim in claims)
    if by_status:
        listed = "; ".join(f"{status}: {n:,}" for status, n in sorted(by_status.items()))
        console.print(f"by status: {escape(listed)}", highlight=False)
    for payment in remit.payments[:limit]:
        console.print(
            f"[bold]payment[/bold] {payment.amount} from {escape(payment.payer.name)} to "
            f"{escape(payment.payee.name)}, trace {escape(payment.trace_number or '')} from "
            f"{escape(payment.trace_originator or '')}, {escape(payment.method)} {escape(payment.date or '')}",
            highlight=False,
        )
    _more(console, len(remit.payments[:limit]), len(remit.payments), "payment(s)")
    table = Table()
    for column in ("claim", "status", "charge", "paid", "patient", "lines", "adjustments"):
        table.add_column(column, overflow="fold")
    for claim in claims[:limit]:
        adjustments = " ".join(f"{a.group}-{a.reason} {a.amount}" for a in claim.adjustments)
        table.add_row(
            escape(claim.id),
            escape(f"{claim.status} {claim.status_meaning}"),
            str(claim.charge),
            str(claim.paid),
            str(claim.patient_responsibility),
            str(len(claim.lines)),
            escape(adjustments),
        )
    console.print(table)
    _more(console, len(claims[:limit]), len(claims), "claim(s)")
    for adjustment in remit.provider_adjustments[:limit]:
        reference = escape(adjustment.reference or "")
        console.print(f"provider adjustment {escape(adjustment.reason)} {adjustment.amount} ({reference})")
    _more(console, len(remit.provider_adjustments[:limit]), len(remit.provider_adjustments), "provider adjustment(s)")
    for unknown in remit.unknown_segments[:limit]:
        console.print(
            f"[yellow]warning:[/yellow] segment {unknown.segment}: {unknown.id} is not an 835 segment; skipped",
            highlight=False,
        )
    _more(console, len(remit.unknown_segments[:limit]), len(remit.unknown_segments), "unknown segment(s)")
    for imbalance in remit.imbalances[:limit]:
        console.print(f"[red]imbalance[/red] segment {imbalance.segment}: {escape(imbalance.message)}", highlight=False)
    _more(console, len(remit.imbalances[:limit]), len(remit.imbalances), "imbalance(s)")
    if not remit.imbalances:
        console.print("[green]balanced[/green]")


def remittance_posted(console: Console, outcome: Any, limit: int | None = SUMMARY_ROWS) -> None:
    unmatched = outcome.unmatched
    listed = ", ".join(unmatched[:limit]) or "none"
    console.print(f"posted {len(outcome.posted):,} claim(s); not ours: {escape(listed)}", highlight=False)
    _more(console, len(unmatched[:limit]), len(unmatched), "claim(s) not ours")


def worklist(console: Console, items: list[Any], limit: int | None = SUMMARY_ROWS) -> None:
    """Totals by reason, then the first ``limit`` items (all when None)."""
    totals: dict[str, tuple[int, Decimal]] = {}
    for item in items:
        count, amount = totals.get(f"{item.group}-{item.reason}", (0, Decimal(0)))
        totals[f"{item.group}-{item.reason}"] = (count + 1, amount + item.amount)
    if totals:
        listed = "; ".join(f"{reason} {count:,} ({amount})" for reason, (count, amount) in sorted(totals.items()))
        console.print(f"[bold]{len(items):,} item(s)[/bold] by reason: {escape(listed)}", highlight=False)
    table = Table(title="denials and balances to work", title_justify="left")
    for column in ("reason", "payer", "visit", "code", "amount", "meaning", "next step"):
        table.add_column(column, overflow="fold")
    for item in items[:limit]:
        cells = (
            f"{item.group}-{item.reason}",
            item.payer,
            item.visit_id,
            " ".join([item.code, *item.modifiers]),
            str(item.amount),
            item.meaning,
            item.next_step,
        )
        table.add_row(*map(escape, cells))
    console.print(table)
    _more(console, len(items[:limit]), len(items), "item(s)")
