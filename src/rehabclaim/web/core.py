"""What every page shares: the templates, the signed-in user, CSRF, flash messages and HTML error pages.

A page module makes its routes on ``page_router()``: every route on it needs a signed-in user (else a
redirect to ``/login?next=...``; an htmx request gets ``HX-Redirect``), a user who must change their
password is sent to ``/password`` first, and every POST must carry the session's CSRF token, as the form
field ``csrf_token`` (``{{ csrf_field() }}`` in a form) or the ``X-CSRF-Token`` header (htmx sends it from
``hx-headers`` on ``<body>``); without it the answer is 403. A ``Refusal`` from a service becomes an HTML
page (or, for htmx, a small partial) with the refusal's status and its one-line reason.

Pages are served with a Content-Security-Policy that allows scripts and styles from ``/static`` only: no
inline ``<script>``, no ``style=""``, no ``onclick``. Data for a script goes in a JSON block
(``<script type="application/json" id="...">{{ data | tojson }}</script>``) that a script in ``/static``
reads (``static/reports.js`` draws the reports' charts so).

Pages call services directly, with the Reference and the ledger the application holds (``app.state``, read
through ``rehabclaim.api.deps``), never the API over HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote as url_quote
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from rehabclaim.api.deps import (  # the session's keys and the CSRF header, shared with the API's session check
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_CSRF,
    SESSION_MUST_CHANGE,
    SESSION_ROLE,
    SESSION_USER,
    get_database,
)

# the application's Reference, ledger and settings, re-exported for the page modules (one place reads app.state)
from rehabclaim.api.deps import DatabaseDep as DatabaseDep
from rehabclaim.api.deps import ReferenceDep as ReferenceDep
from rehabclaim.api.deps import SettingsDep as SettingsDep
from rehabclaim.model import Finding
from rehabclaim.services.accounts import actor_for_user
from rehabclaim.services.actor import Actor, Role
from rehabclaim.services.errors import Refusal, Unauthenticated
from rehabclaim.trace import cited

TEMPLATES = Path(__file__).parent / "templates"
SESSION_FLASH = "flash"
CSRF_FIELD = "csrf_token"
PASSWORD_PATH = "/password"
LOGIN_PATH = "/login"
OPEN_WHILE_PASSWORD_MUST_CHANGE = frozenset({PASSWORD_PATH, "/logout"})
MAX_FLASHES = 5  # a session cookie is small: older messages are dropped
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",  # pages hold patient data: not kept by the browser or a proxy
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

FlashKind = Literal["success", "error", "info"]

templates = Jinja2Templates(directory=TEMPLATES)


# --- who is signed in -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in user: the account's current role (read from the ledger on every request)."""

    name: str
    role: Role

    @property
    def actor(self) -> Actor:
        return Actor(user=self.name, role=self.role, channel="web")

    @property
    def may_change(self) -> bool:
        """Billers and admins see the buttons that change the ledger; viewers only read."""
        return self.actor.may_change


class LoginRequired(Exception):
    """No signed-in user (or the account is gone or disabled): to the login page, then back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PasswordChangeRequired(Exception):
    """The account's password was generated (or reset) and must be changed before anything else."""


class CsrfRejected(Exception):
    """A POST without the session's CSRF token."""


def signed_in(request: Request) -> WebUser:
    """The user of the session; LoginRequired when there is none (or the account was disabled or removed:
    the session is cleared), PasswordChangeRequired while the password must be changed."""
    session = request.session
    name = session.get(SESSION_USER)
    if not isinstance(name, str):
        raise LoginRequired(_return_path(request))
    try:
        actor = actor_for_user(get_database(request), name=name, channel="web")
    except Unauthenticated:
        session.clear()
        raise LoginRequired(_return_path(request)) from None
    session[SESSION_ROLE] = actor.role
    if session.get(SESSION_MUST_CHANGE) and request.url.path not in OPEN_WHILE_PASSWORD_MUST_CHANGE:
        raise PasswordChangeRequired
    user = WebUser(name=actor.user, role=actor.role)
    request.state.web_user = user
    return user


