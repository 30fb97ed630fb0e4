"""The billing pages: claims (build a batch, download its 837P), remittances (upload an 835), the denials
worklist, the reports with their charts, and the audit trail (admins only).

Each handler parses the form or query, calls one service with the application's Reference and ledger, and
renders a template. A refusal of what the biller typed or uploaded is shown on the same page, beside the
form, with the refusal's status (a second upload of the same 835: 409, with its message); other refusals
become the shared error page (``core.PageRoute``). Viewers see every page without its forms: a crafted POST
from one is 403 (``core.ChangerDep``).

The forms work without JavaScript (a full page comes back); with htmx the build and upload forms swap only
their result and the list beside it (``_billing_*_result.html``), and the denials filters only the worklist
(htmx picks it out of the whole page). Charts are drawn by ``static/reports.js`` from the figures in the
page's JSON block (``ReportCharts``), each beside a table holding the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import msgspec
from fastapi import Path, Query, Request
from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile
from starlette.responses import HTMLResponse, Response

from rehabclaim.api.deps import MAX_OFFSET
from rehabclaim.api.responses import FHIR_JSON, X12Response
from rehabclaim.errors import quote
from rehabclaim.remits.worklist import KINDS
from rehabclaim.services import audit, claims, denials, remittances, reports
from rehabclaim.services.errors import BadInput, Refusal
from rehabclaim.services.scrub import read_visits
from rehabclaim.web.core import (
    PAGE_HEADERS,
    ChangerDep,
    DatabaseDep,
    FormDep,
    ReferenceDep,
    SettingsDep,
    UserDep,
    form_text,
    is_htmx,
    page_router,
    render,
    render_problem,
)
from rehabclaim.x12.remit835 import CLAIM_STATUS, RemitClaim, Remittance

router = page_router()

Item = TypeVar("Item")
ControlNumber = Annotated[int, Path(ge=1, le=999_999_999)]  # an ISA13
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
SHOWN_REMIT_CLAIMS = 500  # claims of one uploaded 835 listed on the page (the totals count them all)
UNDERPAID_SHOWN = 100  # underpaid lines listed on the reports page (the total counts them all)
TIMELY_WINDOW_DAYS = 30
KIND_LABELS = {
    "denial": "Denials (kind)",
    "patient": "Patient balances (kind)",
    "contractual": "Contractual (kind)",
    "info": "Information (kind)",
}
_JSON_BLOCK = msgspec.json.Encoder(decimal_format="number")
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"})


# --- pagination ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pager:
    """Where a list is: ``page`` (from 1) of ``size`` items; ``total`` when the service counts them all, else
    ``has_next`` from asking for one item more than the page holds."""

    page: int
    size: int
    shown: int  # items on this page
    has_next: bool
    total: int | None
    previous_url: str | None
    next_url: str | None

    @property
    def first_item(self) -> int:
        return (self.page - 1) * self.size + 1 if self.shown else 0

    @property
    def last_item(self) -> int:
        return (self.page - 1) * self.size + self.shown

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, math.ceil(self.total / self.size))


def _offset(page: int, size: int) -> int:
    offset = (page - 1) * size
    if offset > MAX_OFFSET:
        raise BadInput("page", f"expected at most {MAX_OFFSET // size + 1}, got {page}")
    return offset


def _pager(request: Request, *, page: int, size: int, shown: int, has_next: bool, total: int | None = None) -> Pager:
    def link(number: int) -> str:
        query = request.url.include_query_params(page=number).query
        return f"{request.url.path}?{query}"

    return Pager(
        page=page,
        size=size,
        shown=shown,
        has_next=has_next,
        total=total,
        previous_url=link(page - 1) if page > 1 else None,
        next_url=link(page + 1) if has_next else None,
    )


def _paged(request: Request, page: int, size: int, fetch: Callable[[int, int], list[Item]]) -> tuple[list[Item], Pager]:
    """One page of a list whose service does not count: ``fetch(limit, offset)`` asked for one item more."""
    found = fetch(size + 1, _offset(page, size))
    items = found[:size]
    return items, _pager(request, page=page, size=size, shown=len(items), has_next=len(found) > size)


# --- form and query input -----------------------------------------------------------------------------------------


def _upload(form: FormData, name: str) -> UploadFile | None:
    """The file chosen in the file input ``name``; None when none was (browsers send an empty, nameless part)."""
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


def _day(name: str, typed: str) -> date | None:
    if not typed:
        return None
    try:
        return date.fromisoformat(typed)
    except ValueError:
        raise BadInput(name, f"a date (YYYY-MM-DD) expected, not {quote(typed)}") from None


def _text(typed: str | None) -> str | None:
    stripped = (typed or "").strip()
    return stripped or None


def json_block(value: msgspec.Struct) -> Markup:
    """``value`` as JSON for a ``<script type="application/json">`` block: amounts as the service holds them
    (JSON numbers, every digit), and nothing that could close the script element."""
    return Markup(_JSON_BLOCK.encode(value).decode("utf-8").translate(_SCRIPT_SAFE))


# --- claims -------------------------------------------------------------------------------------------------------


def _claims_page(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    *,
    page: int = 1,
    batch: claims.ClaimBatch | None = None,
    problem: Refusal | None = None,
    pasted: str = "",
    status: int = 200,
) -> HTMLResponse:
    size = settings.page_size_default
    batches, pager = _paged(
        request, page, size, lambda limit, offset: claims.list_claim_batches(database, limit=limit, offset=offset)
    )
    context = {"batches": batches, "pager": pager, "batch": batch, "problem": problem, "pasted": pasted}
    template = "_billing_claim_result.html" if is_htmx(request) and request.method == "POST" else "claims.html"
    return render(request, template, context, status_code=status)


@router.get("/claims", response_class=HTMLResponse)
def claims_page(
    request: Request, _user: UserDep, database: DatabaseDep, settings: SettingsDep, page: PageNumber = 1
) -> HTMLResponse:
    return _claims_page(request, database, settings, page=page)


@router.post("/claims", response_class=HTMLResponse)
def build_claims(
    request: Request,
    user: ChangerDep,
    reference: ReferenceDep,
    database: DatabaseDep,
    settings: SettingsDep,
    form: FormDep,
) -> HTMLResponse:
    """Build one batch from the pasted or uploaded visits; the 837P is kept in the ledger for download."""
    pasted = form.get("visits_text")
    pasted_text = pasted if isinstance(pasted, str) else ""
    try:
        data, source = _visits_input(pasted_text, _upload(form, "visits_file"))
        visits = read_visits(data, reference=reference, source=source, max_visits=settings.max_visits_per_request)
        batch = claims.build_claims(
            database,
            reference=reference,
            visits=visits,
            actor=user.actor,
            resend=form_text(form, "resend") == "yes",
            destination=claims.TO_LEDGER,
        )
    except Refusal as exc:
        return _claims_page(request, database, settings, problem=exc, pasted=pasted_text, status=exc.http_status)
    return _claims_page(request, database, settings, batch=batch)


def _visits_input(pasted: str, upload: UploadFile | None) -> tuple[bytes, str]:
    """The visits' bytes and what to call them in a message: the chosen file or the pasted text, not both."""
    if upload is not None and pasted.strip():
        raise BadInput("visits_file", "choose a file or paste visits, not both")
    if upload is not None:
        return upload.file.read(), "visits_file"
    if not pasted.strip():
        raise BadInput("visits_text", "paste visits (JSON Lines: one visit per line) or choose a .jsonl file")
    return pasted.encode("utf-8"), "visits_text"


