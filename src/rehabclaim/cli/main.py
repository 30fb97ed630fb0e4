"""``rehabclaim``: code look-up and search, units, scrub, batch, demo and rules.

Exit status: 0 when no finding is an error, 1 when any is, 2 for input that cannot be read.
Every command that prints a result takes ``--json``; those fields are a contract (added to, never renamed).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console

from rehabclaim.cli import render
from rehabclaim.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Clean, defensible therapy claims.")
console = Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (a stable contract).")]
PracticeOption = Annotated[
    Path | None, typer.Option("--practice", help="Practice file (locality, charges); default: the bundled demo.")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="REHABCLAIM_DATABASE_URL",
        help="Ledger database URL; default: a SQLite file in the user data folder.",
    ),
]
ledger_app = typer.Typer(no_args_is_help=True, help="The patient ledger.")
app.add_typer(ledger_app, name="ledger")
EXIT_ERROR_FINDING = 1
EXIT_BAD_INPUT = 2


def _print_json(payload: Any) -> None:
    sys.stdout.buffer.write(msgspec.json.encode(payload) + b"\n")
    sys.stdout.buffer.flush()


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


@app.command()
def code(code: str, as_json: JsonOption = False) -> None:
    """Show one code with its facts (dates, timed flag, add-on relations, source)."""
    from rehabclaim.catalog import load_catalog

    found = load_catalog().get(code)
    if found is None:
        raise _fail(f"code: unknown code {code!r}")
    if as_json:
        _print_json(found.as_dict())
    else:
        render.code_facts(console, found)


@app.command()
def search(
    query: str,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many codes to show.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Rank codes by relevance to QUERY; understands shorthand such as therex, NMR, MT, TA, HP/CP, US."""
    from rehabclaim.catalog import search_codes

    hits = search_codes(query, limit)
    if as_json:
        _print_json(
            [
                {
                    "code": h.code.code,
                    "score": h.score,
                    "description": h.code.description,
                    "matched": list(h.matched),
                    "end": h.code.end,
                    "replaced_by": h.code.replaced_by,
                }
                for h in hits
            ]
        )
    else:
        render.search_hits(console, query, hits)


def _parse_pairs(pairs: list[str]) -> list[Any]:
    from rehabclaim.model import Service

    services = []
    for position, pair in enumerate(pairs):
        code_text, sep, minutes_text = pair.partition("=")
        if not sep or not minutes_text.isdigit():
            raise InputError(f"argument {position + 1}", f"expected CODE=MINUTES, got {pair!r}")
        services.append(Service(code=code_text, minutes=int(minutes_text)))
    return services


@app.command()
def units(
    pairs: Annotated[list[str], typer.Argument(help="CODE=MINUTES pairs, e.g. 97110=33 97140=7")],
    method: Annotated[str, typer.Option(help="cms (total timed minutes) or per-code")] = "cms",
    as_json: JsonOption = False,
) -> None:
    """Units per code for the given minutes, with the reasoning."""
    from rehabclaim.catalog import load_catalog
    from rehabclaim.lines import build_lines
    from rehabclaim.units import METHODS, assign_units

    if method not in METHODS:
        raise _fail(f"--method: expected one of {', '.join(METHODS)}, got {method!r}")
    try:
        lines = build_lines(_parse_pairs(pairs), load_catalog())
    except InputError as exc:
        raise _fail(str(exc)) from None
    plan = assign_units(lines, method)
    rows = [(line.code.code, line.units, line.minutes, line.why) for line in lines]
    if as_json:
        _print_json(
            {
                "method": plan.method,
                "total_timed_minutes": plan.total_minutes,
                "total_timed_units": plan.total_units,
                "lines": [{"code": c, "units": u, "minutes": m, "why": w} for c, u, m, w in rows],
            }
        )
    else:
        render.unit_plan(console, plan, rows)


def _read_visits(path: Path) -> list[Any]:
    """All visits of a .json (one visit) or .jsonl (one per line) file; any problem -> InputError."""
    from rehabclaim.engine import decode_visit

    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise InputError("", f"cannot read {path}: {exc.strerror}") from None
    if path.suffix != ".jsonl":
        return [decode_visit(data)]
    visits = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            try:
                visits.append(decode_visit(raw))
            except InputError as exc:
                raise exc.at_line(number) from None
    return visits


