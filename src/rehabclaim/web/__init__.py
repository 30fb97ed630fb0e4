"""The billers' web page: server-rendered Jinja2 templates and htmx (vendored under ``static/vendor``, no build
step), on the same application, sessions and ledger as the REST API.

``install(app, settings)`` (``mount(app)`` reads the settings from ``app.state``) adds ``/static``, the
session cookie (unless the application has one already), and the page routers: the core pages
(``rehabclaim.web.pages``: login, visit entry, calculator, codes, rules, patients) and the billing pages
(``rehabclaim.web.billing`` when it is there). Shared helpers are in ``rehabclaim.web.core``.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from rehabclaim.api.settings import ServerSettings, session_secret

SESSION_COOKIE = "rehabclaim_session"
SESSION_MAX_AGE = 12 * 60 * 60
# each has ``ROUTERS`` (or one ``router``); the billing pages may not be there yet
PAGE_MODULES = ("rehabclaim.web.pages", "rehabclaim.web.billing", "rehabclaim.web.imports", "rehabclaim.web.assistant")


def install(app: FastAPI, settings: ServerSettings) -> None:
    """The pages on ``app``: its ``app.state`` must hold ``reference`` and ``database`` (``create_app`` does)."""
    if not any(getattr(layer, "cls", None) is SessionMiddleware for layer in app.user_middleware):
        app.add_middleware(
            SessionMiddleware,
            secret_key=session_secret(settings),
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            same_site="strict",
            https_only=settings.secure_cookies,
        )
    app.mount("/static", StaticFiles(packages=[("rehabclaim.web", "static")]), name="static")
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        for router in getattr(module, "ROUTERS", None) or (module.router,):
            app.include_router(router)


def mount(app: FastAPI) -> None:
    """``install`` with the settings ``create_app`` keeps in ``app.state``."""
    settings = app.state.settings
    assert isinstance(settings, ServerSettings)
    install(app, settings)
