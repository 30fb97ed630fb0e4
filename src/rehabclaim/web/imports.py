"""The Imports page: an EMR's FHIR R4 Bundle into visits, each scrubbed right there, with every item that
could not be mapped (resource, path, reason); and XR sessions attached to their visits as 0770T evidence,
with each session attached, not attached or ambiguous and why.

Nothing is kept: the page reads the uploaded files, calls the import service (the one ``rehabclaim import``
and ``/v1/imports`` call) and shows what it made. The visits made are downloaded as JSON Lines by the same
form's second button, which sends the same files to ``.../visits.jsonl`` (a plain form post: the browser
saves the answer), so no patient data waits on the server or in a hidden field between two requests.

The forms work without JavaScript (a full page comes back); with htmx the import button swaps only the
outcome under its form (``_imports_*_result.html``). The page shows patient ids, never names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import HTMLResponse, Response

from rehabclaim.model import ScrubResult, Visit
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, Refusal
from rehabclaim.services.fhir import FhirImport, import_bundle
from rehabclaim.services.imports import attach_xr_sessions, json_lines_by_name, visits_json_lines
from rehabclaim.services.scrub import read_visits, scrub_visit
from rehabclaim.web.core import (
    PAGE_HEADERS,
    FormDep,
    ReferenceDep,
    SettingsDep,
    UserDep,
    is_htmx,
    page_router,
    render,
)
from rehabclaim.xr.matching import XrImport

router = page_router()

Kind = Literal["fhir", "xr"]
JSON_LINES = "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class UploadProblem:
    """A refusal of an uploaded file, with the file input to fix (``input_id``) and its label."""

    input_id: str
    label: str
    refusal: Refusal


@dataclass(frozen=True, slots=True)
class ScrubbedVisit:
    """A visit a Bundle held, and its scrub (``refusal`` instead when the visit cannot be scrubbed)."""

    visit: Visit
    result: ScrubResult | None
    refusal: Refusal | None


@dataclass(frozen=True, slots=True)
class FhirOutcome:
    file_name: str
    imported: FhirImport
    scrubbed: list[ScrubbedVisit]


@dataclass(frozen=True, slots=True)
class XrOutcome:
    sessions_name: str
    visits_name: str
    imported: XrImport


# --- reading the uploads ---------------------------------------------------------------------------------------


def _uploaded(form: FormData, name: str, label: str) -> tuple[str, bytes]:
    """The chosen file's name and bytes; BadInput naming the input when none was chosen (browsers send an
    empty, nameless part)."""
    value = form.get(name)
    if not isinstance(value, UploadFile) or not value.filename:
        raise BadInput(name, f"choose the {label} to upload")
    return value.filename, value.file.read()


def _fhir_import(reference: Reference, form: FormData) -> tuple[str, FhirImport]:
    try:
        name, data = _uploaded(form, "bundle_file", "FHIR R4 Bundle (.json)")
        return name, import_bundle(reference, data=data)
    except Refusal as exc:
        raise _Refused(UploadProblem("fhir-bundle", "FHIR Bundle", exc)) from None


def _xr_import(reference: Reference, form: FormData, max_visits: int) -> tuple[str, str, XrImport]:
    try:
        visits_name, visits_data = _uploaded(form, "visits_file", "visits file (.jsonl or .json)")
        visits = read_visits(
            visits_data, reference=reference, json_lines=json_lines_by_name(visits_name), max_visits=max_visits
        )
    except Refusal as exc:
        raise _Refused(UploadProblem("xr-visits", "Visits file", exc)) from None
    try:
        sessions_name, sessions_data = _uploaded(form, "sessions_file", "XR sessions file (.json or .jsonl)")
        imported = attach_xr_sessions(
            reference, sessions_data=sessions_data, visits=visits, json_lines=json_lines_by_name(sessions_name)
        )
    except Refusal as exc:
        raise _Refused(UploadProblem("xr-sessions", "XR sessions file", exc)) from None
    return sessions_name, visits_name, imported


class _Refused(Exception):
    def __init__(self, problem: UploadProblem) -> None:
        super().__init__(problem.label)
        self.problem = problem


def _scrubbed(reference: Reference, visit: Visit) -> ScrubbedVisit:
    try:
        return ScrubbedVisit(visit, scrub_visit(reference, visit=visit), None)
    except Refusal as exc:
        return ScrubbedVisit(visit, None, exc)


# --- rendering -------------------------------------------------------------------------------------------------


def _page(
    request: Request,
    kind: Kind | None = None,
    *,
    fhir: FhirOutcome | None = None,
    xr: XrOutcome | None = None,
    problem: UploadProblem | None = None,
) -> HTMLResponse:
    """The whole page, or (htmx) the outcome of ``kind``'s form alone."""
    context: dict[str, object] = {"fhir": fhir, "xr": xr, "fhir_problem": None, "xr_problem": None}
    if kind is not None:
        context[f"{kind}_problem"] = problem
    status = problem.refusal.http_status if problem is not None else 200
    template = f"_imports_{kind}_result.html" if kind is not None and is_htmx(request) else "imports.html"
    return render(request, template, context, status_code=status)


