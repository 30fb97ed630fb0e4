"""``rehabclaim``: code look-up and search, units, scrub, batch, demo and rules.

Exit status: 0 when no finding is an error, 1 when any is, 2 for input that cannot be read.
Every command that prints a result takes ``--json``; those fields are a contract (added to, never renamed).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from rehabclaim.cli import render
from rehabclaim.cli.assistant import ask, suggest
from rehabclaim.cli.common import (
    EXIT_ERROR_FINDING,
    DatabaseOption,
    JsonOption,
    PracticeOption,
    call,
    console,
    errors,
    fail,
    open_ledger,
    print_json,
    reference_for,
)
from rehabclaim.cli.imports import import_app
from rehabclaim.cli.report import report_app
from rehabclaim.cli.serve import serve
from rehabclaim.cli.users import users_app
from rehabclaim.errors import InputError

if TYPE_CHECKING:
    from rehabclaim.claims.run import ReportSpool
    from rehabclaim.model import ScrubResult, Visit
    from rehabclaim.reference import Reference

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Clean, defensible therapy claims.")
ledger_app = typer.Typer(no_args_is_help=True, help="The patient ledger.")
app.add_typer(ledger_app, name="ledger")
app.add_typer(users_app, name="user")
app.add_typer(report_app, name="report")
app.add_typer(import_app, name="import")
app.command()(serve)
app.command("ask")(ask)
app.command("suggest")(suggest)


@app.command()
def code(code: str, as_json: JsonOption = False) -> None:
    """Show one code with its facts (dates, timed flag, add-on relations, source)."""
    from rehabclaim.services import catalog

    facts = call(catalog.code_facts, reference_for(None), code=code)
    if as_json:
        print_json(facts)
    else:
        render.code_facts(console, facts)


@app.command()
def search(
    query: str,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many codes to show.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Rank codes by relevance to QUERY; understands shorthand such as therex, NMR, MT, TA, HP/CP, US."""
    from rehabclaim.services import catalog

    hits = call(catalog.search_codes, reference_for(None), query=query, limit=limit)
    if as_json:
        print_json(hits)
    else:
        render.search_hits(console, query, hits)


@app.command()
def units(
    pairs: Annotated[list[str], typer.Argument(help="CODE=MINUTES pairs, e.g. 97110=33 97140=7")],
    method: Annotated[str, typer.Option(help="cms (total timed minutes) or per-code")] = "cms",
    as_json: JsonOption = False,
) -> None:
    """Units per code for the given minutes, with the reasoning."""
    from rehabclaim.services import catalog

    services = call(catalog.parse_pairs, pairs)
    plan = call(catalog.units, reference_for(None), services=services, method=method)
    if as_json:
        print_json(plan)
    else:
        render.unit_plan(console, plan)


def _read_visits(path: Path, reference: Reference) -> list[Visit]:
    """All visits of a .json (one visit) or .jsonl (one per line) file, or of standard input (``-``, either
    form); any problem, an unknown code or modifier included, is a BadInput (with the line, in JSON Lines),
    so a command stops before it scrubs, posts or writes anything."""
    from rehabclaim.services.scrub import read_visits

    data = _read_input(path)
    if str(path) == "-":
        return read_visits(data, reference=reference, source="standard input")
    return read_visits(data, reference=reference, json_lines=path.suffix == ".jsonl", source=str(path))