@router.get("/claims/{control_number}", response_class=HTMLResponse)
def claim_page(request: Request, _user: UserDep, database: DatabaseDep, control_number: ControlNumber) -> HTMLResponse:
    return render(request, "claim.html", {"stored": claims.claim_batch(database, control_number=control_number)})


@router.get("/claims/{control_number}/837p")
def claim_837p(_user: UserDep, database: DatabaseDep, control_number: ControlNumber) -> Response:
    """The 837P as sent, as a download (the same file ``GET /v1/claims/{control_number}/837p`` gives)."""
    stored = claims.claim_batch(database, control_number=control_number)
    disposition = f'attachment; filename="claims-{stored.control_number:09d}.x12"'
    return X12Response(stored.x837, headers={**PAGE_HEADERS, "Content-Disposition": disposition})


@router.get("/claims/{control_number}/cms1500")
def claim_cms1500(_user: UserDep, database: DatabaseDep, control_number: ControlNumber) -> Response:
    """The same claims keyed by CMS-1500 item numbers (JSON), as a download (none for secondary claims:
    ``claims.claim_forms`` says why)."""
    forms = claims.claim_forms(database, control_number=control_number)
    disposition = f'attachment; filename="claims-{control_number:09d}-cms1500.json"'
    headers = {**PAGE_HEADERS, "Content-Disposition": disposition}
    return Response(bytes(forms), media_type="application/json", headers=headers)


@router.get("/claims/{control_number}/fhir")
def claim_fhir(_user: UserDep, database: DatabaseDep, control_number: ControlNumber) -> Response:
    """The claims as a FHIR R4 Bundle, as a download (the same bytes ``GET /v1/claims/{control_number}/fhir``
    gives; none for secondary claims or batches kept before ledger revision 0007: ``claims.claim_fhir``)."""
    bundle = claims.claim_fhir(database, control_number=control_number)
    disposition = f'attachment; filename="claims-{control_number:09d}-fhir.json"'
    headers = {**PAGE_HEADERS, "Content-Disposition": disposition}
    return Response(bytes(bundle), media_type=FHIR_JSON, headers=headers)


