"""The coding assistant: ``suggest`` reads a therapist's note into proposed services (code, minutes, the
phrase they came from, a confidence, why), asks what it could not decide, and scrubs the proposal as a
visit (units, modifiers, findings, expected payment) with the Scrubber."""

from __future__ import annotations

from datetime import date

import msgspec

from rehabclaim.assistant import CodeFacts, NoteReading, Proposal, load_phrase_table, read_note
from rehabclaim.assistant.ask import Answer, ask  # `ask`: the ask engineer's (re-exported for the adapters)
from rehabclaim.catalog import Catalog
from rehabclaim.datafiles import DataFileError
from rehabclaim.model import MAX_SERVICES, ScrubResult, Service, Visit
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, TooLarge
from rehabclaim.services.scrub import scrub_visit

MAX_NOTE_CHARS = 65_536  # a long daily note is a few thousand characters
DISCIPLINES = ("PT", "OT", "SLP")
SUGGESTED_VISIT_ID = "suggested"
DEFAULT_PAYER = "default"
DEVICE_TRAINING_CATEGORIES = ("orthotic_training", "prosthetic_training")  # codes.toml categories
__all__ = ["Answer", "Suggestion", "ask", "read", "suggest"]


class SuggestedService(msgspec.Struct):
    """One proposed service: ``minutes`` null for an untimed code (or when the note gives none);
    ``phrase`` is ``note[start:end]``."""

    code: str
    minutes: int | None
    phrase: str
    start: int
    end: int
    confidence: float
    why: str
    training_minutes: int | None = None  # 97760/97761 beside an orthosis L-code: the training minutes alone


class SuggestionQuestion(msgspec.Struct):
    """What the note left undecided, for the biller; ``start``/``end`` point at the phrase (0, 0: the note
    as a whole); ``codes`` the candidates."""

    question: str
    phrase: str
    start: int
    end: int
    codes: list[str]


class Suggestion(msgspec.Struct):
    """``rehabclaim suggest --json`` and ``POST /v1/suggest``; ``scrub`` is null when no visit could be
    scrubbed (no date, or no service), and a question says why."""

    services: list[SuggestedService]
    questions: list[SuggestionQuestion]
    scrub: ScrubResult | None
    discipline: str
    payer: str
    date: date | None


def _code_facts(catalog: Catalog) -> dict[str, CodeFacts]:
    return {
        code.code: CodeFacts(
            timed=code.timed,
            description=code.description,
            addon_of=code.addon_of,
            disciplines=code.disciplines,
            orthosis=code.is_orthosis,
            device_training=code.category in DEVICE_TRAINING_CATEGORIES and code.encounter == "initial",
        )
        for code in catalog.codes.values()
    }


def read(reference: Reference, *, note: str, discipline: str) -> NoteReading:
    """The note read for ``discipline`` (no payer, no scrub): what the benchmark measures."""
    _check(note, discipline)
    codes = _code_facts(reference.catalog)
    try:
        table = load_phrase_table(frozenset(codes))
    except DataFileError as exc:
        raise BadInput("assistant phrases", str(exc)) from None
    return read_note(
        note,
        discipline=discipline,
        table=table,
        codes=codes,
        device_training_over=reference.thresholds.orthotic_device_training_minutes_over,
    )


def _check(note: str, discipline: str) -> None:
    if discipline not in DISCIPLINES:
        raise BadInput("discipline", f"expected one of {', '.join(DISCIPLINES)}")
    if len(note) > MAX_NOTE_CHARS:
        raise TooLarge("note", f"{len(note):,} characters; at most {MAX_NOTE_CHARS:,}")
    if not note.strip():
        raise BadInput("note", "empty")


def suggest(
    reference: Reference, *, note: str, discipline: str, payer: str | None = None, date: date | None = None
) -> Suggestion:
    """Proposed services for ``note`` and their scrub as a visit of ``discipline`` billed to ``payer`` (the
    default profile when None) on ``date`` (else the date written in the note; never today's). BadInput for
    an unknown discipline or an empty note, TooLarge over MAX_NOTE_CHARS."""
    reading = read(reference, note=note, discipline=discipline)
    payer_key = reference.payer(payer or DEFAULT_PAYER).key
    services = [_service(reference, note, proposal, payer_key) for proposal in reading.proposals][:MAX_SERVICES]
    questions = [
        SuggestionQuestion(q.text, note[q.start : q.end], q.start, q.end, list(q.codes)) for q in reading.questions
    ]
    visit_date = date or reading.visit_date
    scrub = None
    if visit_date is None:
        questions.append(
            SuggestionQuestion("what is the date of service? The note gives none (pass --date)", "", 0, 0, [])
        )
    elif services:
        scrub = _scrub(reference, services, visit_date, payer or DEFAULT_PAYER, discipline)
    return Suggestion(services, questions, scrub, discipline, payer_key, visit_date)


def _service(reference: Reference, note: str, proposal: Proposal, payer_key: str) -> SuggestedService:
    code, why = proposal.code, proposal.why
    instead = reference.medicare.medicare_code_for(code) if reference.medicare.is_medicare(payer_key) else None
    if instead is not None:
        code, why = instead.code, f"{why}; billed to Medicare as {instead.code} ({instead.source})"
    found = reference.catalog.get(code)
    minutes = proposal.minutes if found is not None and found.timed else None
    return SuggestedService(
        code,
        minutes,
        note[proposal.start : proposal.end],
        proposal.start,
        proposal.end,
        proposal.confidence,
        why,
        proposal.training_minutes,
    )


def _scrub(
    reference: Reference, services: list[SuggestedService], visit_date: date, payer: str, discipline: str
) -> ScrubResult:
    visit = Visit(
        id=SUGGESTED_VISIT_ID,
        date=visit_date,
        payer=payer[:64],
        discipline=discipline,  # type: ignore[arg-type]  # checked against DISCIPLINES
        services=[Service(code=s.code, minutes=s.minutes, training_minutes=s.training_minutes) for s in services],
    )
    return scrub_visit(reference, visit=visit)