def _read_input(path: Path) -> bytes:
    """The bytes of ``path`` (``-``: standard input); of a one-visit file no more than a visit may hold."""
    from rehabclaim.model import MAX_VISIT_BYTES
    from rehabclaim.services.errors import BadInput

    try:
        if str(path) == "-":
            return sys.stdin.buffer.read()
        if path.suffix == ".jsonl":
            return path.read_bytes()
        with path.open("rb") as source:
            return source.read(MAX_VISIT_BYTES + 1)  # enough for decode_visit to refuse a bigger one
    except OSError as exc:
        raise BadInput("", f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None


def _visits_or_fail(path: Path, reference: Reference) -> list[Visit]:
    """The visits of ``path`` checked against ``reference``'s catalog; exit 2 on bad input."""
    return call(_read_visits, path, reference)


def _scrub_and_print(
    visits: list[Visit],
    as_json: bool,
    reference: Reference,
    ledger: Any = None,
    post: bool = False,
    trace: bool = False,
) -> None:
    """Scrub every visit (with the patient's ledger history when ``ledger`` is given) and print each result
    as soon as it is ready (the visits were checked for unreadable input when read, so a bad visit stopped
    the command before anything was posted). With ``post`` each visit is posted right after its scrub, so a
    later visit of the same patient sees the earlier one, and its result is printed before the next visit:
    none is posted and left unprinted."""
    from rehabclaim.ledger import LedgerHistory
    from rehabclaim.scrubber import encode_result
    from rehabclaim.services.actor import terminal_actor
    from rehabclaim.services.errors import Refusal
    from rehabclaim.services.scrub import scrub_visit
    from rehabclaim.services.visits import post_scrubbed

    history = None if ledger is None else LedgerHistory(ledger)
    actor = terminal_actor()

    def posted(visit: Visit, result: ScrubResult) -> str | None:
        """Post one visit atomically; the refusal, if any (a database error is this visit's refusal too)."""
        try:
            return post_scrubbed(ledger, reference=reference, visit=visit, result=result, actor=actor).reason
        except Refusal as exc:
            return str(exc)

    refused: list[str] = []
    has_error = False
    progress, advance = _scrub_progress(len(visits), as_json)
    with progress:
        for visit in visits:
            result = call(scrub_visit, reference, visit=visit, history=history, trace=trace)  # complete results
            has_error = has_error or result.has_error
            refusal = posted(visit, result) if post else None
            if refusal:
                refused.append(refusal)
            if as_json:
                sys.stdout.buffer.write(encode_result(result) + b"\n")
            else:
                render.scrub_result(console, result)
                if trace:
                    _print_trace(result)
                if post:
                    console.print(_post_note(refusal), highlight=False)
            if post:
                sys.stdout.flush()
            advance()
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


@app.command()
def scrub(
    path: Annotated[Path, typer.Argument(help="visit.json (one visit), visits.jsonl (one per line) or -")],
    as_json: JsonOption = False,
    practice: PracticeOption = None,
    use_ledger: Annotated[bool, typer.Option("--ledger", help="Read the patient's history from the ledger.")] = False,
    post: Annotated[bool, typer.Option("--post", help="Record each visit without errors in the ledger.")] = False,
    database_url: DatabaseOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="837P input: write the corrected 837P (claims without errors) here.")
    ] = None,
    trace: Annotated[
        bool, typer.Option("--trace", help="Add to each line the steps it came from, each citing its data row.")
    ] = False,
) -> None:
    """Scrub visits into claim lines with units, modifiers, findings and the expected payment. An 837P
    (.837/.x12/.edi, or text starting with ISA) is read claim by claim, scrubbed and, with --out, written
    back corrected."""
    reference = reference_for(practice)
    if _is_837(path):
        if trace:
            raise fail("--trace: traces are for visits (JSON), not an 837P")
        _scrub_837(path, reference, as_json, out, database_url)
        return
    visits = _visits_or_fail(path, reference)
    ledger = open_ledger(database_url) if use_ledger or post else None
    _scrub_and_print(visits, as_json, reference, ledger, post, trace)


def _print_trace(result: ScrubResult) -> None:
    """Each line's trace steps under the result (``scrub --trace`` without --json); a code split for the
    assistant's units shares one trace, printed once."""
    from rehabclaim.trace import trace_text

    for line in {line.code: line for line in result.lines}.values():
        for text in trace_text(line):
            console.print(escape(text), highlight=False, soft_wrap=True)


def _is_837(path: Path) -> bool:
    from rehabclaim.x12.read837 import looks_like_x12

    if str(path) == "-" or not path.is_file():
        return False
    with path.open("rb") as source:
        return looks_like_x12(path.name, source.read(16))


