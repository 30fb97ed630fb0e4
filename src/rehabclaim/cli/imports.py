"""``rehabclaim import``: bring outside data into visits.

- ``import xr SESSIONS --visits VISITS``: attach XR sessions to their visits as 0770T evidence.
- ``import fhir BUNDLE``: visits from an EMR's FHIR R4 bundle (added beside ``xr`` below).

Exit status as everywhere: 0 done, 1 something was left undone and listed (a session attached nowhere),
2 input that cannot be read (one line naming the file, the line and the field; nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from rehabclaim.cli.common import (
    EXIT_ERROR_FINDING,
    JsonOption,
    PracticeOption,
    console,
    errors,
    fail,
    print_json,
    reference_for,
)

if TYPE_CHECKING:
    from rehabclaim.model import Visit
    from rehabclaim.reference import Reference
    from rehabclaim.xr.matching import XrImport

import_app = typer.Typer(no_args_is_help=True, help="Bring outside data in: XR sessions (and EMR bundles).")

MAX_IMPORT_BYTES = 256 * 1024 * 1024  # a sessions or visits file; bigger is refused before it is read


# ---- import xr -------------------------------------------------------------------------------------------


@import_app.command("xr")
def import_xr(
    sessions: Annotated[Path, typer.Argument(help="XR sessions: .json (one session or a list) or .jsonl")],
    visits: Annotated[Path, typer.Option("--visits", help="The visits: .jsonl (one per line) or .json (one).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where the enriched visits go (JSON Lines); default: stdout.")
    ] = None,
    as_json: JsonOption = False,
    practice: PracticeOption = None,
) -> None:
    """Attach XR sessions to their visits as 0770T evidence.

    Each session goes to the visit with the same patient id, the same date and an overlapping time, into
    documentation.xr.sessions; every visit is written, enriched, as JSON Lines. A session that fits no
    visit, or two, is listed with its reason (exit 1); importing a session twice attaches it once."""
    from rehabclaim.services.errors import BadInput
    from rehabclaim.services.imports import attach_xr_sessions

    _refuse_out_over_inputs(out, sessions, visits)
    reference = reference_for(practice)
    read_visits = _visits(visits, reference)
    try:
        result = attach_xr_sessions(
            reference, sessions_data=_read(sessions), visits=read_visits, json_lines=_json_lines(sessions)
        )
    except BadInput as exc:
        raise fail(f"{sessions}: {exc}") from None
    if out is not None or not as_json:  # --json alone: the visits are in the printed result
        _write_visits(result.visits, out)
    if as_json:
        print_json(result)
    else:
        _print_summary(console if out is not None else errors, result, out)
    if result.has_problem:
        raise typer.Exit(EXIT_ERROR_FINDING)


def _refuse_out_over_inputs(out: Path | None, *inputs: Path) -> None:
    from rehabclaim.atomic import same_file

    for source in inputs:
        if out is not None and same_file(source, out):
            raise fail(f"--out {out}: this is the input file {source}; writing would replace it")


def _json_lines(path: Path) -> bool | None:
    """JSON Lines by the name (.jsonl), one JSON document by .json; otherwise told apart by the content."""
    from rehabclaim.services.imports import json_lines_by_name

    return json_lines_by_name(path.name)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as source:
            data = source.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise fail(f"{path}: more than {MAX_IMPORT_BYTES:,} bytes; split it")
    return data


def _visits(path: Path, reference: Reference) -> list[Visit]:
    """The visits of ``path`` checked against the catalog; exit 2 naming the file, line and field."""
    from rehabclaim.services.errors import BadInput
    from rehabclaim.services.scrub import read_visits

    try:
        return read_visits(_read(path), reference=reference, json_lines=_json_lines(path), source=str(path))
    except BadInput as exc:
        raise fail(f"--visits {path}: {exc}") from None


def _write_visits(visits: list[Visit], out: Path | None) -> None:
    """Every visit as one JSON line, absent fields left out: to ``out`` whole or not at all (owner-only: it
    holds patient data), or to stdout."""
    import sys

    from rehabclaim.atomic import write_atomic
    from rehabclaim.services.imports import visits_json_lines

    data = visits_json_lines(visits)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        write_atomic(out, data, private=True)
    except OSError as exc:
        raise fail(f"--out {out}: {exc.strerror or exc.__class__.__name__} (nothing written)") from None


def _print_summary(where: Console, result: XrImport, out: Path | None) -> None:
    target = str(out) if out is not None else "standard output"
    added = sum(not attachment.already_attached for attachment in result.attached)
    where.print(
        f"{added} session(s) attached, {len(result.attached) - added} already attached; "
        f"{len(result.visits)} visit(s) written to {escape(target)}",
        highlight=False,
        soft_wrap=True,
    )
    for attachment in result.attached:
        how = ", ".join(attachment.overlapping) or "patient and date only"
        state = "already attached" if attachment.already_attached else "attached"
        notes = "".join(f"; {note}" for note in attachment.notes)
        where.print(
            escape(f"  {state}: session {attachment.session_id} -> visit {attachment.visit_id} ({how}){notes}"),
            highlight=False,
            soft_wrap=True,
        )
    for problem in (*result.unmatched, *result.ambiguous):
        label = "ambiguous" if problem.reason == "two-or-more-visits" else "not attached"
        where.print(f"  [red]{label}:[/red] {escape(problem.message)}", highlight=False, soft_wrap=True)


# ---- import fhir -----------------------------------------------------------------------------------------
# `rehabclaim import fhir BUNDLE.json` (visits from an EMR's FHIR R4 bundle) is registered here, on
# import_app, as @import_app.command("fhir").


@import_app.command("fhir")
def import_fhir(
    bundle: Annotated[Path, typer.Argument(help="A FHIR R4 Bundle (JSON) exported by an EMR")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where the visits go (JSON Lines); default: stdout.")
    ] = None,
    as_json: JsonOption = False,
    practice: PracticeOption = None,
) -> None:
    """Visits from an EMR's FHIR R4 Bundle: one per ambulatory Encounter, its completed Procedures as
    services, its Conditions as diagnoses, its Coverage as the payer (mapping table in the README).

    What cannot be mapped is listed with the resource, the path and the reason, never guessed (exit 1); a
    Bundle that is not valid R4 exits 2 naming the resource and the path, with nothing written."""
    from rehabclaim.services.errors import Refusal
    from rehabclaim.services.fhir import import_bundle

    _refuse_out_over_inputs(out, bundle)
    reference = reference_for(practice)
    try:
        result = import_bundle(reference, data=_read(bundle))
    except Refusal as exc:
        raise fail(f"{bundle}: {exc}", exc.exit_code) from None
    if out is not None or not as_json:  # --json alone: the visits are in the printed result
        _write_visits(result.visits, out)
    if as_json:
        print_json(result)
    else:
        _print_fhir_summary(console if out is not None else errors, result, out)
    if result.unmapped:
        raise typer.Exit(EXIT_ERROR_FINDING)


def _print_fhir_summary(where: Console, result: Any, out: Path | None) -> None:
    target = str(out) if out is not None else "standard output"
    where.print(
        f"{len(result.visits)} visit(s) written to {escape(target)}; {len(result.unmapped)} item(s) not mapped",
        highlight=False,
        soft_wrap=True,
    )
    for item in result.unmapped:
        name = f"{item.resource_type}/{item.resource_id or '?'}"
        visit = f" (visit {item.visit})" if item.visit else ""
        where.print(
            f"  [red]not mapped:[/red] {escape(f'{name} {item.path}{visit}: {item.reason}')}",
            highlight=False,
            soft_wrap=True,
        )
    for overlap in result.overlaps:
        where.print(f"  [yellow]overlap:[/yellow] {escape(overlap.message)}", highlight=False, soft_wrap=True)
