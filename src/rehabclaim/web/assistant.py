"""The coding assistant on the web page: the visit entry page's "From the note" box, which fills the visit form
from a therapist's note (``services.assistant.suggest``), and the question page ``/ask``
(``services.assistant.ask``).

The note box posts the whole visit form (the textarea and the button belong to it by ``form="visit-form"``) to
``POST /visits/suggest``, which renders the visit page again: the service rows replaced by the suggested codes
and minutes, the date of service filled from the note when the form had none, the note with each service's
phrase marked, the assistant's questions, and the scrub of the filled form (the live scrub's, with the ledger
history). Without JavaScript that page is the answer; htmx takes the suggestion, the form and the scrub result
out of the same page (``hx-select``, ``hx-select-oob``), so there is one way to render it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Annotated

from fastapi import Query, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from rehabclaim.assistant.ask import MAX_QUESTION_CHARS, Hit
from rehabclaim.errors import quote
from rehabclaim.services import assistant
from rehabclaim.services.assistant import Answer, Suggestion
from rehabclaim.services.errors import BadInput, Refusal
from rehabclaim.web.core import DatabaseDep, FormDep, ReferenceDep, UserDep, is_htmx, page_router, render
from rehabclaim.web.pages import FormProblem, ServiceRow, VisitForm, _scrub_entry, _visit_page

router = page_router()

NOTE_FIELD = "note"
NOTE_INPUT_ID = "visit-note"
CLI_DATE_HINT = " (pass --date)"  # the service's question names the CLI's option; the page has a field instead
ASK_LIMIT = 8
MAX_ASK_QUERY = 10 * MAX_QUESTION_CHARS  # longer is refused by the query parser; the service names the limit
HIT_KINDS = {"rule": "Rule", "code": "Code", "payer": "Payer policy", "note": "Reference note"}


# --- the note box on the visit entry page ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of the note as shown: ``service`` the position of the suggested service it is the phrase of,
    ``question`` true when a question is about it; plain text otherwise."""

    text: str
    service: int | None = None
    question: bool = False


@dataclass(frozen=True, slots=True)
class NoteBox:
    """What the note box shows: the note as typed, and the suggestion or the problem that stopped it."""

    note: str = ""
    suggestion: Suggestion | None = None
    problem: FormProblem | None = None
    segments: list[Segment] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


@router.post("/visits/suggest", response_class=HTMLResponse)
def suggest_from_note(
    request: Request, _user: UserDep, reference: ReferenceDep, database: DatabaseDep, form: FormDep
) -> HTMLResponse:
    """The "Suggest codes" button: the visit page with the form filled from the note and scrubbed."""
    entry = VisitForm.read(form)
    note = _raw(form, NOTE_FIELD)
    try:
        suggestion = assistant.suggest(
            reference, note=note, discipline=entry.discipline, payer=entry.payer or None, date=_service_date(entry)
        )
    except Refusal as exc:
        box = NoteBox(note, problem=_note_problem(entry, exc))
        outcome = _scrub_entry(entry, reference, database)
        return _visit_page(request, reference, entry, outcome, status=exc.http_status, extra=_context(box))
    filled = _filled(entry, suggestion)
    box = NoteBox(note, suggestion, segments=_segments(note, suggestion), questions=_questions(suggestion))
    outcome = _scrub_entry(filled, reference, database)
    return _visit_page(request, reference, filled, outcome, extra=_context(box))


def _context(box: NoteBox) -> dict[str, object]:
    # ``htmx`` false: the whole page is rendered (htmx picks its parts), so no partial's out-of-band copy in it
    return {"note_box": box, "htmx": False}


def _raw(form: FormData, name: str) -> str:
    """The note exactly as typed: the suggestion's offsets count from its first character."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _service_date(entry: VisitForm) -> date | None:
    """The form's date of service; None when it is empty (the note's date is used then, never today's)."""
    if not entry.date:
        return None
    try:
        return date.fromisoformat(entry.date)
    except ValueError:
        raise BadInput("date", f"a date (YYYY-MM-DD) expected, not {quote(entry.date)}") from None


def _note_problem(entry: VisitForm, refusal: Refusal) -> FormProblem:
    if refusal.field == NOTE_FIELD:
        return FormProblem("note", refusal.reason, NOTE_INPUT_ID)
    if not refusal.field:
        return FormProblem("note", refusal.reason, None)
    return FormProblem(entry.field_label(refusal.field), refusal.reason, entry.field_id(refusal.field))


def _filled(entry: VisitForm, suggestion: Suggestion) -> VisitForm:
    """The form with its service rows replaced by the suggested services (kept when none was found) and the
    note's date of service when the form had none."""
    rows = [ServiceRow(s.code, "" if s.minutes is None else str(s.minutes)) for s in suggestion.services]
    day = entry.date or (suggestion.date.isoformat() if suggestion.date else "")
    return replace(entry, rows=rows or entry.rows, date=day)


def _questions(suggestion: Suggestion) -> list[str]:
    return [question.question.removesuffix(CLI_DATE_HINT) for question in suggestion.questions]


def _segments(note: str, suggestion: Suggestion) -> list[Segment]:
    """The note cut at the phrases the services came from (and the phrases asked about), in order; a phrase
    overlapping one before it is left unmarked."""
    marks: list[tuple[int, int, int | None, bool]] = [
        (s.start, s.end, index, False) for index, s in enumerate(suggestion.services)
    ]
    marks += [(q.start, q.end, None, True) for q in suggestion.questions if q.start < q.end]
    segments: list[Segment] = []
    at = 0
    for start, end, service, asked in sorted(marks, key=lambda mark: (mark[0], mark[1])):
        if start < at or not 0 <= start < end <= len(note):
            continue
        if start > at:
            segments.append(Segment(note[at:start]))
        segments.append(Segment(note[start:end], service, asked))
        at = end
    if at < len(note):
        segments.append(Segment(note[at:]))
    return segments


# --- the question page ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Citation:
    """One ranked source as the page shows it: ``href`` the page with its full text, None when there is none."""

    rank: int
    kind: str
    label: str
    id: str
    title: str
    snippet: str
    source: str
    href: str | None


@router.get("/ask", response_class=HTMLResponse)
def ask_page(
    request: Request, _user: UserDep, reference: ReferenceDep, q: Annotated[str, Query(max_length=MAX_ASK_QUERY)] = ""
) -> HTMLResponse:
    question = q.strip()
    answer: Answer | None = None
    problem: FormProblem | None = None
    status = 200
    if question:
        try:
            answer = assistant.ask(reference, question=question, limit=ASK_LIMIT)
        except BadInput as exc:
            problem, status = FormProblem(exc.field, exc.reason, "ask-question"), exc.http_status
    citations = [_citation(rank, hit) for rank, hit in enumerate(answer.hits, 1)] if answer else []
    context = {"q": question, "answer": answer, "citations": citations, "problem": problem}
    template = "_ask_answer.html" if is_htmx(request) else "ask.html"
    return render(request, template, context, status_code=status)


def _citation(rank: int, hit: Hit) -> Citation:
    href = {"rule": f"/rules/{hit.id}", "code": f"/codes/{hit.id}"}.get(hit.kind)
    title = hit.id if hit.kind == "note" else hit.title  # a note's id names its file and section
    return Citation(rank, hit.kind, HIT_KINDS.get(hit.kind, hit.kind), hit.id, title, hit.snippet, hit.source, href)
