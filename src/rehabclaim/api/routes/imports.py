"""Imports: ``POST /v1/imports/fhir`` (an EMR's FHIR R4 Bundle into visits, as ``rehabclaim import fhir
--json`` prints them) and ``POST /v1/imports/xr`` (XR sessions attached to their visits as 0770T evidence,
as ``rehabclaim import xr --json``). What cannot be mapped or attached is listed in a 200, never dropped."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, RawBody, ReferenceDep, SettingsDep, decode_json
from rehabclaim.api.openapi import body_doc, returns, schema_of
from rehabclaim.api.responses import FHIR_JSON, StructResponse
from rehabclaim.model import Visit
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, TooLarge
from rehabclaim.services.fhir import FhirImport, import_bundle
from rehabclaim.services.imports import attach_xr_sessions
from rehabclaim.services.scrub import read_visits
from rehabclaim.xr.matching import XrImport
from rehabclaim.xr.session import XrSession

router = APIRouter(prefix="/v1/imports", tags=["imports"])

# --- fhir --------------------------------------------------------------------------------------------------

FHIR_BODY = body_doc(
    {"type": "object", "description": "A FHIR R4 Bundle (resourceType Bundle), as an EMR exports it"},
    "application/json",
    FHIR_JSON,
    description="The Bundle `rehabclaim import fhir BUNDLE.json` reads",
)


@router.post(
    "/fhir",
    responses=returns(FhirImport, "The visits in our JSON contract, and every item not mapped with its reason"),
    openapi_extra=FHIR_BODY,
)
def import_fhir(body: RawBody, reference: ReferenceDep, _actor: ActorDep) -> Response:
    """A Bundle that is not valid R4: 422 naming the entry, resource and path; nothing is imported."""
    return StructResponse(import_bundle(reference, data=body))


# --- xr: the other section of this module ----------------------------------------------------------------


class XrImportRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /v1/imports/xr`` (documented; read as ``_XrParts``, each part by its own reader)."""

    sessions: XrSession | list[XrSession]
    visits: list[Visit]


class _XrParts(msgspec.Struct, forbid_unknown_fields=True):
    sessions: msgspec.Raw
    visits: list[msgspec.Raw]


XR_BODY = body_doc(
    schema_of(XrImportRequest),
    description='{"sessions": <one XR session, or a list>, "visits": [<visit>, ...]}',
)


@router.post(
    "/xr",
    responses=returns(
        XrImport,
        "Every visit (enriched where a session was attached), the attachments, and "
        "each session attached nowhere with its reason",
    ),
    openapi_extra=XR_BODY,
)
def import_xr(body: RawBody, reference: ReferenceDep, settings: SettingsDep, _actor: ActorDep) -> Response:
    """A session or visit that cannot be read: 422 naming it (``sessions[1].session_end``,
    ``visits[0].services[1].code``); nothing is attached. More visits than the server takes: 413."""
    parts = decode_json(body, _XrParts)
    if len(parts.visits) > settings.max_visits_per_request:
        raise TooLarge("visits", f"{len(parts.visits):,} visits; at most {settings.max_visits_per_request:,}")
    visits = [_visit(reference, raw, index) for index, raw in enumerate(parts.visits)]
    try:
        result = attach_xr_sessions(reference, sessions_data=bytes(parts.sessions), visits=visits, json_lines=False)
    except BadInput as exc:  # one session: "session_end"; a list: "sessions[1].session_end" already
        raise BadInput(_within("sessions", exc.field), exc.reason) from None
    return StructResponse(result)


def _visit(reference: Reference, raw: msgspec.Raw, index: int) -> Visit:
    try:
        (visit,) = read_visits(bytes(raw), reference=reference, json_lines=False)
    except BadInput as exc:
        raise BadInput(_within(f"visits[{index}]", exc.field), exc.reason) from None
    return visit


def _within(prefix: str, field: str) -> str:
    """``field`` as a path from the request body's top (the line numbers of a part say nothing there)."""
    if field == prefix or field.startswith((f"{prefix}[", f"{prefix}.")):
        return field
    return f"{prefix}.{field}" if field else prefix