# --- remittances --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemittanceUpload:
    """What an uploaded 835 holds and what posting it did: ``posting`` None when it was not posted, and
    ``refusal`` then says why (posted before: 409; does not balance: 422)."""

    file_name: str
    remittance: Remittance
    posting: remittances.RemittancePosting | None
    refusal: Refusal | None

    @property
    def posted(self) -> frozenset[str]:
        return frozenset(self.posting.posted) if self.posting is not None else frozenset()

    @property
    def shown_claims(self) -> Sequence[RemitClaim]:
        return self.remittance.claims[:SHOWN_REMIT_CLAIMS]


def _remittances_page(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    *,
    page: int = 1,
    upload: RemittanceUpload | None = None,
    problem: Refusal | None = None,
    status: int = 200,
) -> HTMLResponse:
    size = settings.page_size_default
    posted, pager = _paged(
        request, page, size, lambda limit, offset: remittances.list_remittances(database, limit=limit, offset=offset)
    )
    context = {"remittances": posted, "pager": pager, "upload": upload, "problem": problem}
    template = (
        "_billing_remittance_result.html" if is_htmx(request) and request.method == "POST" else "remittances.html"
    )
    return render(request, template, context, status_code=status)


@router.get("/remittances", response_class=HTMLResponse)
def remittances_page(
    request: Request, _user: UserDep, database: DatabaseDep, settings: SettingsDep, page: PageNumber = 1
) -> HTMLResponse:
    return _remittances_page(request, database, settings, page=page)


@router.post("/remittances", response_class=HTMLResponse)
def upload_remittance(
    request: Request, user: ChangerDep, database: DatabaseDep, settings: SettingsDep, form: FormDep
) -> HTMLResponse:
    """Read the uploaded 835 and post it; a file that cannot be read shows why, one that cannot be posted
    (posted before, does not balance) is shown with the reason it was not posted."""
    chosen = _upload(form, "remittance_file")
    try:
        if chosen is None:
            raise BadInput("remittance_file", "choose an 835 file to upload")
        data = chosen.file.read()
        read = remittances.read_remittance(data=data)
    except Refusal as exc:
        return _remittances_page(request, database, settings, problem=exc, status=exc.http_status)
    file_name = chosen.filename or "835"
    try:
        posting = remittances.post_remittance(database, data=data, actor=user.actor, remittance=read)
    except Refusal as exc:
        upload = RemittanceUpload(file_name, read, None, exc)
        return _remittances_page(request, database, settings, upload=upload, status=exc.http_status)
    return _remittances_page(request, database, settings, upload=RemittanceUpload(file_name, read, posting, None))


# --- denials ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DenialFilters:
    """The worklist filters as typed (shown back in the form)."""

    payer: str = ""
    reason: str = ""
    since: str = ""
    until: str = ""
    status: str = ""

    @property
    def any(self) -> bool:
        return any((self.payer, self.reason, self.since, self.until, self.status))


@router.get("/denials", response_class=HTMLResponse)
def denials_page(
    request: Request,
    _user: UserDep,
    reference: ReferenceDep,
    database: DatabaseDep,
    settings: SettingsDep,
    payer: Annotated[str, Query(max_length=200)] = "",
    reason: Annotated[str, Query(max_length=20)] = "",
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    page: PageNumber = 1,
) -> HTMLResponse:
    filters = DenialFilters(payer.strip(), reason.strip(), since.strip(), until.strip(), status.strip())
    size = settings.page_size_default
    context: dict[str, Any] = {
        "filters": filters,
        "statuses": _status_choices(),
        "status_meanings": CLAIM_STATUS,
        "worklist": None,
        "pager": None,
        "problem": None,
    }
    code = 200
    try:
        worklist = denials.worklist(
            database,
            reference=reference,
            payer=_text(filters.payer),
            reason=_text(filters.reason),
            since=_day("since", filters.since),
            until=_day("until", filters.until),
            status=_text(filters.status),
            limit=size,
            offset=_offset(page, size),
        )
        context["worklist"] = worklist
        context["pager"] = _pager(
            request,
            page=page,
            size=size,
            shown=len(worklist.items),
            has_next=worklist.offset + len(worklist.items) < worklist.total,
            total=worklist.total,
        )
    except BadInput as exc:
        context["problem"], code = exc, exc.http_status
    return render(request, "denials.html", context, status_code=code)  # htmx picks #denials-results from it


def _status_choices() -> list[tuple[str, str]]:
    """The status filter's options: the kinds of adjustment, then the claim statuses (CLP02)."""
    kinds = [(kind, KIND_LABELS.get(kind, kind)) for kind in KINDS]
    statuses = [(code, f"{code}: {meaning} (claim status)") for code, meaning in CLAIM_STATUS.items()]
    return [("", "Any status"), *kinds, *statuses]