def _scrub_837(path: Path, reference: Reference, as_json: bool, out: Path | None, database_url: str | None) -> None:
    """Scrub an incoming 837P (services.incoming); exit 1 when a claim is held back, 2 for an unreadable file."""
    from rehabclaim.atomic import same_file
    from rehabclaim.services.incoming import scrub_837

    if out is not None and same_file(path, out):
        raise fail(f"--out {out}: this is the input file {path}; writing would replace it")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    database = open_ledger(database_url) if out is not None else None
    report = call(scrub_837, reference, data=data, out=out, database=database)
    if as_json:
        print_json(report)
    else:
        for verdict in report.claims:
            state = "[red]held back[/red]" if verdict.held_back else "[green]clean[/green]"
            console.print(f"claim {escape(verdict.id)}: {state}", highlight=False)
            for reason in verdict.reasons:
                console.print(f"  {escape(reason)}", highlight=False)
            for note in verdict.not_carried:
                console.print(f"  not written again: {escape(note)}", highlight=False)
        if report.not_checked:
            console.print("not checked without minutes: " + ", ".join(n.rule for n in report.not_checked))
        if report.out:
            console.print(f"{report.written} claim(s) written to {escape(report.out)}", highlight=False)
    if report.has_error:
        raise typer.Exit(EXIT_ERROR_FINDING)


@app.command()
def demo(as_json: JsonOption = False, practice: PracticeOption = None) -> None:
    """Scrub the bundled example visits (no setup needed)."""
    reference = reference_for(practice)
    example = resources.files("rehabclaim.data").joinpath("examples/visits.jsonl")
    with resources.as_file(example) as path:
        visits = _visits_or_fail(path, reference)
    _scrub_and_print(visits, as_json, reference)


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
        raise fail(f"{path}: no such file")
    if same_file(path, out):
        raise fail(f"--out: {out} is the input file; writing there would destroy it (choose another path)")
    reference = reference_for(practice)  # a bad practice, payer or CMS file fails here, before any worker starts
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
            summary = run_batch(
                path, out, workers, strict, lambda done: progress.advance(task, done), reference=reference
            )
    except InputError as exc:
        raise fail(f"{exc} (--strict: nothing written)") from None
    except OSError as exc:
        raise fail(f"{exc.filename or out}: {exc.strerror or exc} (nothing written)") from None
    except WorkerDied as exc:
        raise fail(f"{exc} (killed, or out of memory?); nothing written") from None
    if as_json:
        print_json(summary.as_dict())
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
    from rehabclaim.services.rules import list_rules

    if markdown:
        sys.stdout.write(render_rules_markdown())
    elif as_json:
        print_json(list_rules())
    else:
        render.rule_list(console, list_rules())


@app.command()
def payers(as_json: JsonOption = False) -> None:
    """List the configured payers and their main policies."""
    from rehabclaim.services.payers import list_payers

    summaries = call(list_payers, reference_for(None))
    if as_json:
        print_json(summaries)
    else:
        render.payer_list(console, summaries)


@app.command()
def payer(key: str, as_json: JsonOption = False) -> None:
    """Show one payer's whole policy."""
    from rehabclaim.services import payers as payer_service

    policy = call(payer_service.payer, reference_for(None), key=key)
    if as_json:
        print_json(policy)
    else:
        render.payer_policy(console, policy)


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
    from rehabclaim.services import fees

    result = call(fees.fee, reference_for(practice), code=code, day=on, year=year, locality=locality, units=units)
    if as_json:
        print_json(result)
    else:
        render.fee(console, result)


