"""Typed dependencies: the Reference and the ledger the server holds, the acting user, pagination and the
request body. A route names what it needs (``reference: ReferenceDep``) and gets it checked and typed.

Who acts: ``Authorization: Bearer <token>`` (an API token, ``services.accounts.actor_for_token``) or the
web page's signed session cookie, whose ``session["user"]`` the web login sets (with ``session["role"]``
for the page's own use; the role that counts is the account's current one, read on every request). A
session whose account was disabled or removed since is refused and cleared. No credentials, or bad ones:
401 with ``WWW-Authenticate: Bearer``. With the session cookie, a change (any method but GET, HEAD,
OPTIONS) must carry the page's CSRF token in ``X-CSRF-Token``, and nothing is allowed while the account's
generated password must still be changed (403 for either).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, TypeVar

import msgspec
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from rehabclaim.api.settings import ServerSettings
from rehabclaim.errors import short_reason, validation_field
from rehabclaim.reference import Reference
from rehabclaim.services.accounts import actor_for_token, actor_for_user
from rehabclaim.services.actor import Actor
from rehabclaim.services.errors import BadInput, Forbidden, Unauthenticated

SESSION_USER = "user"  # set by the web login: the account's name
SESSION_ROLE = "role"  # set by the web login: its role then (for the page; authorisation reads the ledger)
SESSION_MUST_CHANGE = "must_change_password"  # set by the web login: a generated password not yet changed
SESSION_CSRF = "csrf"  # the web page's CSRF token, made by the page
CSRF_HEADER = "X-CSRF-Token"  # a change made with the session cookie carries the token here
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_OFFSET = 2**31 - 1  # an offset the ledger's INTEGER arithmetic can take on every backend
Body = TypeVar("Body")

bearer = HTTPBearer(auto_error=False, description="An API token (`POST /v1/tokens`, `rehabclaim user token`).")


def get_settings(request: Request) -> ServerSettings:
    settings = request.app.state.settings
    assert isinstance(settings, ServerSettings)
    return settings


def get_reference(request: Request) -> Reference:
    """The Reference in force when the request began (a reload mid-request does not change it under it)."""
    reference = request.app.state.reference
    assert isinstance(reference, Reference)
    return reference


def get_database(request: Request) -> Engine:
    database = request.app.state.database
    assert isinstance(database, Engine)
    return database


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
ReferenceDep = Annotated[Reference, Depends(get_reference)]
DatabaseDep = Annotated[Engine, Depends(get_database)]


def get_actor(
    request: Request,
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is not None:
        return actor_for_token(database, secret=credentials.credentials)
    session: dict[str, Any] = request.scope.get("session") or {}
    name = session.get(SESSION_USER)
    if not isinstance(name, str):
        raise Unauthenticated("", "credentials required: Authorization: Bearer <API token>, or log in on the web page")
    try:
        actor = actor_for_user(database, name=name, channel="web")
    except Unauthenticated:
        session.clear()  # the cookie is dropped with this 401
        raise
    if session.get(SESSION_MUST_CHANGE):
        raise Forbidden("", "the password of this account must be changed first (on the web page)")
    if request.method not in SAFE_METHODS and not _csrf_matches(request, session):
        raise Forbidden(CSRF_HEADER, "a change made with the web session must carry the page's CSRF token")
    return actor


def _csrf_matches(request: Request, session: dict[str, Any]) -> bool:
    expected = session.get(SESSION_CSRF)
    sent = request.headers.get(CSRF_HEADER, "")
    return isinstance(expected, str) and bool(expected) and secrets.compare_digest(sent.encode(), expected.encode())


ActorDep = Annotated[Actor, Depends(get_actor)]


def require_changer(actor: ActorDep) -> Actor:
    if not actor.may_change:
        raise Forbidden("", f"the {actor.role} role may read, not change (billers and admins may)")
    return actor


def require_admin(actor: ActorDep) -> Actor:
    if actor.role != "admin":
        raise Forbidden("", "only an admin may do this")
    return actor


ChangerDep = Annotated[Actor, Depends(require_changer)]
AdminDep = Annotated[Actor, Depends(require_admin)]


class Page(msgspec.Struct, frozen=True):
    """Which slice of a list: ``limit`` items from ``offset``."""

    limit: int
    offset: int


def get_page(
    settings: SettingsDep,
    limit: Annotated[
        int | None, Query(ge=1, description="Items per page (default and maximum: server settings).")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> Page:
    if limit is None:
        return Page(limit=settings.page_size_default, offset=offset)
    if limit > settings.page_size_max:
        raise BadInput("limit", f"at most {settings.page_size_max} expected")
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(get_page)]


async def read_body(request: Request) -> bytes:
    """The whole body (within the server's limit: ``limits.BodyLimit``), read before any service is called."""
    return await request.body()


RawBody = Annotated[bytes, Depends(read_body)]


def decode_json(data: bytes, kind: type[Body]) -> Body:
    """A small JSON request body (not a visit: those go through ``services.scrub.read_visits``) as ``kind``;
    a bad one is a 422 naming the field."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        field, reason = validation_field(str(exc))
        raise BadInput(field, short_reason(reason)) from None
    except msgspec.DecodeError as exc:
        raise BadInput("", f"not JSON: {short_reason(str(exc))}") from None
