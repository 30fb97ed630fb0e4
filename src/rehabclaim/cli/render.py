"""Rich rendering of results for people; ``--json`` output never goes through here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rehabclaim.batch import BatchSummary
from rehabclaim.errors import quote
from rehabclaim.model import ScrubResult
from rehabclaim.payers import PayerPolicy
from rehabclaim.services.catalog import CodeFacts, SearchHit, UnitPlanResult
from rehabclaim.services.fees import FeeResult
from rehabclaim.services.patients import PatientState
from rehabclaim.services.payers import PayerSummary
from rehabclaim.services.rules import RuleDoc

if TYPE_CHECKING:  # claim, remit and denials types: their modules load only for those commands
    from rehabclaim.remits.worklist import WorkItem
    from rehabclaim.services.claims import ClaimRunReport
    from rehabclaim.services.remittances import RemittancePosting
    from rehabclaim.x12.remit835 import Remittance

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def code_facts(console: Console, facts: CodeFacts) -> None:
    table = Table(show_header=False, title=escape(f"{facts.code}  {facts.description}"), title_justify="left")
    for key, value in msgspec.structs.asdict(facts).items():
        if key in ("code", "description") or value in (None, [], ""):
            continue
        table.add_row(key, escape(", ".join(value) if isinstance(value, list) else str(value)))  # [recalled] shows
    console.print(table)


def search_hits(console: Console, query: str, hits: list[SearchHit]) -> None:
    table = Table(title=escape(f"codes for {query!r}"), title_justify="left")
    for column in ("code", "score", "description"):
        table.add_column(column)
    for hit in hits:
        note = f" (deleted {hit.end}, use {hit.replaced_by})" if hit.end else ""
        table.add_row(hit.code, f"{hit.score:.2f}", escape(hit.description + note))
    console.print(table)


def unit_plan(console: Console, plan: UnitPlanResult) -> None:
    console.print(
        f"[bold]{escape(plan.method)}[/bold] method: {plan.total_timed_minutes} timed min = "
        f"{plan.total_timed_units} timed units"
    )
    table = Table()
    for column in ("code", "units", "minutes", "why"):
        table.add_column(column)
    for line in plan.lines:
        minutes = "" if line.minutes is None else str(line.minutes)
        table.add_row(escape(line.code), str(line.units), minutes, escape(line.why))
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


def rule_list(console: Console, rules: Sequence[RuleDoc]) -> None:
    table = Table()
    for column in ("id", "name", "severity", "summary"):
        table.add_column(column)
    for rule in rules:
        table.add_row(rule.id, rule.name, rule.severity, rule.summary)
    console.print(table)


def payer_list(console: Console, payers: Sequence[PayerSummary]) -> None:
    """The configured payers; ``rehabclaim payer KEY`` shows one's whole policy (its fee schedule too)."""
    table = Table()
    for column in ("key", "name", "units", "sample", "origin"):
        table.add_column(column)
    for payer in payers:
        sample = "yes" if payer.sample else ""
        table.add_row(*map(escape, (payer.key, payer.name, payer.unit_method, sample, payer.origin)))
    console.print(table)


def payer_policy(console: Console, policy: PayerPolicy) -> None:
    table = Table(show_header=False, title=escape(f"{policy.key}: {policy.name}"), title_justify="left")
    for name, value in msgspec.structs.asdict(policy).items():
        shown = msgspec.json.encode(value).decode() if isinstance(value, msgspec.Struct) else str(value)
        table.add_row(name, escape(shown))
    console.print(table)


def fee(console: Console, result: FeeResult) -> None:
    console.print(f"[bold]{result.code}[/bold] on {result.date}, locality {result.locality}")
    console.print(escape(result.why), highlight=False)
    console.print(
        f"per unit ${result.per_unit:.2f}; further units of the day ${result.further_unit:.2f} "
        f"(MPPR {result.mppr_percent:.0f}% of PE ${result.pe_payment:.2f}); "
        f"{result.units} unit(s): ${result.total:.2f}"
    )


def ledger_state(console: Console, state: PatientState) -> None:
    console.print(f"[bold]patient {escape(state.patient)}[/bold]", highlight=False)
    visits = Table(title="visits", title_justify="left")
    for column in ("id", "date", "payer", "discipline", "units", "charge", "expected", "allowed"):
        visits.add_column(column)
    for v in state.visits:
        allowed = "" if v.allowed is None else f"{v.allowed:.2f}"
        visits.add_row(
            escape(v.id),
            v.date.isoformat(),
            escape(v.payer),
            v.discipline,
            str(v.therapy_units),
            f"{v.charge:.2f}",
            f"{v.expected:.2f}",
            allowed,
        )
    console.print(visits)
    for row in state.allowed_by_year:
        console.print(f"allowed {row.year} {row.benefit}: ${row.amount:.2f}")
    for e in state.orthotic_encounters:
        console.print(escape(f"orthotic encounter {e.date} {e.code} {e.body_region or '(region not stated)'}"))
    for p in state.plans_of_care:
        console.print(f"plan of care {p.discipline} {p.certified_from} to {p.certified_through}")
    for a in state.authorizations:
        console.print(escape(f"authorization {a.payer} {a.number or ''} {a.valid_from} to {a.valid_through}"))
    _standing(console, state)


