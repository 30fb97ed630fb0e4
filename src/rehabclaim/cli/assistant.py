"""The coding assistant's commands (``rehabclaim.services.assistant``; ``--json`` prints the bytes the API
returns; exit 2 for input that cannot be read):

- ``rehabclaim ask QUESTION``: an answer from our own documentation, ranked, with the engine's result for a
  concrete case (``POST /v1/ask``);
- ``rehabclaim suggest NOTE --discipline PT``: a therapist's note (text, or ``-`` for standard input) in,
  proposed services, questions for the biller and the scrub of the proposal out (``POST /v1/suggest``).
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rehabclaim.cli import render
from rehabclaim.cli.common import JsonOption, PracticeOption, call, console, fail, print_json, reference_for
from rehabclaim.services import assistant as assistant_service
from rehabclaim.services.assistant import MAX_NOTE_CHARS, Suggestion

# --- ask (restored after an overwrite; the ask engineer owns this section) ----------------------------


def ask(
    question: Annotated[str, typer.Argument(help="A coding question, e.g. 'can I bill 97760 with an L-code?'")],
    limit: Annotated[int, typer.Option("--limit", help="How many sources to show.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Answer a coding question from our own documentation, citing rule ids and sources."""
    answer = call(assistant_service.ask, reference_for(None), question=question, limit=limit)
    if as_json:
        print_json(answer)
        return
    console.print(escape(answer.answer), soft_wrap=True)
    if answer.computed is not None:
        for reason in answer.computed.reasons:
            console.print(f"  - {escape(reason)}", soft_wrap=True)
    if answer.hits:
        console.print("Sources (best first):")
    for number, hit in enumerate(answer.hits, start=1):
        console.print(f"{number}. {escape(hit.id)}: {escape(hit.title)}", soft_wrap=True)
        console.print(f"   {escape(hit.snippet)}", soft_wrap=True)
        console.print(f"   full text: {escape(hit.link)}", soft_wrap=True)


# --- suggest --------------------------------------------------------------------------------------------


def _note(text: str) -> str:
    if text != "-":
        return text
    raw = sys.stdin.buffer.read(MAX_NOTE_CHARS * 4 + 1)  # enough for the service to refuse a longer note
    return raw.decode("utf-8", errors="replace")


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail("--date: expected YYYY-MM-DD") from None


def suggest(
    note: Annotated[str, typer.Argument(help="The note's text, or - to read it from standard input.")],
    discipline: Annotated[str, typer.Option("--discipline", help="PT, OT or SLP.")],
    payer: Annotated[str | None, typer.Option("--payer", help="Payer profile (default: the default profile).")] = None,
    visit_date: Annotated[
        str | None, typer.Option("--date", help="Date of service YYYY-MM-DD; default: the date in the note.")
    ] = None,
    as_json: JsonOption = False,
    practice: PracticeOption = None,
) -> None:
    """Propose the billable services a therapist's note documents, ask what it leaves open, and scrub them."""
    day = _day(visit_date)
    text = _note(note)
    reference = reference_for(practice)
    result = call(assistant_service.suggest, reference, note=text, discipline=discipline.upper(), payer=payer, date=day)
    if as_json:
        print_json(result)
    else:
        _render(result)


def _render(result: Suggestion) -> None:
    table = Table(title="Proposed services")
    for column in ("code", "minutes", "phrase", "confidence", "why"):
        table.add_column(column)
    for service in result.services:
        minutes = "" if service.minutes is None else str(service.minutes)
        table.add_row(service.code, minutes, escape(service.phrase), f"{service.confidence:.2f}", escape(service.why))
    console.print(table if result.services else "[yellow]no billable service found[/yellow]")
    for question in result.questions:
        console.print(f"[yellow]?[/yellow] {escape(question.question)}", soft_wrap=True)
    if result.scrub is not None:
        render.scrub_result(console, result.scrub)