@app.command()
def claim(
    path: Annotated[Path | None, typer.Argument(help="visits.jsonl (or one visit .json) with claim data")] = None,
    x837: Annotated[
        Path | None, typer.Option("--837", help="Where the 837P interchange (with --from: the corrected 837P) goes.")
    ] = None,
    cms1500_out: Annotated[Path | None, typer.Option("--cms1500", help="Also write CMS-1500 data (JSON).")] = None,
    fhir_out: Annotated[
        Path | None, typer.Option("--fhir", help="Also write the claims as a FHIR R4 Bundle of Claims (JSON).")
    ] = None,
    practice: PracticeOption = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    resend: Annotated[
        bool, typer.Option("--resend", help="Send visits already sent again, as original claims.")
    ] = False,
    from_837: Annotated[
        Path | None,
        typer.Option("--from", help="An incoming 837P to scrub, as `scrub claims.837` (--837: the corrected file)."),
    ] = None,
    secondary: Annotated[
        bool,
        typer.Option(
            "--secondary",
            help="Secondary claims: each visit's claim to its secondary payer, with the primary's posted 835.",
        ),
    ] = False,
) -> None:
    """Write one 837P interchange for the visits; visits with errors are held back and listed, visits
    already sent are listed and not sent again (unless --resend). With --from claims.837: scrub an incoming
    837P and write it back corrected, exactly as `scrub claims.837 --out` does. With --secondary: the claims
    go to each visit's secondary payer carrying the primary's posted 835; a visit with nothing to send on is
    held back with the reason (finding COB)."""
    _refuse_with_secondary(secondary, {"--from": from_837, "--cms1500": cms1500_out, "--fhir": fhir_out})
    if from_837 is not None:
        unused = {"PATH": path is not None, "--cms1500": cms1500_out is not None, "--fhir": fhir_out is not None}
        _claim_from_837(from_837, x837, {**unused, "--resend": resend}, practice, as_json, database_url)
        return
    if path is None:
        raise fail("PATH: the visits file is missing (or give --from claims.837)")
    if x837 is None:
        raise fail("--837: missing (where the 837P interchange goes)")
    _refuse_outputs_over_input(path, x837, cms1500_out, fhir_out)
    reference = reference_for(practice)
    streamed = as_json and fhir_out is None  # the FHIR bundle needs the claims' ids: that report stays whole
    with (
        _loaded_kept_aside(),
        _claim_visits(path, reference, as_json, keep=fhir_out is not None) as (visits, total),
        _report_spool(streamed) as spool,
    ):
        batch = _build_claim_batch(
            visits, total, reference, x837, cms1500_out, database_url, as_json, resend, secondary, spool
        )
        if spool is not None:  # --json streamed: the report's lists were spooled as the run went
            spool.write(batch.report, sys.stdout.buffer)
            _print_json_end()
    if fhir_out is not None and batch.report.claims:
        assert isinstance(visits, list)  # kept whole for the FHIR bundle (``_claim_visits``)
        _write_fhir_claims(fhir_out, reference, visits, [claim.id for claim in batch.report.claims], x837)
    if as_json and spool is None:
        print_json(batch.report)
    elif not as_json:
        render.claim_run(console, batch.report, x837)
    if batch.report.held_back:
        raise typer.Exit(EXIT_ERROR_FINDING)


@contextmanager
def _loaded_kept_aside() -> Iterator[None]:
    """The objects loaded so far (modules, the reference) out of the cyclic collector's sight while the run
    goes (``gc.freeze``): they live as long as the run, and each full collection would walk them all again
    (about 5% of a large run's time). Handed back after (``gc.unfreeze``: the command may run in a longer
    process, as in the tests); skipped when the process froze objects itself (a pre-fork server)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _claim_visits(path: Path, reference: Reference, as_json: bool, keep: bool) -> Iterator[tuple[Iterable[Visit], int]]:
    """The visits of a `claim` run and how many there are, for the progress bar (0: not counted, no bar).
    A .jsonl file is streamed, a line read as the claim before it is written (memory stays flat; a bad line
    stops the run there, before any control number is taken); all at once for ``keep`` (the FHIR bundle
    needs them after the run), one visit's file or standard input."""
    from rehabclaim.services.claims import stream_visits

    if keep or path.suffix != ".jsonl" or str(path) == "-":
        visits = _visits_or_fail(path, reference)
        yield visits, len(visits)
        return
    try:
        source = path.open("rb")
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    with source:
        shown = errors.is_terminal and not as_json
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 20), b"")) if shown else 0
        source.seek(0)
        yield stream_visits(source), total


@contextmanager
def _report_spool(streamed: bool) -> Iterator[ReportSpool | None]:
    """A spool for `claim --json`'s report (``ReportSpool``: the same bytes, never all in memory), closed
    after; None when the report is kept whole."""
    if not streamed:
        yield None
        return
    from rehabclaim.claims.run import ReportSpool

    spool = ReportSpool()
    try:
        yield spool
    finally:
        spool.close()


def _print_json_end() -> None:
    """The line end ``print_json`` writes after a JSON document, and the flush."""
    sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()


