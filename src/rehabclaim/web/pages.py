"""The core pages: login and password change, home, visit entry with the live scrub, the 8-minute calculator,
code search, the rules' documentation and the patient page.

Each handler parses the form or query, calls one service with the application's Reference and ledger, and
renders a template; what the services refuse is shown on the page (``core.PageRoute``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated
from urllib.parse import quote as url_quote

import msgspec
from fastapi import Query, Request
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, Response

from rehabclaim.api.deps import SESSION_MUST_CHANGE
from rehabclaim.errors import quote
from rehabclaim.ledger.history import LedgerHistory
from rehabclaim.model import MAX_SERVICES, ScrubResult, Visit
from rehabclaim.reference import Reference
from rehabclaim.services import accounts, catalog, patients, rules, scrub, visits
from rehabclaim.services.errors import BadInput, Conflict, NotFound, Refusal, TooManyAttempts, Unauthenticated
from rehabclaim.units import METHODS
from rehabclaim.web.core import (
    ChangerDep,
    DatabaseDep,
    FormDep,
    ReferenceDep,
    UserDep,
    flash,
    form_text,
    form_texts,
    is_htmx,
    page_router,
    redirect,
    render,
    render_problem,
    safe_next,
    start_session,
)

public = page_router(public=True)  # the login page
router = page_router()
ROUTERS = (public, router)  # both installed (one router including the other would give it its sign-in check)

DRAFT_ID = "draft"  # the live scrub's visit id when the biller has not typed one yet
BLANK_ROWS = 3  # service rows on a new visit form
SEARCH_LIMIT = 25
_SEPARATORS = re.compile(r"[\s,;]+")
_DIGITS = re.compile("[0-9]{1,6}")
_ROW_FIELD = re.compile(r"services\[(\d+)\]\.([a-z_]+)")
DISCIPLINES = ("PT", "OT", "SLP")
METHOD_LABELS = {"cms": "CMS total-time method (Medicare)", "per-code": "Per-code method (some commercial payers)"}
VISIT_FIELD_IDS = {
    "id": "visit-id",
    "date": "visit-date",
    "payer": "visit-payer",
    "discipline": "visit-discipline",
    "diagnoses": "visit-diagnoses",
    "patient": "visit-patient",
}
BENEFIT_LABELS = {"PT_SLP": "PT and SLP (combined)", "OT": "OT"}


# --- login, logout, password ------------------------------------------------------------------------------


@public.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(next), "name": "", "error": None})


@public.post("/login", response_class=HTMLResponse)
def login(request: Request, database: DatabaseDep, form: FormDep) -> Response:
    name, password, next_url = form_text(form, "name"), _raw(form, "password"), safe_next(form_text(form, "next"))
    address = request.client.host if request.client else "unknown"
    try:
        actor = accounts.authenticate(database, name=name, password=password, address=address, channel="web")
        must_change = accounts.get_user(database, name=actor.user).must_change_password
    except (Unauthenticated, TooManyAttempts) as exc:
        status = exc.http_status
        return render(request, "login.html", {"next": next_url, "name": name, "error": exc.reason}, status_code=status)
    start_session(request, user=actor.user, role=actor.role, must_change_password=must_change)
    if must_change:
        return redirect(f"/password?next={url_quote(next_url, safe='/')}")
    return redirect(next_url)


@router.post("/logout")
def logout(request: Request, _user: UserDep) -> Response:
    request.session.clear()
    return redirect("/login")


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, user: UserDep, next: str | None = None) -> HTMLResponse:
    return _password_form(request, next_url=safe_next(next), error=None, status=200)


@router.post("/password", response_class=HTMLResponse)
def change_password(request: Request, user: UserDep, database: DatabaseDep, form: FormDep) -> Response:
    next_url = safe_next(form_text(form, "next"))
    new = _raw(form, "new_password")
    if new != _raw(form, "confirm_password"):
        return _password_form(request, next_url=next_url, error=("confirm_password", "the two new passwords differ"))
    try:
        accounts.change_password(
            database, name=user.name, old=_raw(form, "current_password"), new=new, actor=user.actor
        )
    except (BadInput, Unauthenticated) as exc:
        where = "current_password" if exc.field == "old" else "new_password"
        return _password_form(request, next_url=next_url, error=(where, exc.reason), status=exc.http_status)
    request.session.pop(SESSION_MUST_CHANGE, None)
    flash(request, "Your password was changed.")
    return redirect(next_url)


def _password_form(
    request: Request, *, next_url: str, error: tuple[str, str] | None, status: int = 422
) -> HTMLResponse:
    must_change = bool(request.session.get(SESSION_MUST_CHANGE))
    context = {"next": next_url, "error": error, "must_change": must_change}
    return render(request, "change_password.html", context, status_code=200 if error is None else status)


def _raw(form: FormData, name: str) -> str:
    """A field as typed (passwords keep their spaces)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- home -------------------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, _user: UserDep) -> HTMLResponse:
    return render(request, "index.html")