def _standing(console: Console, state: PatientState) -> None:
    """Where the patient stands on the date of service: what a further visit that day is scrubbed against."""
    console.print(f"[bold]on {state.as_of}[/bold]", highlight=False)
    for kx in state.kx:
        threshold = "no KX threshold known" if kx.threshold is None else f"KX threshold ${kx.threshold:.2f}"
        console.print(f"allowed {kx.year} {kx.benefit}: ${kx.allowed:.2f}; {threshold}")
    for w in state.plan_of_care_windows:
        shown = "in force" if w.in_force else "[red]not in force[/red]"
        capped = (
            f", a certification covers through {w.covered_through}" if w.covered_through < w.certified_through else ""
        )
        console.print(f"plan of care {w.discipline} {w.certified_from} to {w.certified_through}{capped}: {shown}")
    for r in state.progress_reports:
        every = f" (one every {r.every_treatment_days})" if r.every_treatment_days is not None else ""
        due = ": [yellow]a progress report is due[/yellow]" if r.due else ""
        console.print(
            f"progress report {r.discipline}: {r.treatment_days} treatment day(s) since the last one{every}{due}"
        )
    for a in state.authorization_use:
        limit = "no limit" if a.limit is None else str(a.limit)
        console.print(
            escape(
                f"authorization {a.payer} {a.number or ''}: {a.used} of {limit} {a.counts} used, "
                f"{a.valid_from} to {a.valid_through}"
            )
        )
    for region in state.orthotic_history:
        dates = ", ".join(f"{e.date} {e.code}" for e in region.encounters)
        console.print(escape(f"orthotics {region.body_region or '(region not stated)'}: {dates}"))


LISTED = 20  # visit ids a summary names before "and N more"


def claim_run(console: Console, report: ClaimRunReport, path: object) -> None:
    for recovered in report.recovered_interchanges:
        console.print(
            f"[yellow]interchange {recovered.interchange_control_number}, left pending by a run that stopped, "
            f"was {recovered.outcome}[/yellow]"
        )
    if report.written:
        console.print(
            f"[green]{report.written} claim(s) written[/green] to {path} "
            f"(interchange {report.interchange_control_number})"
        )
    else:
        console.print("[yellow]no claim written[/yellow]")
    if report.already_sent:
        more = len(report.already_sent) - LISTED
        shown = escape(", ".join(report.already_sent[:LISTED]) + (f" and {more} more" if more > 0 else ""))
        console.print(
            f"[yellow]{len(report.already_sent)} already sent, not sent again[/yellow] (--resend sends them): {shown}",
            highlight=False,
        )
    for note in report.notes:
        for finding in note.findings:
            console.print(escape(f"  {note.id}: {finding.rule} {finding.message}"), highlight=False)
    if report.held:
        console.print(f"[red]{report.held_back} held back:[/red]")
        for held in report.held:
            for finding in held.findings:
                console.print(escape(f"  {held.id}: {finding.rule} {finding.message}"), highlight=False)


SUMMARY_ROWS = 50  # claims (or work items) a table shows unless --all: a large file stays fast to print


def _more(console: Console, shown: int, total: int, what: str) -> None:
    if total > shown:
        console.print(f"... {total - shown:,} more {what} not shown (--all shows every one; --json holds them all)")


def remittance(console: Console, remit: Remittance, limit: int | None = SUMMARY_ROWS) -> None:
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
    for problem in remit.code_problems[:limit]:
        console.print(
            f"[yellow]warning:[/yellow] segment {problem.segment}: {problem.id} {problem.element} "
            f"{escape(quote(problem.value))} {escape(problem.reason)}",
            highlight=False,
        )
    _more(console, len(remit.code_problems[:limit]), len(remit.code_problems), "code problem(s)")
    for imbalance in remit.imbalances[:limit]:
        console.print(f"[red]imbalance[/red] segment {imbalance.segment}: {escape(imbalance.message)}", highlight=False)
    _more(console, len(remit.imbalances[:limit]), len(remit.imbalances), "imbalance(s)")
    if not remit.imbalances:
        console.print("[green]balanced[/green]")


def remittance_posted(console: Console, outcome: RemittancePosting, limit: int | None = SUMMARY_ROWS) -> None:
    unmatched = outcome.unmatched
    listed = ", ".join(unmatched[:limit]) or "none"
    console.print(f"posted {len(outcome.posted):,} claim(s); not ours: {escape(listed)}", highlight=False)
    _more(console, len(unmatched[:limit]), len(unmatched), "claim(s) not ours")


def worklist(console: Console, items: list[WorkItem], limit: int | None = SUMMARY_ROWS) -> None:
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