def _engine(practice: Path | None, ledger: Any = None) -> Any:
    """The scrub engine; a bad practice, payer or CMS file is unreadable input (exit 2)."""
    from rehabclaim.datafiles import DataFileError
    from rehabclaim.engine import Engine
    from rehabclaim.practice import load_practice

    try:
        if ledger is None:
            return Engine(practice=load_practice(practice))
        from rehabclaim.ledger import LedgerHistory

        return Engine(practice=load_practice(practice), history=LedgerHistory(ledger))
    except (DataFileError, OSError) as exc:
        raise _fail(str(exc)) from None


def _open_ledger(database_url: str | None) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from rehabclaim.ledger import open_ledger

    try:
        return open_ledger(database_url)
    except SQLAlchemyError as exc:
        raise _fail(f"--database-url: cannot open the ledger ({exc.__class__.__name__}: {exc})") from None


def _visits_or_fail(path: Path) -> list[Any]:
    try:
        return _read_visits(path)
    except InputError as exc:
        raise _fail(str(exc)) from None


def _scrub_and_print(
    visits: list[Any], as_json: bool, practice: Path | None = None, ledger: Any = None, post: bool = False
) -> None:
    """Scrub every visit and print the results. With ``post`` each visit is posted right after its scrub,
    so a later visit of the same patient sees the earlier one; every visit is checked for unreadable input
    first, so a bad visit stops the command before anything is posted."""
    from rehabclaim.engine import encode_result
    from rehabclaim.lines import build_lines

    engine = _engine(practice, ledger)
    refused: dict[str, str] = {}
    try:
        for visit in visits:
            build_lines(visit.services, engine.catalog)
        results = []
        for visit in visits:
            results.append(engine.scrub(visit))
            if post:
                refusal = _post(ledger, visit, results[-1])
                if refusal:
                    refused[visit.id] = refusal
    except InputError as exc:
        raise _fail(str(exc)) from None
    for result in results:
        if as_json:
            sys.stdout.buffer.write(encode_result(result) + b"\n")
        else:
            render.scrub_result(console, result)
            if post:
                note = refused.get(result.id)
                console.print(f"[red]not posted:[/red] {note}" if note else "[green]posted to the ledger[/green]")
    sys.stdout.flush()
    for message in refused.values():
        errors.print(f"[red]not posted:[/red] {message}", highlight=False)
    if any(result.has_error for result in results) or refused:
        raise typer.Exit(EXIT_ERROR_FINDING)


def _post(ledger: Any, visit: Any, result: Any) -> str | None:
    """Post one visit atomically; the refusal, if any."""
    from rehabclaim.ledger import PostRefused, post_visit

    try:
        post_visit(ledger, visit, result)
    except PostRefused as exc:
        return str(exc)
    return None