# --- visit entry ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ServiceRow:
    """One service row of the form, as typed."""

    code: str = ""
    minutes: str = ""
    assistant_minutes: str = ""
    modifiers: str = ""

    @property
    def blank(self) -> bool:
        return not (self.code or self.minutes or self.assistant_minutes or self.modifiers)


@dataclass(slots=True)
class VisitForm:
    """The visit entry form, as typed; ``visit_json`` turns it into the visit contract's JSON."""

    id: str = ""
    date: str = ""
    payer: str = "medicare"
    discipline: str = "PT"
    diagnoses: str = ""
    patient: str = ""
    rows: list[ServiceRow] = field(default_factory=list)

    @classmethod
    def read(cls, form: FormData) -> VisitForm:
        columns = [form_texts(form, name) for name in ("code", "minutes", "assistant_minutes", "modifiers")]
        count = min(max(map(len, columns)), MAX_SERVICES + 1)  # one over the limit: the visit says it is too many
        rows = [ServiceRow(*(column[i] if i < len(column) else "" for column in columns)) for i in range(count)]
        return cls(
            id=form_text(form, "id"),
            date=form_text(form, "date"),
            payer=form_text(form, "payer"),
            discipline=form_text(form, "discipline"),
            diagnoses=form_text(form, "diagnoses"),
            patient=form_text(form, "patient"),
            rows=rows,
        )

    def filled_rows(self) -> list[int]:
        """The positions of the rows that hold anything (blank rows are left out of the visit)."""
        return [index for index, row in enumerate(self.rows) if not row.blank]

    def visit_json(self, *, visit_id: str) -> bytes:
        """The visit as the contract's JSON; BadInput naming ``services[i].minutes`` for minutes that are not a
        whole number (``i`` counts filled rows, as the visit's services do)."""
        services = []
        for index, position in enumerate(self.filled_rows()):
            row = self.rows[position]
            service: dict[str, object] = {"code": row.code}
            for name in ("minutes", "assistant_minutes"):
                typed = getattr(row, name)
                if typed:
                    if not _DIGITS.fullmatch(typed):
                        raise BadInput(
                            f"services[{index}].{name}", f"a whole number of minutes expected, not {quote(typed)}"
                        )
                    service[name] = int(typed)
            if row.modifiers:
                service["modifiers"] = [m.upper() for m in _SEPARATORS.split(row.modifiers) if m]
            services.append(service)
        visit: dict[str, object] = {"id": visit_id, "payer": self.payer, "discipline": self.discipline}
        if self.date:
            visit["date"] = self.date
        visit["diagnoses"] = [d.upper() for d in _SEPARATORS.split(self.diagnoses) if d]
        if self.patient:
            visit["patient"] = {"id": self.patient}
        visit["services"] = services
        return msgspec.json.encode(visit)

    def field_id(self, path: str) -> str | None:
        """The id of the input a refusal's field names (``services[1].minutes`` -> ``minutes-<row>``)."""
        found = _ROW_FIELD.match(path)
        if found:
            filled = self.filled_rows()
            index = int(found.group(1))
            column = found.group(2)
            if index < len(filled) and column in ("code", "minutes", "assistant_minutes", "modifiers"):
                return f"{column.replace('_', '-')}-{filled[index]}"
            return None
        return VISIT_FIELD_IDS.get(path.split(".")[0].split("[")[0])

    def field_label(self, path: str) -> str:
        """A refusal's field in the form's words (``services[1].minutes`` -> ``service row 3, minutes``)."""
        found = _ROW_FIELD.match(path)
        if found and int(found.group(1)) < len(self.filled_rows()):
            row = self.filled_rows()[int(found.group(1))] + 1
            rest = path[found.end() :]
            return f"service row {row}, {found.group(2).replace('_', ' ')}{rest}"
        return path.replace("_", " ")


@dataclass(frozen=True, slots=True)
class FormProblem:
    """A refusal of the form's input, pointing at the input to fix (``input_id``, None when none fits)."""

    label: str
    reason: str
    input_id: str | None


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """What posting did: ``kind`` is posted, not-billable, conflict or refused."""

    kind: str
    message: str


def _read_visit(entry: VisitForm, reference: Reference, *, visit_id: str) -> Visit:
    return scrub.read_visits(entry.visit_json(visit_id=visit_id), reference=reference, json_lines=False)[0]


