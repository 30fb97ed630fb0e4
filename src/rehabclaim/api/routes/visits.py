"""``POST /v1/visits``: scrub each visit with its patient's ledger history and post it when it has no error
finding (``rehabclaim scrub --post``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from rehabclaim.api.deps import ChangerDep, DatabaseDep, RawBody, ReferenceDep, SettingsDep
from rehabclaim.api.openapi import body_doc, returns, schema_of
from rehabclaim.api.responses import NDJSON, StructResponse
from rehabclaim.api.visits_body import visits_in
from rehabclaim.model import Visit
from rehabclaim.services import visits as visit_service

router = APIRouter(prefix="/v1/visits", tags=["visits"])
BODY = body_doc(
    {"oneOf": [schema_of(Visit), {"type": "array", "items": schema_of(Visit)}]},
    "application/json",
    NDJSON,
    description="One visit, a JSON array of visits, or JSON Lines",
)


@router.post(
    "",
    status_code=201,
    responses=returns(
        visit_service.PostedVisitResult | list[visit_service.PostedVisitResult],
        "201: every visit was posted. 200: one was not; `reason` says why (error findings, or for a list the "
        "refusal, `problem` its type). One visit posted before: 409, for a list it is listed.",
        status=201,
    ),
    openapi_extra=BODY,
)
def post_visits(
    body: RawBody, reference: ReferenceDep, database: DatabaseDep, settings: SettingsDep, actor: ChangerDep
) -> Response:
    visits = visits_in(body, reference=reference, max_visits=settings.max_visits_per_request)
    if len(visits) == 1 and not body.lstrip().startswith(b"["):
        one = visit_service.post_visit(database, reference=reference, visit=visits[0], actor=actor)
        return StructResponse(one, status_code=201 if one.posted else 200)
    many = visit_service.post_visits(database, reference=reference, visits=visits, actor=actor)
    return StructResponse(many, status_code=201 if all(result.posted for result in many) else 200)