@app.command()
def scrub(
    path: Annotated[Path, typer.Argument(help="visit.json (one visit), visits.jsonl (one per line) or -")],
    as_json: JsonOption = False,
    practice: PracticeOption = None,
    use_ledger: Annotated[bool, typer.Option("--ledger", help="Read the patient's history from the ledger.")] = False,
    post: Annotated[bool, typer.Option("--post", help="Record each visit without errors in the ledger.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Scrub visits into claim lines with units, modifiers, findings and the expected payment."""
    visits = _visits_or_fail(path)
    ledger = _open_ledger(database_url) if use_ledger or post else None
    _scrub_and_print(visits, as_json, practice, ledger, post)


@app.command()
def demo(as_json: JsonOption = False, practice: PracticeOption = None) -> None:
    """Scrub the bundled example visits (no setup needed)."""
    example = resources.files("rehabclaim.data").joinpath("examples/visits.jsonl")
    with resources.as_file(example) as path:
        visits = _read_visits(path)
    _scrub_and_print(visits, as_json, practice)


@app.command()
def batch(
    path: Annotated[Path, typer.Argument(help="visits.jsonl, one visit per line")],
    out: Annotated[Path, typer.Option("--out", help="Where results go, one per visit in input order.")],
    workers: Annotated[int, typer.Option(min=1, max=256, help="Processes scrubbing in parallel.")] = 1,
    strict: Annotated[bool, typer.Option(help="Stop at the first malformed line; write nothing.")] = False,
    as_json: JsonOption = False,
    practice: PracticeOption = None,
) -> None:
    """Scrub a large visits file, streamed, with a summary at the end."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from rehabclaim.batch import run_batch

    if not path.is_file():
        raise _fail(f"{path}: no such file")
    _engine(practice)  # a bad practice, payer or CMS file fails here, before any worker starts
    show_progress = errors.is_terminal and not as_json
    progress = Progress(
        TextColumn("scrubbing"),
        BarColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=errors,
        disable=not show_progress,
    )
    task = progress.add_task("scrub", total=path.stat().st_size)
    try:
        with progress:
            summary = run_batch(path, out, workers, strict, lambda done: progress.advance(task, done), practice)
    except InputError as exc:
        raise _fail(f"{exc} (--strict: nothing written)") from None
    if as_json:
        _print_json(summary.as_dict())
    else:
        render.batch_summary(console, summary)
    if summary.visits_with_errors or summary.skipped:
        raise typer.Exit(EXIT_ERROR_FINDING)


@app.command()
def rules(
    as_json: JsonOption = False,
    markdown: Annotated[bool, typer.Option(help="Print docs/rules.md.")] = False,
) -> None:
    """List every rule id with its severity and what it checks."""
    from rehabclaim.docs import render_rules_markdown
    from rehabclaim.rules import RULES

    if markdown:
        sys.stdout.write(render_rules_markdown())
    elif as_json:
        _print_json(
            [
                {
                    "id": r.id,
                    "name": r.name,
                    "severity": r.severity,
                    "summary": r.summary,
                    "family": r.family,
                    "doc": r.doc,
                }
                for r in RULES
            ]
        )
    else:
        render.rule_list(console, RULES)


@app.command()
def payers(as_json: JsonOption = False) -> None:
    """List the configured payers and their main policies."""
    from rehabclaim.payers import configured_payers

    policies = _load_payers(configured_payers)
    if as_json:
        _print_json(
            [
                {"key": p.key, "name": p.name, "sample": p.sample, "unit_method": p.units.method, "origin": p.origin}
                for p in policies
            ]
        )
    else:
        render.payer_list(console, policies)


@app.command()
def payer(key: str, as_json: JsonOption = False) -> None:
    """Show one payer's whole policy."""
    from rehabclaim.payers import payer_table

    table = _load_payers(payer_table)
    policy = table.get(key.strip().lower())
    if policy is None:
        raise _fail(f"payer: unknown payer {key!r}; configured: {', '.join(sorted(table))}")
    if as_json:
        _print_json(policy)
    else:
        render.payer_policy(console, policy)


def _load_payers(load: Any) -> Any:
    from rehabclaim.datafiles import DataFileError

    try:
        return load()
    except DataFileError as exc:
        raise _fail(str(exc)) from None


@app.command()
def fee(
    code: str,
    year: Annotated[int | None, typer.Option(help="Calendar year (default: the date's year).")] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="Date of service, YYYY-MM-DD (default: Jan 1 of --year).")
    ] = None,
    locality: Annotated[str | None, typer.Option(help="MAC:LOCALITY, e.g. 11502:00 (default: the practice's).")] = None,
    units: Annotated[int, typer.Option(min=1, max=99, help="Units (MPPR applies from the second).")] = 1,
    practice: PracticeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the Medicare fee computation for CODE: RVUs x GPCIs x conversion factor, then MPPR."""
    from datetime import date

    import msgspec as ms

    from rehabclaim.cms.tables import cms_tables
    from rehabclaim.datafiles import DataFileError
    from rehabclaim.fees.estimate import NoFee, cents, medicare_unit_fee
    from rehabclaim.fees.medicare_policy import medicare_payment
    from rehabclaim.practice import Locality, load_practice

    try:
        day = date.fromisoformat(on) if on else date(year or 2026, 1, 1)
    except ValueError:
        raise _fail(f"--date: expected YYYY-MM-DD, got {on!r}") from None
    if year is not None and day.year != year:
        raise _fail(f"--date {day} is not in --year {year}")
    try:
        chosen = load_practice(practice)
        if locality:
            mac, _, number = locality.partition(":")
            chosen = ms.structs.replace(chosen, locality=Locality(mac=mac, number=number or "00"))
        tables, medicare = cms_tables(), medicare_payment()
    except DataFileError as exc:
        raise _fail(str(exc)) from None
    result = medicare_unit_fee(code.strip().upper(), day, chosen, tables, medicare)
    if isinstance(result, NoFee):
        raise _fail(result.reason)
    percent = medicare.mppr_percent(day) if code.strip().upper() in medicare.therapy.always_therapy else 0
    further = result.full - result.pe_payment * percent / 100
    total = result.full + further * (units - 1)
    payload = {
        "code": code.strip().upper(),
        "date": day.isoformat(),
        "locality": f"{chosen.locality.mac}:{chosen.locality.number}",
        "per_unit": float(cents(result.full)),
        "pe_payment": float(cents(result.pe_payment)),
        "mppr_percent": float(percent),
        "further_unit": float(cents(further)),
        "units": units,
        "total": float(cents(total)),
        "why": result.formula,
    }
    if as_json:
        _print_json(payload)
    else:
        render.fee(console, payload)


@app.command()
def claim(
    path: Annotated[Path, typer.Argument(help="visits.jsonl (or one visit .json) with claim data")],
    x837: Annotated[Path, typer.Option("--837", help="Where the 837P interchange goes.")],
    cms1500_out: Annotated[Path | None, typer.Option("--cms1500", help="Also write CMS-1500 data (JSON).")] = None,
    practice: PracticeOption = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write one 837P interchange for the visits; visits with errors are held back and listed."""
    from rehabclaim.claims.run import ClaimRunError, write_claims

    visits = _visits_or_fail(path)
    engine, ledger = _engine(practice), _open_ledger(database_url)
    try:
        run = write_claims(visits, engine, ledger, x837, cms1500_out)
    except (ClaimRunError, InputError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(run.as_dict())
    else:
        render.claim_run(console, run, x837)
    if run.held_back:
        raise typer.Exit(EXIT_ERROR_FINDING)


def _read_835(path: Path) -> tuple[bytes, Any]:
    from rehabclaim.x12.core import X12Error
    from rehabclaim.x12.remit835 import read_835

    try:
        data = path.read_bytes()
        return data, read_835(data)
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    except X12Error as exc:
        raise _fail(f"{path}: {exc}") from None


@app.command()
def remit(
    path: Annotated[Path, typer.Argument(help="An 835 remittance file")],
    post: Annotated[bool, typer.Option("--post", help="Record the payments in the ledger.")] = False,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read a remittance (835): payments, claims, lines, adjustments, remarks, and every imbalance."""
    import msgspec as ms

    from rehabclaim.remits.post import RemitRefused, post_remittance

    data, remittance = _read_835(path)
    outcome, refused = None, None
    if post:
        try:
            outcome = post_remittance(_open_ledger(database_url), data, remittance)
        except RemitRefused as exc:
            refused = str(exc)
            errors.print(f"[red]not posted:[/red] {refused}", highlight=False)
    if as_json:
        sys.stdout.buffer.write(ms.json.Encoder(decimal_format="number").encode(remittance) + b"\n")
    else:
        render.remittance(console, remittance)
        if outcome is not None:
            console.print(f"posted {len(outcome.posted)} claim(s); not ours: {', '.join(outcome.unmatched) or 'none'}")
    if remittance.imbalances or refused:
        raise typer.Exit(EXIT_ERROR_FINDING)


@app.command()
def denials(
    path: Annotated[Path | None, typer.Argument(help="An 835 file; default: the remittances in the ledger")] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Denied and partly paid lines by reason and payer, with the next step for each."""
    import msgspec as ms

    from rehabclaim.remits.worklist import from_ledger, from_remittance

    items = from_remittance(_read_835(path)[1]) if path else from_ledger(_open_ledger(database_url))
    if as_json:
        sys.stdout.buffer.write(ms.json.Encoder(decimal_format="number").encode(items) + b"\n")
    else:
        render.worklist(console, items)


@ledger_app.command("show")
def ledger_show(patient: str, as_json: JsonOption = False, database_url: DatabaseOption = None) -> None:
    """Show what the ledger holds for PATIENT: visits, allowed amounts, encounters, plans, authorizations."""
    from rehabclaim.ledger import patient_state

    state = patient_state(_open_ledger(database_url), patient)
    if state is None:
        raise _fail(f"patient {patient!r} is not in the ledger")
    if as_json:
        _print_json(state)
    else:
        render.ledger_state(console, state)


if __name__ == "__main__":  # pragma: no cover
    app()