def _problem(entry: VisitForm, refusal: Refusal) -> FormProblem:
    if not refusal.field:
        return FormProblem("visit", refusal.reason, None)
    return FormProblem(entry.field_label(refusal.field), refusal.reason, entry.field_id(refusal.field))


def _scrub_entry(entry: VisitForm, reference: Reference, database: Engine) -> ScrubResult | FormProblem | None:
    """The scrub of what the form holds (with the patient's ledger history, as posting will scrub it; each
    line with its trace, the steps it came from citing their data rows), a problem naming the input to fix,
    or None while no service row is filled."""
    if not entry.filled_rows():
        return None
    try:
        visit = _read_visit(entry, reference, visit_id=entry.id or DRAFT_ID)
        return scrub.scrub_visit(reference, visit=visit, history=LedgerHistory(database), trace=True)
    except BadInput as exc:
        return _problem(entry, exc)


def _visit_page(
    request: Request,
    reference: Reference,
    entry: VisitForm,
    outcome: ScrubResult | FormProblem | None,
    *,
    posted: PostOutcome | None = None,
    status: int = 200,
    extra: dict[str, object] | None = None,
) -> HTMLResponse:
    """The visit entry page; ``extra``: more for the template (web.assistant's note box)."""
    rows = entry.rows if any(row.blank for row in entry.rows) else [*entry.rows, ServiceRow()]
    context = {
        "entry": entry,
        "rows": rows,
        "payers": reference.configured_payers(),
        "disciplines": DISCIPLINES,
        "result": outcome if isinstance(outcome, ScrubResult) else None,
        "problem": outcome if isinstance(outcome, FormProblem) else None,
        "posted": posted,
        **(extra or {}),
    }
    return render(request, "visit.html", context, status_code=status)


@router.get("/visits/new", response_class=HTMLResponse)
def visit_page(request: Request, _user: UserDep, reference: ReferenceDep) -> HTMLResponse:
    entry = VisitForm(rows=[ServiceRow() for _ in range(BLANK_ROWS)])
    return _visit_page(request, reference, entry, None)


@router.post("/visits/new", response_class=HTMLResponse)
def check_visit(
    request: Request, _user: UserDep, reference: ReferenceDep, database: DatabaseDep, form: FormDep
) -> HTMLResponse:
    """The "Check" button: the page again with the scrub (what the live scrub shows, without JavaScript)."""
    entry = VisitForm.read(form)
    outcome = _scrub_entry(entry, reference, database)
    return _visit_page(request, reference, entry, outcome, status=422 if isinstance(outcome, FormProblem) else 200)


@router.post("/web/scrub", response_class=HTMLResponse)
def live_scrub(
    request: Request, _user: UserDep, reference: ReferenceDep, database: DatabaseDep, form: FormDep
) -> HTMLResponse:
    """The scrub result partial the visit form asks for as the biller types (htmx). Input that cannot be
    scrubbed yet is part of typing: the partial says which field and why, with status 200."""
    entry = VisitForm.read(form)
    outcome = _scrub_entry(entry, reference, database)
    context = {
        "result": outcome if isinstance(outcome, ScrubResult) else None,
        "problem": outcome if isinstance(outcome, FormProblem) else None,
    }
    return render(request, "_scrub_result.html", context)


@router.post("/visits", response_class=HTMLResponse)
def post_visit(
    request: Request, user: ChangerDep, reference: ReferenceDep, database: DatabaseDep, form: FormDep
) -> HTMLResponse:
    """The "Post to ledger" button: scrub with the ledger history and record the visit (visits.post_visit)."""
    entry = VisitForm.read(form)
    try:
        if not entry.id:
            raise BadInput("id", "a visit id is needed to post (the ledger records each visit id once)")
        visit = _read_visit(entry, reference, visit_id=entry.id)
        done = visits.post_visit(database, reference=reference, visit=visit, actor=user.actor)
    except BadInput as exc:
        problem = _problem(entry, exc)
        refused = PostOutcome("refused", f"Not posted: {problem.label}: {problem.reason}")
        return _visit_page(request, reference, entry, problem, posted=refused, status=exc.http_status)
    except Conflict as exc:
        conflict = PostOutcome("conflict", f"Not posted: {exc.reason}")
        return _visit_page(
            request, reference, entry, _scrub_entry(entry, reference, database), posted=conflict, status=409
        )
    if done.posted:
        outcome = PostOutcome("posted", f"Visit {done.id} was posted to the ledger.")
    else:
        outcome = PostOutcome("not-billable", f"Not posted: {done.reason}")
    return _visit_page(request, reference, entry, done.result, posted=outcome)


# --- the 8-minute calculator -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calculation:
    """Both methods' units for the same minutes (the same services, so the same problem if any)."""

    plans: list[tuple[str, catalog.UnitPlanResult]]