def _build_claim_batch(
    visits: Iterable[Visit],
    total: int,
    reference: Reference,
    x837: Path,
    cms1500_out: Path | None,
    database_url: str | None,
    as_json: bool,
    resend: bool,
    secondary: bool,
    spool: ReportSpool | None = None,
) -> Any:
    """The claim run of `claim` (its ClaimBatch); a refusal (a bad visit line included) exits with its line."""
    from rehabclaim.claims.build import ClaimBuildError
    from rehabclaim.services.actor import terminal_actor
    from rehabclaim.services.claims import ToFiles, build_claims
    from rehabclaim.services.errors import Refusal
    from rehabclaim.x12.core import X12WriteError

    ledger = open_ledger(database_url)
    progress, advance = _claim_progress(total, as_json)
    try:
        with progress:
            batch = build_claims(
                ledger,
                reference=reference,
                visits=visits,
                actor=terminal_actor(),
                resend=resend,
                destination=ToFiles(x837, cms1500_out),
                progress=advance,
                secondary=secondary,
                spool=spool,
            )
    except Refusal as exc:  # a ledger failure names the option that chose the ledger
        raise fail(f"--database-url: {exc.reason}" if exc.field == "database" else str(exc), exc.exit_code) from None
    except (X12WriteError, ClaimBuildError) as exc:
        raise fail(f"the 837P could not be built (a bug, please report; nothing written or recorded): {exc}") from None
    return batch


def _claim_from_837(
    source: Path, out: Path | None, given: dict[str, bool], practice: Path | None, as_json: bool, url: str | None
) -> None:
    """``claim --from claims.837 [--837 fixed.837]``: the same operation as ``scrub claims.837 [--out ...]``;
    what only a visits run takes (``given``: option -> whether given) is refused by name."""
    for option, used in given.items():
        if used:
            raise fail(f"{option}: not with --from (an incoming 837P is scrubbed and written back corrected)")
    if not _is_837(source):
        raise fail(f"--from {source}: not an 837P file (.837/.x12/.edi, or text starting with ISA)")
    _scrub_837(source, reference_for(practice), as_json, out, url)


def _refuse_with_secondary(secondary: bool, options: dict[str, Path | None]) -> None:
    """--secondary writes only the 837P (its CMS-1500 and FHIR forms would lack the primary's adjudication)."""
    given = [option for option, value in options.items() if value is not None]
    if secondary and given:
        raise fail(f"{given[0]}: not available with --secondary (it writes the 837P of secondary claims only)")


LARGE_CLAIM_RUN = 500  # visits from which `claim` shows a progress bar (on a terminal, without --json)


def _claim_progress(total: int, as_json: bool) -> tuple[Any, Any]:
    """A progress bar on stderr for a large run (see ``_count_progress``); no callback when the bar is not
    shown (advancing a hidden bar still costs microseconds a visit)."""
    shown = errors.is_terminal and not as_json and total >= LARGE_CLAIM_RUN
    progress, advance = _count_progress("claims", total, shown)
    return progress, advance if shown else None


def _refuse_outputs_over_input(path: Path, x837: Path, cms1500_out: Path | None, fhir_out: Path | None = None) -> None:
    """An output that is the input (or the other output) would silently replace it: exit 2 naming it."""
    from rehabclaim.atomic import same_file

    outputs = [("--837", x837), *([("--cms1500", cms1500_out)] if cms1500_out is not None else [])]
    for option, output in outputs:
        if str(path) != "-" and same_file(path, output):
            raise fail(f"{option} {output}: this is the input file {path}; writing would replace it")
    if cms1500_out is not None and same_file(x837, cms1500_out):
        raise fail(f"--cms1500 {cms1500_out}: this is the --837 file; one would replace the other")
    if fhir_out is not None:
        _refuse_fhir_over(path, outputs, fhir_out)


def _refuse_fhir_over(path: Path, outputs: list[tuple[str, Path]], fhir_out: Path) -> None:
    from rehabclaim.atomic import same_file

    for option, output in outputs:
        if same_file(fhir_out, output):
            raise fail(f"--fhir {fhir_out}: this is the {option} file; one would replace the other")
    if str(path) != "-" and same_file(path, fhir_out):
        raise fail(f"--fhir {fhir_out}: this is the input file {path}; writing would replace it")