def current_user(request: Request) -> WebUser | None:
    """The user ``signed_in`` found for this request, None on the public pages (the login page)."""
    user = getattr(request.state, "web_user", None)
    return user if isinstance(user, WebUser) else None


def _return_path(request: Request) -> str:
    """Where to come back after logging in: this page for a GET, the page an htmx request came from, else home."""
    if request.method == "GET" and not is_htmx(request):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    current = request.headers.get("HX-Current-URL")
    if current:
        parts = urlsplit(current)
        if parts.netloc == request.url.netloc:
            return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    return "/"


def safe_next(candidate: str | None) -> str:
    """``candidate`` when it is a path on this site (``/patients/P1?on=...``), else ``/``: a login link
    must not send the user on to another site (``//evil.example``, ``https://...``, ``/\\evil``)."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
        return "/"
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in candidate):
        return "/"
    parts = urlsplit(candidate)
    return candidate if not parts.scheme and not parts.netloc else "/"


def login_url(next_url: str) -> str:
    return LOGIN_PATH if next_url == "/" else f"{LOGIN_PATH}?next={url_quote(next_url, safe='/')}"


# --- CSRF ---------------------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the login page's session gets one too)."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def csrf_protect(request: Request) -> None:
    """Refuse (CsrfRejected: 403) a POST whose header or form field does not carry the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_CSRF)
    given: object = request.headers.get(CSRF_HEADER)
    if given is None and _is_form(request):
        given = (await request.form()).get(CSRF_FIELD)
    if not isinstance(expected, str) or not isinstance(given, str) or not secrets.compare_digest(given, expected):
        raise CsrfRejected


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def start_session(request: Request, *, user: str, role: Role, must_change_password: bool) -> None:
    """A new session for a user who just logged in: everything before (its CSRF token too) is dropped."""
    request.session.clear()
    request.session[SESSION_USER] = user
    request.session[SESSION_ROLE] = role
    if must_change_password:
        request.session[SESSION_MUST_CHANGE] = True
    csrf_token(request)


# --- what a route reads ---------------------------------------------------------------------------------------


async def read_form(request: Request) -> FormData:
    """The posted form (parsed once: the CSRF check reads the same one)."""
    return await request.form()


def require_changer(user: Annotated[WebUser, Depends(signed_in)]) -> WebUser:
    """A biller or admin; a viewer gets 403 (the page shows viewers no change buttons, so only a crafted
    request gets here)."""
    if not user.may_change:
        raise PageForbidden
    return user


class PageForbidden(Exception):
    """A viewer asked to change something."""


UserDep = Annotated[WebUser, Depends(signed_in)]
ChangerDep = Annotated[WebUser, Depends(require_changer)]
FormDep = Annotated[FormData, Depends(read_form)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def form_text(form: FormData, name: str) -> str:
    """A text field of the form, stripped ("" when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_texts(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (a row's column), in order, stripped."""
    return [value.strip() if isinstance(value, str) else "" for value in form.getlist(name)]


# --- flash messages ---------------------------------------------------------------------------------------------


def flash(request: Request, text: str, kind: FlashKind = "success") -> None:
    """A message shown once, on the next page rendered (after a redirect). No patient data beyond ids:
    it travels in the (signed, not encrypted) session cookie."""
    kept = list(request.session.get(SESSION_FLASH, []))[-(MAX_FLASHES - 1) :]
    request.session[SESSION_FLASH] = [*kept, [kind, text]]


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    stored = request.session.pop(SESSION_FLASH, [])
    return [(str(kind), str(text)) for kind, text in stored] if isinstance(stored, list) else []


# --- rendering ------------------------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """``template`` with ``context``, plus what every page reads: ``user`` (None on public pages),
    ``csrf_token``, ``flashes``, ``active`` (the first path segment, for the navigation) and ``htmx`` (the
    request is htmx's: a partial may update a status line out of band)."""
    base = {
        "user": current_user(request),
        "csrf_token": csrf_token(request),
        "flashes": pop_flashes(request),
        "active": request.url.path.strip("/").split("/")[0],
        "htmx": is_htmx(request),
    }
    response = templates.TemplateResponse(
        request,
        template,
        {**base, **(context or {})},
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )
    return response


def redirect(url: str, *, request: Request | None = None) -> Response:
    """See Other to ``url`` (after a POST, or to the login page); an htmx request gets ``HX-Redirect`` instead,
    so the whole page goes there rather than the login form landing in a partial."""
    if request is not None and is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url, **PAGE_HEADERS})
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