def _download(visits: list[Visit], file_name: str) -> Response:
    headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{file_name}"'}
    return Response(visits_json_lines(visits), media_type=JSON_LINES, headers=headers)


# --- routes ----------------------------------------------------------------------------------------------------


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, _user: UserDep) -> HTMLResponse:
    return _page(request)


@router.post("/imports/fhir", response_class=HTMLResponse)
def import_fhir(request: Request, _user: UserDep, reference: ReferenceDep, form: FormDep) -> HTMLResponse:
    """The Bundle's visits, each scrubbed, and what could not be mapped; a Bundle that is not valid R4
    shows the refusal naming the entry, resource and path."""
    try:
        file_name, imported = _fhir_import(reference, form)
    except _Refused as exc:
        return _page(request, "fhir", problem=exc.problem)
    scrubbed = [_scrubbed(reference, visit) for visit in imported.visits]
    return _page(request, "fhir", fhir=FhirOutcome(file_name, imported, scrubbed))


@router.post("/imports/fhir/visits.jsonl", response_model=None)
def download_fhir_visits(
    request: Request, _user: UserDep, reference: ReferenceDep, form: FormDep
) -> HTMLResponse | Response:
    """The Bundle's visits as JSON Lines (as ``rehabclaim import fhir --out`` writes them)."""
    try:
        _, imported = _fhir_import(reference, form)
    except _Refused as exc:
        return _page(request, "fhir", problem=exc.problem)
    return _download(imported.visits, "visits-fhir.jsonl")


@router.post("/imports/xr", response_class=HTMLResponse)
def import_xr(
    request: Request, _user: UserDep, reference: ReferenceDep, settings: SettingsDep, form: FormDep
) -> HTMLResponse:
    """Each session attached, not attached or ambiguous, with its reason; a file that cannot be read shows
    the refusal naming the file, the line and the field."""
    try:
        sessions_name, visits_name, imported = _xr_import(reference, form, settings.max_visits_per_request)
    except _Refused as exc:
        return _page(request, "xr", problem=exc.problem)
    return _page(request, "xr", xr=XrOutcome(sessions_name, visits_name, imported))


@router.post("/imports/xr/visits.jsonl", response_model=None)
def download_xr_visits(
    request: Request, _user: UserDep, reference: ReferenceDep, settings: SettingsDep, form: FormDep
) -> HTMLResponse | Response:
    """Every visit, enriched where a session was attached, as JSON Lines (as ``rehabclaim import xr --out``
    writes them)."""
    try:
        _, _, imported = _xr_import(reference, form, settings.max_visits_per_request)
    except _Refused as exc:
        return _page(request, "xr", problem=exc.problem)
    return _download(imported.visits, "visits-xr.jsonl")