@router.get("/calculator", response_class=HTMLResponse)
def calculator(
    request: Request,
    _user: UserDep,
    reference: ReferenceDep,
    code: Annotated[list[str] | None, Query(max_length=MAX_SERVICES + 1)] = None,
    minutes: Annotated[list[str] | None, Query(max_length=MAX_SERVICES + 1)] = None,
) -> HTMLResponse:
    codes, typed = [c.strip() for c in code or []], [m.strip() for m in minutes or []]
    rows = [(c, typed[i] if i < len(typed) else "") for i, c in enumerate(codes)]
    filled = [(c, m) for c, m in rows if c or m]
    calculation: Calculation | None = None
    problem: FormProblem | None = None
    status = 200
    if filled:
        try:
            services = _unit_services(filled)
            calculation = Calculation(
                [(method, catalog.units(reference, services=services, method=method)) for method in METHODS]
            )
        except BadInput as exc:
            problem, status = _calculator_problem(exc, rows), exc.http_status
    shown_rows = rows if any(not (c or m) for c, m in rows) else [*rows, ("", "")]
    if len(shown_rows) < BLANK_ROWS:
        shown_rows += [("", "")] * (BLANK_ROWS - len(shown_rows))
    context = {"rows": shown_rows, "calculation": calculation, "problem": problem, "labels": METHOD_LABELS}
    if is_htmx(request):  # typing: a row not filled in yet is shown, not failed (as the live scrub)
        return render(request, "_units_result.html", context)
    return render(request, "calculator.html", context, status_code=status)


def _unit_services(filled: list[tuple[str, str]]) -> list[tuple[str, int]]:
    services = []
    for index, (code, typed) in enumerate(filled):
        if not _DIGITS.fullmatch(typed):
            raise BadInput(f"services[{index}].minutes", f"a whole number of minutes expected, not {quote(typed)}")
        services.append((code, int(typed)))
    return services


def _calculator_problem(refusal: Refusal, rows: list[tuple[str, str]]) -> FormProblem:
    filled = [position for position, (c, m) in enumerate(rows) if c or m]
    found = _ROW_FIELD.match(refusal.field)
    if found and int(found.group(1)) < len(filled):
        position = filled[int(found.group(1))]
        column = "minutes" if found.group(2) == "minutes" else "code"
        return FormProblem(f"row {position + 1}, {column}", refusal.reason, f"calc-{column}-{position}")
    return FormProblem(refusal.field or "services", refusal.reason, None)


# --- codes and rules --------------------------------------------------------------------------------------------


@router.get("/codes", response_class=HTMLResponse)
def code_search(
    request: Request, _user: UserDep, reference: ReferenceDep, q: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    query = q.strip()
    hits = catalog.search_codes(reference, query=query, limit=SEARCH_LIMIT) if query else []
    template = "_code_hits.html" if is_htmx(request) else "codes.html"
    return render(request, template, {"q": query, "hits": hits})


@router.get("/codes/{code}", response_class=HTMLResponse)
def code_page(request: Request, _user: UserDep, reference: ReferenceDep, code: str) -> HTMLResponse:
    return render(request, "code.html", {"facts": catalog.code_facts(reference, code=code)})


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, _user: UserDep) -> HTMLResponse:
    return render(request, "rules.html", {"rules": rules.list_rules()})


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, _user: UserDep, rule_id: str) -> HTMLResponse:
    return render(request, "rule.html", {"rule": rules.rule(rule_id=rule_id)})


# --- patients ---------------------------------------------------------------------------------------------------


@router.get("/patients", response_class=HTMLResponse)
def patient_lookup(request: Request, _user: UserDep, id: str = "") -> Response:
    """The home page's lookup box: on to the patient's page."""
    patient_id = id.strip()
    if not patient_id:
        return render_problem(request, status=422, title="Invalid input", detail="id: a patient id expected")
    return redirect(f"/patients/{url_quote(patient_id, safe='')}")


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, _user: UserDep, reference: ReferenceDep, database: DatabaseDep, patient_id: str, on: str = ""
) -> HTMLResponse:
    day = _day(on)
    try:
        state = patients.patient_state(database, reference=reference, patient_id=patient_id, day=day)
    except NotFound as exc:
        return render(
            request, "patient_missing.html", {"patient_id": patient_id, "detail": exc.reason}, status_code=404
        )
    return render(request, "patient.html", {"state": state, "on": on, "benefits": BENEFIT_LABELS})


def _day(typed: str) -> date | None:
    if not typed.strip():
        return None
    try:
        return date.fromisoformat(typed.strip())
    except ValueError:
        raise BadInput("on", f"a date (YYYY-MM-DD) expected, not {quote(typed)}") from None