def _write_fhir_claims(out: Path, reference: Reference, visits: list[Visit], written: list[str], x837: Path) -> None:
    """The written claims as one FHIR Bundle of Claims, whole or not at all, owner-only (patient data)."""
    from rehabclaim.atomic import write_atomic
    from rehabclaim.services.fhir import written_claims_bundle

    data = call(written_claims_bundle, reference, visits=visits, written=written)
    try:
        write_atomic(out, data, private=True)
    except OSError as exc:
        sent = f"the 837P {x837} was written and recorded as sent"
        raise fail(f"--fhir {out}: cannot write ({exc.strerror}); {sent}") from None


def _read_835(path: Path) -> tuple[bytes, Any]:
    """The file's bytes and its remittance; a file that cannot be read or is not a sound 835 exits 2 with one
    line naming the file and the segment."""
    from rehabclaim.services.errors import BadInput
    from rehabclaim.services.remittances import read_remittance

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    try:
        return data, read_remittance(data=data)
    except BadInput as exc:
        raise fail(f"{path}: {exc}") from None


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

    from rehabclaim.services.actor import terminal_actor
    from rehabclaim.services.errors import Refusal
    from rehabclaim.services.remittances import post_remittance

    shown = errors.is_terminal and not as_json  # progress on stderr for people only, never into --json or pipes
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=errors, disable=not shown)
    outcome, refused = None, None
    with progress:
        reading = progress.add_task(f"reading {path.name}", total=None)
        data, remittance = _read_835(path)
        progress.update(reading, total=len(remittance.claims), completed=len(remittance.claims))
        if post:
            ledger = open_ledger(database_url)
            posting = progress.add_task("posting", total=len(remittance.claims))
            try:
                outcome = post_remittance(
                    ledger,
                    data=data,
                    actor=terminal_actor(),
                    remittance=remittance,
                    progress=lambda done: progress.advance(posting, done),
                )
            except Refusal as exc:  # the file is shown all the same, with why it was not posted
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
    payer: Annotated[str | None, typer.Option(help="Only this payer's (part of its name, any case).")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this CARC, e.g. 50 or CO-50.")] = None,
    since: Annotated[str | None, typer.Option(help="Dates of service from YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Dates of service through YYYY-MM-DD.")] = None,
    status: Annotated[
        str | None, typer.Option(help="A claim status (CLP02, e.g. 4 denied) or a kind: denial, patient, ...")
    ] = None,
) -> None:
    """Denied and partly paid lines by reason and payer, with the next step for each. The table shows the
    totals by reason and the first items (--all: every item); --json always holds everything."""
    from datetime import date

    import msgspec as ms

    from rehabclaim.errors import quote
    from rehabclaim.services.denials import worklist, worklist_from_remittance

    days: dict[str, date | None] = {}
    for option, text in (("--since", since), ("--until", until)):
        try:
            days[option] = date.fromisoformat(text) if text is not None else None
        except ValueError:
            raise fail(f"{option}: expected YYYY-MM-DD, got {quote(text)}") from None
    first, last = days["--since"], days["--until"]
    reference = reference_for(None)
    if path:
        remittance = _read_835(path)[1]
        listed = call(
            worklist_from_remittance,
            reference,
            remittance=remittance,
            payer=payer,
            reason=reason,
            since=first,
            until=last,
            status=status,
        )
    else:
        ledger = open_ledger(database_url)
        listed = call(
            worklist, ledger, reference=reference, payer=payer, reason=reason, since=first, until=last, status=status
        )
    if as_json:
        sys.stdout.buffer.write(ms.json.Encoder(decimal_format="number").encode(listed.items) + b"\n")
    else:
        render.worklist(console, listed.items, None if show_all else render.SUMMARY_ROWS)


@ledger_app.command("show")
def ledger_show(
    patient: str,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
    on: Annotated[
        str | None,
        typer.Option("--date", help="Date of service the standing is for, YYYY-MM-DD (default: the latest visit's)."),
    ] = None,
) -> None:
    """Show what the ledger holds for PATIENT: visits, allowed amounts, encounters, plans, authorizations, and
    where the patient stands on a date of service (KX, plan of care, progress report, authorization use)."""
    from rehabclaim.services.patients import patient_state

    reference = reference_for(None)
    state = call(patient_state, open_ledger(database_url), reference=reference, patient_id=patient, day=on)
    if as_json:
        print_json(state)
    else:
        render.ledger_state(console, state)


if __name__ == "__main__":  # pragma: no cover
    app()
