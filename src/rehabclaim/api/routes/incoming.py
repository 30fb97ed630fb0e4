"""Claims in: ``POST /v1/claims/incoming`` scrubs an incoming 837P (a clinic's EMR file, the body) claim by
claim, as ``rehabclaim scrub claims.837 --json`` prints it (the same bytes). ``corrected=true`` adds the
corrected 837P's text (``corrected_837``: the claims without errors, each under its own billing provider),
numbered with the ledger's control numbers, so it needs a biller or admin. An unreadable file: 422 naming the
segment; more claims than the server takes in one request: 413, nothing scrubbed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, DatabaseDep, RawBody, ReferenceDep, SettingsDep, require_changer
from rehabclaim.api.openapi import body_doc, returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.services.incoming import Incoming837Report, scrub_837

router = APIRouter(prefix="/v1/claims", tags=["claims"])
BODY = body_doc(
    {"type": "string", "format": "binary"},
    "application/edi-x12",
    "text/plain",
    description="An 837P (005010X222A1 or A2; several interchanges allowed), as `rehabclaim scrub claims.837` reads",
)


@router.post(
    "/incoming",
    responses=returns(Incoming837Report, "Each claim's scrub, the claims held back with reasons, what is unchecked"),
    openapi_extra=BODY,
)
def scrub_incoming(
    body: RawBody,
    reference: ReferenceDep,
    database: DatabaseDep,
    settings: SettingsDep,
    actor: ActorDep,
    corrected: Annotated[
        bool, Query(description="Also return the corrected 837P's text (takes control numbers: biller or admin).")
    ] = False,
) -> Response:
    if corrected:
        require_changer(actor)
    report = scrub_837(
        reference,
        data=body,
        database=database if corrected else None,
        corrected=corrected,
        max_claims=settings.max_visits_per_request,
    )
    return StructResponse(report)