# --- reports ------------------------------------------------------------------------------------------------------


class Dataset(msgspec.Struct):
    label: str
    data: list[Decimal]


class ChartData(msgspec.Struct):
    """One bar chart for ``static/reports.js``: a dataset per series, a value per label."""

    title: str
    labels: list[str]
    datasets: list[Dataset]
    stacked: bool
    value_label: str


class ReportCharts(msgspec.Struct):
    denials: ChartData
    aging: ChartData


@dataclass(frozen=True, slots=True)
class ReportInput:
    """The reports form as typed (shown back) and as read."""

    since: str
    until: str
    as_of: str
    within_days: str


def denials_chart(report: reports.DenialsReport) -> ChartData:
    """Amounts by reason (group and CARC), one series per payer, stacked."""
    reasons = list(dict.fromkeys(f"{row.group}-{row.reason}" for row in report.rows))
    payers = sorted({row.payer for row in report.rows})
    amounts = {(f"{row.group}-{row.reason}", row.payer): row.amount for row in report.rows}
    datasets = [Dataset(payer, [amounts.get((reason, payer), Decimal(0)) for reason in reasons]) for payer in payers]
    return ChartData("Denials and patient balances by reason and payer", reasons, datasets, True, "Amount ($)")


def aging_chart(report: reports.AgingReport) -> ChartData:
    """Open balances by payer, one series per age bucket, stacked."""
    labels = [bucket.label for bucket in report.total.buckets]
    datasets = [
        Dataset(f"{label} days", [row.buckets[index].balance for row in report.rows])
        for index, label in enumerate(labels)
    ]
    return ChartData("A/R aging by payer", [row.payer for row in report.rows], datasets, True, "Open balance ($)")


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    _user: UserDep,
    reference: ReferenceDep,
    database: DatabaseDep,
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
    as_of: Annotated[str, Query(max_length=20)] = "",
    within_days: Annotated[str, Query(max_length=6)] = "",
) -> HTMLResponse:
    """Every report on one page. ``as_of`` (the day ages and deadlines count to) is the form's: it starts as
    today, shown in the form, so the biller sees which day the figures are for."""
    typed = ReportInput(since.strip(), until.strip(), as_of.strip() or date.today().isoformat(), within_days.strip())
    try:
        start, end = _day("since", typed.since), _day("until", typed.until)
        day = _day("as_of", typed.as_of)
        assert day is not None  # as_of is never blank: today when not typed
        window = _within_days(typed.within_days)
        denied = reports.denials_by_reason_and_payer(database, reference=reference, since=start, until=end)
        paid = reports.paid_against_expected(database, reference=reference, since=start, until=end)
        underpaid = reports.underpaid_lines(
            database, reference=reference, since=start, until=end, limit=UNDERPAID_SHOWN
        )
        aging = reports.ar_aging(database, as_of=day)
        timely = reports.timely_filing(database, reference=reference, as_of=day, within_days=window)
    except BadInput as exc:
        context = {"input": typed, "problem": exc, "window": TIMELY_WINDOW_DAYS}
        return render(request, "reports.html", context, status_code=exc.http_status)
    charts = ReportCharts(denials=denials_chart(denied), aging=aging_chart(aging))
    context = {
        "input": typed,
        "problem": None,
        "window": window,
        "denied": denied,
        "paid": paid,
        "paid_by_payer": _by_payer(paid.rows),
        "underpaid": underpaid,
        "aging": aging,
        "timely": timely,
        "charts": json_block(charts),
    }
    return render(request, "reports.html", context)


def _within_days(typed: str) -> int:
    if not typed:
        return TIMELY_WINDOW_DAYS
    if not typed.isdigit():
        raise BadInput("within_days", f"a whole number of days expected, not {quote(typed)}")
    return int(typed)


def _by_payer(rows: list[reports.PaidRow]) -> list[tuple[str, list[reports.PaidRow]]]:
    """The paid-against-expected rows grouped by payer (they come sorted by payer, then code)."""
    grouped: dict[str, list[reports.PaidRow]] = {}
    for row in rows:
        grouped.setdefault(row.payer_name or row.payer, []).append(row)
    return list(grouped.items())


# --- audit --------------------------------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, user: UserDep, database: DatabaseDep, settings: SettingsDep, page: PageNumber = 1
) -> HTMLResponse:
    """Who changed what and when: admins only."""
    if user.role != "admin":
        return render_problem(request, status=403, title="Forbidden", detail="only an admin may read the audit trail")
    size = settings.page_size_default
    events, pager = _paged(
        request, page, size, lambda limit, offset: audit.audit_events(database, limit=limit, offset=offset)
    )
    return render(request, "audit.html", {"events": events, "pager": pager})
