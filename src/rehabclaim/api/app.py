"""The REST API: ``create_app(settings)`` builds the FastAPI application ``rehabclaim serve`` runs.

The application holds, in ``app.state``, the ``settings``, the ``reference`` (``load_reference``: replaced
whole by ``POST /v1/admin/reload``) and the ledger's ``database`` (``open_ledger``: migrated on start,
disposed at shutdown). Routes live in ``rehabclaim.api.routes``, one module per resource, under ``/v1``.

The web page mounts itself here: when ``rehabclaim.web`` has a ``mount(app)`` function, ``create_app``
calls it last, so its pages share this application's sessions, limits, problems and ledger.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse, Response

from rehabclaim import __version__
from rehabclaim.api.deps import ActorDep
from rehabclaim.api.limits import BodyLimit, Deadline, RequestGuard
from rehabclaim.api.openapi import install_openapi
from rehabclaim.api.problems import install_problem_handlers
from rehabclaim.api.responses import StructResponse
from rehabclaim.api.routes import ROUTERS
from rehabclaim.api.settings import ServerSettings, session_secret
from rehabclaim.ledger.database import open_ledger
from rehabclaim.reference import load_reference

SESSION_COOKIE = "rehabclaim_session"
SESSION_MAX_AGE = 12 * 60 * 60  # a working day: a cookie left on a shared machine does not stay valid for long
DESCRIPTION = """Therapy visits in, clean claim lines out: scrub visits, post them to the ledger, build 837P claims,
post 835 remittances and work the denials.

Every route but `/v1/health` needs an API token (`Authorization: Bearer rc_...`; `POST /v1/tokens`, or
`rehabclaim user token`) or a web login. Errors are RFC 9457 problem details (`application/problem+json`)
naming the `field` and, in JSON Lines, the `line`. Lists take `limit` and `offset` and give the `next` page.
Request bodies are limited in size and in visits; a request that takes too long is answered 504."""


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The application on ``settings``: opens (and migrates) the ledger and loads the Reference now, so a bad
    database URL, practice or drop-in file fails here (LedgerUnavailable, DataFileError, SecretKeyError)."""
    settings = settings or ServerSettings()
    secret = session_secret(settings)
    reference = load_reference(settings.practice)
    database = open_ledger(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        database.dispose()

    app = FastAPI(
        title="rehabclaim",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below, behind authentication like every other route
        redoc_url=None,
        openapi_url=None,
        default_response_class=StructResponse,
    )
    app.state.settings = settings
    app.state.reference = reference
    app.state.database = database
    install_problem_handlers(app)
    _add_layers(app, settings, secret)
    for router in ROUTERS:
        app.include_router(router)
    install_openapi(app)
    _add_documentation(app)
    _mount_web(app)
    return app


def _add_layers(app: FastAPI, settings: ServerSettings, secret: str) -> None:
    """The last added runs first: RequestGuard, Deadline, BodyLimit, then the session."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(Deadline, seconds=settings.request_timeout_seconds)
    app.add_middleware(RequestGuard)


def _add_documentation(app: FastAPI) -> None:
    """OpenAPI at /openapi.json and Swagger UI at /docs, for a signed-in user or a token holder."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_actor: ActorDep) -> Response:
        return StructResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_actor: ActorDep) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="rehabclaim API")


def _mount_web(app: FastAPI) -> None:
    try:
        web = importlib.import_module("rehabclaim.web")
    except ModuleNotFoundError as exc:
        if exc.name != "rehabclaim.web":
            raise
        return
    mount = getattr(web, "mount", None)
    if callable(mount):
        mount(app)
