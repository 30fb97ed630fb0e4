"""Claims: build one 837P batch from visits (kept in the ledger; ``secondary``: the visits' secondary claims),
list the batches, and fetch one's 837P (a download), its CMS-1500 data (JSON) or its FHIR R4 Bundle of Claims
(none of either for secondary claims)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, ChangerDep, DatabaseDep, PageDep, RawBody, ReferenceDep, SettingsDep
from rehabclaim.api.openapi import body_doc, returns, schema_of
from rehabclaim.api.pages import ListPage, paged
from rehabclaim.api.problems import PROBLEM_MEDIA_TYPE, Problem
from rehabclaim.api.responses import FHIR_JSON, NDJSON, StructResponse, X12Response
from rehabclaim.api.visits_body import visits_in
from rehabclaim.model import Visit
from rehabclaim.services import claims

router = APIRouter(prefix="/v1/claims", tags=["claims"])
ControlNumber = Annotated[int, Path(ge=1, le=999_999_999, description="The batch's ISA13")]
BODY = body_doc(
    {"oneOf": [schema_of(Visit), {"type": "array", "items": schema_of(Visit)}]},
    "application/json",
    NDJSON,
    description="The visits to bill, with their claim data: one, a JSON array, or JSON Lines",
)


@router.post(
    "",
    status_code=201,
    responses=returns(
        claims.ClaimBatch,
        "201: a batch was built and kept (`control_number`). 200: none (every visit held back or already sent). "
        "`report` is what `rehabclaim claim --json` prints. `secondary=true`: `claim --secondary`, each visit's "
        "claim to its secondary payer carrying the primary's posted 835; a visit with nothing to send on is held "
        "back with the reason (finding `COB`); no CMS-1500 data or FHIR Bundle is kept for such a batch.",
        status=201,
    ),
    openapi_extra=BODY,
)
def build_claims(
    body: RawBody,
    reference: ReferenceDep,
    database: DatabaseDep,
    settings: SettingsDep,
    actor: ChangerDep,
    resend: Annotated[bool, Query(description="Send visits already sent again, as original claims.")] = False,
    secondary: Annotated[
        bool, Query(description="Secondary claims: each visit's claim to its secondary payer, with the primary's 835.")
    ] = False,
) -> Response:
    visits = visits_in(body, reference=reference, max_visits=settings.max_visits_per_request)
    batch = claims.build_claims(
        database,
        reference=reference,
        visits=visits,
        actor=actor,
        resend=resend,
        destination=claims.TO_LEDGER,
        secondary=secondary,
    )
    return StructResponse(batch, status_code=201 if batch.control_number is not None else 200)


@router.get("", responses=returns(ListPage[claims.ClaimBatchSummary], "The batches, newest first"))
def list_claims(request: Request, page: PageDep, database: DatabaseDep, _actor: ActorDep) -> Response:
    def fetch(limit: int, offset: int) -> list[claims.ClaimBatchSummary]:
        return claims.list_claim_batches(database, limit=limit, offset=offset)

    return StructResponse(paged(request, page, fetch))


@router.get(
    "/{control_number}/837p",
    response_class=X12Response,
    responses={200: {"description": "The 837P interchange as sent", "content": {"text/plain": {}}}},
)
def claim_837p(control_number: ControlNumber, database: DatabaseDep, _actor: ActorDep) -> Response:
    batch = claims.claim_batch(database, control_number=control_number)
    disposition = f'attachment; filename="claims-{batch.control_number:09d}.x12"'
    return X12Response(batch.x837, headers={"Content-Disposition": disposition})


@router.get(
    "/{control_number}/cms1500",
    responses={
        200: {"description": "The claims keyed by CMS-1500 item numbers"},
        404: {
            "description": "No such batch kept in the ledger, or a batch of secondary claims (`secondary=true`): "
            "no CMS-1500 data is kept for those, the form has no place for the primary's payment (their 837P "
            "carries it); `detail` says which",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema_of(Problem)}},
        },
    },
)
def claim_cms1500(control_number: ControlNumber, database: DatabaseDep, _actor: ActorDep) -> Response:
    forms = claims.claim_forms(database, control_number=control_number)
    return StructResponse(bytes(forms))  # the bytes `claim --cms1500` writes to its file


@router.get(
    "/{control_number}/fhir",
    responses={
        200: {
            "description": "The batch's claims as a FHIR R4 `collection` Bundle of Claims, each checked by the R4B "
            "models: the bytes `claim --fhir` writes for the same visits, dated the day the batch was built",
            "content": {FHIR_JSON: {}},
        },
        404: {
            "description": "No such batch kept in the ledger, a batch of secondary claims, or one kept before "
            "FHIR Bundles were (its visits are not stored to make one); `detail` says which",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema_of(Problem)}},
        },
    },
)
def claim_fhir(control_number: ControlNumber, database: DatabaseDep, _actor: ActorDep) -> Response:
    bundle = claims.claim_fhir(database, control_number=control_number)
    return Response(bytes(bundle), media_type=FHIR_JSON)