def render_problem(request: Request, *, status: int, title: str, detail: str) -> HTMLResponse:
    """An error as a page (or, for htmx, the ``_problem.html`` partial), with its HTTP status."""
    template = "_problem.html" if is_htmx(request) else "error.html"
    context = {"status": status, "title": title, "detail": detail}
    return render(request, template, context, status_code=status)


def render_refusal(request: Request, refusal: Refusal) -> HTMLResponse:
    return render_problem(request, status=refusal.http_status, title=refusal.title, detail=str(refusal))


CSRF_DETAIL = "the form was not sent with this session's security token: reload the page and try again"
FORBIDDEN_DETAIL = "your role may read, not change: billers and admins may"


class PageRoute(APIRoute):
    """A page route: what goes wrong becomes an HTML answer, not the API's JSON problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return redirect(login_url(exc.next_url), request=request)
            except PasswordChangeRequired:
                return redirect(PASSWORD_PATH, request=request)
            except CsrfRejected:
                return render_problem(request, status=403, title="Forbidden", detail=CSRF_DETAIL)
            except PageForbidden:
                return render_problem(request, status=403, title="Forbidden", detail=FORBIDDEN_DETAIL)
            except Refusal as exc:
                return render_refusal(request, exc)
            except RequestValidationError as exc:
                return render_problem(request, status=422, title="Invalid input", detail=_first_error(exc))

        return answer


def _first_error(error: RequestValidationError) -> str:
    errors = error.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())[1:])
    reason = str(first.get("msg", "invalid value"))  # never the value itself
    return f"{where}: {reason}" if where else reason


def page_router(*, public: bool = False) -> APIRouter:
    """A router for pages: signed-in users only (``public``: anyone, for the login page), CSRF-checked
    POSTs, HTML errors. Page routes are left out of the OpenAPI document (it describes /v1)."""
    dependencies = [Depends(csrf_protect)] if public else [Depends(signed_in), Depends(csrf_protect)]
    return APIRouter(route_class=PageRoute, dependencies=dependencies, include_in_schema=False)


# --- template helpers -------------------------------------------------------------------------------------------


def money(amount: float | Decimal | None) -> str:
    """``$1,234.50``; an em dash for no amount."""
    return "—" if amount is None else f"${amount:,.2f}"


def long_date(day: date | None) -> str:
    return "—" if day is None else f"{day:%b} {day.day}, {day.year}"


def paragraphs(text: str) -> Markup:
    """Documentation text (blank lines between paragraphs, ``code`` in double backquotes) as HTML."""
    html = []
    for block in text.split("\n\n"):
        escaped = str(escape(" ".join(block.split())))
        parts = escaped.split("``")
        marked = "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))
        html.append(f"<p>{marked}</p>")
    return Markup("\n".join(html))


SEVERITY_LABELS = {"error": "Error", "warning": "Warning", "info": "Info"}


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITY_LABELS, 0)
    for finding in findings:
        counts[finding.severity] += 1
    return counts


@pass_context
def csrf_field(context: Mapping[str, Any]) -> Markup:
    """The hidden field every POST form carries: ``{{ csrf_field() }}``."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, context["csrf_token"])


templates.env.filters["money"] = money
templates.env.filters["long_date"] = long_date
templates.env.filters["paragraphs"] = paragraphs
templates.env.filters["severity_counts"] = severity_counts
templates.env.filters["cited"] = cited  # a trace step's source, as scrub --trace prints it
templates.env.globals["severity_labels"] = SEVERITY_LABELS
templates.env.globals["CSRF_HEADER"] = CSRF_HEADER
templates.env.globals["csrf_field"] = csrf_field
