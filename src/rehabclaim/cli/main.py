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


def _scrub_and_print(visits: list[Any], as_json: bool) -> None:
    from rehabclaim.engine import Engine, encode_result

    engine = Engine()
    try:
        results = [engine.scrub(visit) for visit in visits]
    except InputError as exc:
        raise _fail(str(exc)) from None
    for result in results:
        if as_json:
            sys.stdout.buffer.write(encode_result(result) + b"\n")
        else:
            render.scrub_result(console, result)
    sys.stdout.flush()
    if any(result.has_error for result in results):
        raise typer.Exit(EXIT_ERROR_FINDING)


@app.command()
def scrub(
    path: Annotated[Path, typer.Argument(help="visit.json (one visit), visits.jsonl (one per line) or -")],
    as_json: JsonOption = False,
) -> None:
    """Scrub visits into claim lines with units, modifiers and findings."""
    try:
        visits = _read_visits(path)
    except InputError as exc:
        raise _fail(str(exc)) from None
    _scrub_and_print(visits, as_json)


@app.command()
def demo(as_json: JsonOption = False) -> None:
    """Scrub the bundled example visits (no setup needed)."""
    example = resources.files("rehabclaim.data").joinpath("examples/visits.jsonl")
    with resources.as_file(example) as path:
        visits = _read_visits(path)
    _scrub_and_print(visits, as_json)


@app.command()
def batch(
    path: Annotated[Path, typer.Argument(help="visits.jsonl, one visit per line")],
    out: Annotated[Path, typer.Option("--out", help="Where results go, one per visit in input order.")],
    workers: Annotated[int, typer.Option(min=1, max=256, help="Processes scrubbing in parallel.")] = 1,
    strict: Annotated[bool, typer.Option(help="Stop at the first malformed line; write nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Scrub a large visits file, streamed, with a summary at the end."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from rehabclaim.batch import run_batch

    if not path.is_file():
        raise _fail(f"{path}: no such file")
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
            summary = run_batch(path, out, workers, strict, lambda done: progress.advance(task, done))
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


if __name__ == "__main__":  # pragma: no cover
    app()
