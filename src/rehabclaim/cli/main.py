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
from rich.markup import escape

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
    """Print the one-line refusal (the message is text, never markup; never wrapped) and exit 2."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


@app.command()
def code(code: str, as_json: JsonOption = False) -> None:
    """Show one code with its facts (dates, timed flag, add-on relations, source)."""
    from rehabclaim.catalog import load_catalog
    from rehabclaim.errors import quote

    found = load_catalog().get(code)
    if found is None:
        raise _fail(f"code: unknown code {quote(code)}")
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
    """CODE=MINUTES arguments as services, validated like a visit's (the contract's limits)."""
    import re

    from rehabclaim.errors import quote, short_reason, validation_field
    from rehabclaim.model import Service

    services = []
    for position, pair in enumerate(pairs):
        code_text, sep, minutes_text = pair.partition("=")
        if not sep or not re.fullmatch("[0-9]{1,9}", minutes_text):
            raise InputError(f"argument {position + 1}", f"expected CODE=MINUTES, got {quote(pair)}")
        try:
            services.append(msgspec.convert({"code": code_text, "minutes": int(minutes_text)}, Service))
        except msgspec.ValidationError as exc:
            field, reason = validation_field(str(exc))
            raise InputError(f"argument {position + 1}", f"{field}: {short_reason(reason)}") from None
    return services


@app.command()
def units(
    pairs: Annotated[list[str], typer.Argument(help="CODE=MINUTES pairs, e.g. 97110=33 97140=7")],
    method: Annotated[str, typer.Option(help="cms (total timed minutes) or per-code")] = "cms",
    as_json: JsonOption = False,
) -> None:
    """Units per code for the given minutes, with the reasoning."""
    from rehabclaim.catalog import load_catalog
    from rehabclaim.errors import quote
    from rehabclaim.lines import build_lines
    from rehabclaim.units import METHODS, assign_units

    if method not in METHODS:
        raise _fail(f"--method: expected one of {', '.join(METHODS)}, got {quote(method)}")
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
    """All visits of a .json (one visit) or .jsonl (one per line) file, or of standard input (``-``, either
    form); any problem, an unknown code or modifier included, -> InputError (with the line, in JSON Lines),
    so a command stops before it scrubs, posts or writes anything."""
    from rehabclaim.catalog import load_catalog
    from rehabclaim.lines import build_lines
    from rehabclaim.scrubber import decode_visit

    data = _read_input(path)
    catalog = load_catalog()
    if not (path.suffix == ".jsonl" or (str(path) == "-" and _is_json_lines(data))):
        try:
            visit = decode_visit(data)
            build_lines(visit.services, catalog)
        except InputError as exc:
            if exc.field:
                raise
            where = "standard input" if str(path) == "-" else str(path)  # the text as a whole: name it
            raise InputError(where, exc.reason) from None
        return [visit]
    visits = []
    for number, raw in enumerate(data.split(b"\n"), start=1):  # lines as `batch` reads them
        if raw.strip():
            try:
                visit = decode_visit(raw)
                build_lines(visit.services, catalog)
            except InputError as exc:
                raise exc.at_line(number) from None
            visits.append(visit)
    return visits


def _read_input(path: Path) -> bytes:
    """The bytes of ``path`` (``-``: standard input); of a one-visit file no more than a visit may hold."""
    from rehabclaim.model import MAX_VISIT_BYTES

    try:
        if str(path) == "-":
            return sys.stdin.buffer.read()
        if path.suffix == ".jsonl":
            return path.read_bytes()
        with path.open("rb") as source:
            return source.read(MAX_VISIT_BYTES + 1)  # enough for decode_visit to refuse a bigger one
    except OSError as exc:
        raise InputError("", f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None


def _is_json_lines(data: bytes) -> bool:
    """JSON Lines on standard input: the first non-blank line is a whole object and another line follows
    (a pretty-printed visit's first line is an open brace)."""
    import io
    from itertools import islice

    filled = list(islice(filter(None, map(bytes.strip, io.BytesIO(data))), 2))
    return len(filled) == 2 and filled[0].startswith(b"{") and filled[0].endswith(b"}")


def _engine(practice: Path | None, ledger: Any = None) -> Any:
    """The scrub engine; a bad practice, payer or CMS file is unreadable input (exit 2)."""
    from rehabclaim.datafiles import DataFileError
    from rehabclaim.reference import load_reference
    from rehabclaim.scrubber import Scrubber

    try:
        if ledger is None:
            return Scrubber(load_reference(practice))
        from rehabclaim.ledger import LedgerHistory

        return Scrubber(load_reference(practice), LedgerHistory(ledger))
    except (DataFileError, OSError) as exc:
        raise _fail(str(exc)) from None


def _open_ledger(database_url: str | None) -> Any:
    """The migrated ledger; when it cannot be opened, one line naming the database (password hidden), where
    its URL came from (only if the user gave one) and why; exit 2."""
    import os

    from rehabclaim.ledger.database import LedgerUnavailable, open_ledger

    try:
        return open_ledger(database_url)
    except LedgerUnavailable as exc:
        if database_url is None:
            raise _fail(f"cannot open the default ledger {exc.database}: {exc.reason}") from None
        from_environment = os.environ.get("REHABCLAIM_DATABASE_URL") == database_url  # Typer read it for us
        raise _fail(f"{'REHABCLAIM_DATABASE_URL' if from_environment else '--database-url'}: {exc}") from None


def _visits_or_fail(path: Path) -> list[Any]:
    try:
        return _read_visits(path)
    except InputError as exc:
        raise _fail(str(exc)) from None


def _scrub_and_print(
    visits: list[Any], as_json: bool, practice: Path | None = None, ledger: Any = None, post: bool = False
) -> None:
    """Scrub every visit and print each result as soon as it is ready (the visits were checked for
    unreadable input when read, so a bad visit stopped the command before anything was posted). With
    ``post`` each visit is posted right after its scrub, so a later visit of the same patient sees the
    earlier one, and its result is printed before the next visit: none is posted and left unprinted."""
    from sqlalchemy.exc import SQLAlchemyError

    from rehabclaim.scrubber import encode_result

    engine = _engine(practice, ledger)
    refused: list[str] = []
    has_error = False
    progress, advance = _scrub_progress(len(visits), as_json)
    try:
        with progress:
            for visit in visits:
                result = engine.scrub(visit)
                has_error = has_error or result.has_error
                refusal = _post(ledger, visit, result) if post else None
                if refusal:
                    refused.append(refusal)
                if as_json:
                    sys.stdout.buffer.write(encode_result(result) + b"\n")
                else:
                    render.scrub_result(console, result)
                    if post:
                        console.print(_post_note(refusal), highlight=False)
                if post:
                    sys.stdout.flush()
                advance()
    except InputError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:  # reading a patient's history; every visit printed above is complete
        raise _fail(f"--database-url: the ledger failed while scrubbing ({exc.__class__.__name__})") from None
    sys.stdout.flush()
    for message in refused:
        errors.print(f"[red]not posted:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    if has_error or refused:
        raise typer.Exit(EXIT_ERROR_FINDING)


def _scrub_progress(total: int, as_json: bool) -> tuple[Any, Any]:
    """Shown on a terminal, never with --json, nor when the results print to the same terminal (they show
    the progress, and would tear the bar)."""
    progress, advance = _count_progress(
        "scrubbing", total, errors.is_terminal and not console.is_terminal and not as_json
    )
    return progress, lambda: advance(1)


def _count_progress(label: str, total: int, shown: bool) -> tuple[Any, Any]:
    """A progress bar on stderr counting ``total`` items (drawn only when ``shown``), and the callback that
    advances it by a number of items done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    progress = Progress(
        *columns, console=errors, disable=not shown, transient=True, redirect_stdout=False, redirect_stderr=False
    )
    task = progress.add_task(label, total=total)
    return progress, lambda done: progress.advance(task, done)


def _post_note(refusal: str | None) -> str:
    return f"[red]not posted:[/red] {escape(refusal)}" if refusal else "[green]posted to the ledger[/green]"


def _post(ledger: Any, visit: Any, result: Any) -> str | None:
    """Post one visit atomically; the refusal, if any (a database error is this visit's refusal too)."""
    from sqlalchemy.exc import SQLAlchemyError

    from rehabclaim.ledger import PostRefused, post_visit

    try:
        post_visit(ledger, visit, result)
    except PostRefused as exc:
        return str(exc)
    except SQLAlchemyError as exc:
        return f"visit {visit.id}: not posted, the ledger failed ({exc.__class__.__name__})"
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

    from rehabclaim.atomic import same_file
    from rehabclaim.batch import WorkerDied, run_batch, stop_on_signals

    if not path.is_file():
        raise _fail(f"{path}: no such file")
    if same_file(path, out):
        raise _fail(f"--out: {out} is the input file; writing there would destroy it (choose another path)")
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
        with stop_on_signals(out), progress:  # a stop signal removes the temporary and exits 128 + signal
            summary = run_batch(path, out, workers, strict, lambda done: progress.advance(task, done), practice)
    except InputError as exc:
        raise _fail(f"{exc} (--strict: nothing written)") from None
    except OSError as exc:
        raise _fail(f"{exc.filename or out}: {exc.strerror or exc} (nothing written)") from None
    except WorkerDied as exc:
        raise _fail(f"{exc} (killed, or out of memory?); nothing written") from None
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
    from rehabclaim.errors import quote
    from rehabclaim.payers import payer_table

    table = _load_payers(payer_table)
    policy = table.get(key.strip().lower())
    if policy is None:
        raise _fail(f"payer: unknown payer {quote(key)}; configured: {', '.join(sorted(table))}")
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

    from rehabclaim.catalog import load_catalog
    from rehabclaim.cms.pfs import LOCALITY_NUMBER, MAC
    from rehabclaim.cms.tables import cms_tables
    from rehabclaim.datafiles import DataFileError, is_code
    from rehabclaim.errors import quote
    from rehabclaim.fees.estimate import DMEPOS, NoFee, cents, medicare_unit_fee
    from rehabclaim.fees.medicare_policy import medicare_payment
    from rehabclaim.practice import Locality, load_practice

    if not is_code(code.strip().upper()):
        raise _fail(f"code: expected a 5-character HCPCS/CPT code, got {quote(code)}")
    try:
        day = date.fromisoformat(on) if on else date(year or 2026, 1, 1)
    except ValueError:
        raise _fail(f"--date: expected YYYY-MM-DD, got {quote(on)}" if on else f"--year: not a year: {year}") from None
    if year is not None and day.year != year:
        raise _fail(f"--date {day} is not in --year {year}")
    mac, _, number = (locality or "").partition(":")
    if locality and not (MAC.fullmatch(mac) and LOCALITY_NUMBER.fullmatch(number or "00")):
        raise _fail(f"--locality: expected MAC:LOCALITY such as 11502:00, got {quote(locality)}")
    try:
        chosen = load_practice(practice)
        if locality:
            chosen = ms.structs.replace(chosen, locality=Locality(mac=mac, number=number or "00"))
        tables, medicare = cms_tables(), medicare_payment()
    except DataFileError as exc:
        raise _fail(str(exc)) from None
    known = load_catalog().get(code.strip().upper())
    if known is not None and known.is_orthosis:
        raise _fail(f"{known.code} {DMEPOS}")
    result = medicare_unit_fee(code.strip().upper(), day, chosen, tables, medicare)
    if isinstance(result, NoFee):
        raise _fail(result.reason)
    percent = result.mppr_percent if result.mppr else 0  # MULT PROC 5 in the PPRRVU file: the therapy MPPR
    total = result.full + result.reduced * (units - 1)
    payload = {
        "code": code.strip().upper(),
        "date": day.isoformat(),
        "locality": f"{chosen.locality.mac}:{chosen.locality.number}",
        "per_unit": float(result.full),
        "pe_payment": float(cents(result.pe_payment)),
        "mppr_percent": float(percent),
        "further_unit": float(result.reduced),
        "units": units,
        "total": float(cents(total)),
        "why": result.formula,
        "therapy_mppr": result.mppr,
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
    resend: Annotated[
        bool, typer.Option("--resend", help="Send visits already sent again, as original claims.")
    ] = False,
) -> None:
    """Write one 837P interchange for the visits; visits with errors are held back and listed, visits
    already sent are listed and not sent again (unless --resend)."""
    from sqlalchemy.exc import SQLAlchemyError

    from rehabclaim.claims.build import ClaimBuildError
    from rehabclaim.claims.run import ClaimRunError, write_claims
    from rehabclaim.x12.core import X12WriteError

    _refuse_outputs_over_input(path, x837, cms1500_out)
    visits = _visits_or_fail(path)
    engine, ledger = _engine(practice), _open_ledger(database_url)
    progress, advance = _claim_progress(len(visits), as_json)
    try:
        with progress:
            run = write_claims(visits, engine, ledger, x837, cms1500_out, resend=resend, progress=advance)
    except (ClaimRunError, InputError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{exc.filename or x837}: cannot write ({exc.strerror}); no claim was sent") from None
    except (X12WriteError, ClaimBuildError) as exc:
        raise _fail(f"the 837P could not be built (a bug, please report; nothing written or recorded): {exc}") from None
    except SQLAlchemyError as exc:
        raise _fail(
            f"--database-url: the ledger failed ({exc.__class__.__name__}); no claim is sent twice: "
            "the next run settles any interchange left pending"
        ) from None
    if as_json:
        _print_json(run.as_dict())
    else:
        render.claim_run(console, run, x837)
    if run.held_back:
        raise typer.Exit(EXIT_ERROR_FINDING)


LARGE_CLAIM_RUN = 500  # visits from which `claim` shows a progress bar (on a terminal, without --json)


def _claim_progress(total: int, as_json: bool) -> tuple[Any, Any]:
    """A progress bar on stderr for a large run (see ``_count_progress``)."""
    return _count_progress("claims", total, errors.is_terminal and not as_json and total >= LARGE_CLAIM_RUN)


def _refuse_outputs_over_input(path: Path, x837: Path, cms1500_out: Path | None) -> None:
    """An output that is the input (or the other output) would silently replace it: exit 2 naming it."""
    from rehabclaim.atomic import same_file

    outputs = [("--837", x837), *([("--cms1500", cms1500_out)] if cms1500_out is not None else [])]
    for option, output in outputs:
        if str(path) != "-" and same_file(path, output):
            raise _fail(f"{option} {output}: this is the input file {path}; writing would replace it")
    if cms1500_out is not None and same_file(x837, cms1500_out):
        raise _fail(f"--cms1500 {cms1500_out}: this is the --837 file; one would replace the other")


def _read_835(path: Path) -> tuple[bytes, Any]:
    """The file's bytes and its remittance; a file that cannot be read or is not a sound 835 exits 2 with one
    line naming the file and the segment."""
    from rehabclaim.x12.core import X12Error
    from rehabclaim.x12.remit835 import read_835

    try:
        data = path.read_bytes()
        return data, read_835(data)
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    except X12Error as exc:
        raise _fail(f"{path}: {exc}") from None


@app.command()
def remit(
    path: Annotated[Path, typer.Argument(help="An 835 remittance file")],
    post: Annotated[bool, typer.Option("--post", help="Record the payments in the ledger.")] = False,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every claim; the table shows the totals and the first claims.")
    ] = False,
) -> None:
    """Read a remittance (835): payments, claims, lines, adjustments, remarks, and every imbalance. The table
    shows the totals and the first claims (--all: every claim); --json always holds everything."""
    import msgspec as ms
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rehabclaim.remits.post import RemitRefused, post_remittance

    shown = errors.is_terminal and not as_json  # progress on stderr for people only, never into --json or pipes
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=errors, disable=not shown)
    outcome, refused = None, None
    with progress:
        reading = progress.add_task(f"reading {path.name}", total=None)
        data, remittance = _read_835(path)
        progress.update(reading, total=len(remittance.claims), completed=len(remittance.claims))
        if post:
            ledger = _open_ledger(database_url)
            posting = progress.add_task("posting", total=len(remittance.claims))
            try:
                outcome = post_remittance(ledger, data, remittance, lambda done: progress.advance(posting, done))
            except RemitRefused as exc:
                refused = str(exc)
    if refused:
        errors.print(f"[red]not posted:[/red] {escape(refused)}", highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.buffer.write(ms.json.Encoder(decimal_format="number").encode(remittance) + b"\n")
    else:
        limit = None if show_all else render.SUMMARY_ROWS
        render.remittance(console, remittance, limit)
        if outcome is not None:
            render.remittance_posted(console, outcome, limit)
    if remittance.imbalances or refused:
        raise typer.Exit(EXIT_ERROR_FINDING)


@app.command()
def denials(
    path: Annotated[Path | None, typer.Argument(help="An 835 file; default: the remittances in the ledger")] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every item; the table shows the totals and the first items.")
    ] = False,
) -> None:
    """Denied and partly paid lines by reason and payer, with the next step for each. The table shows the
    totals by reason and the first items (--all: every item); --json always holds everything."""
    import msgspec as ms

    from rehabclaim.remits.worklist import from_ledger, from_remittance

    items = from_remittance(_read_835(path)[1]) if path else from_ledger(_open_ledger(database_url))
    if as_json:
        sys.stdout.buffer.write(ms.json.Encoder(decimal_format="number").encode(items) + b"\n")
    else:
        render.worklist(console, items, None if show_all else render.SUMMARY_ROWS)


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
