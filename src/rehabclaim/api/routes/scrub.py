"""Scrubbing: one visit (``POST /v1/scrub``: the JSON contract, the result the CLI's ``scrub --json`` prints)
and many (``POST /v1/scrub/batch``: JSON Lines in, JSON Lines out, one result or line error per visit, in
input order, streamed as they are ready)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from rehabclaim.api.deps import ActorDep, DatabaseDep, RawBody, ReferenceDep, SettingsDep
from rehabclaim.api.openapi import body_doc, returns, schema_of
from rehabclaim.api.responses import NDJSON, StructResponse
from rehabclaim.ledger.history import LedgerHistory
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.services.errors import TooLarge
from rehabclaim.services.scrub import LineError, read_visits, scrub_lines, scrub_visit

router = APIRouter(prefix="/v1/scrub", tags=["scrub"])
VISIT_BODY = body_doc(schema_of(Visit), description="One visit, as `rehabclaim scrub visit.json` reads it")
LINES_BODY = body_doc(
    {"type": "string", "description": "One visit (JSON) per line"}, NDJSON, description="Visits as JSON Lines"
)


@router.post(
    "", responses=returns(ScrubResult, "Units, modifiers, findings and the expected payment"), openapi_extra=VISIT_BODY
)
def scrub(
    body: RawBody,
    reference: ReferenceDep,
    database: DatabaseDep,
    _actor: ActorDep,
    ledger: Annotated[bool, Query(description="Scrub with the patient's history from the ledger.")] = False,
    trace: Annotated[
        bool,
        Query(
            description="Add to each line a `trace`: the steps it came from (stage, what, source file, key, "
            "date); without it the result is unchanged."
        ),
    ] = False,
) -> Response:
    (visit,) = read_visits(body, reference=reference, json_lines=False)
    history = LedgerHistory(database) if ledger else None
    return StructResponse(scrub_visit(reference, visit=visit, history=history, trace=trace))


@router.post(
    "/batch",
    responses=returns(
        {"oneOf": [schema_of(ScrubResult), schema_of(LineError)]},
        "One result (or line error) per visit, in order, each on its own line",
        media_type=NDJSON,
    ),
    openapi_extra=LINES_BODY,
)
def scrub_batch(body: RawBody, reference: ReferenceDep, settings: SettingsDep, _actor: ActorDep) -> Response:
    """A line that is not a visit gets `{"line", "field", "error"}` and the others are still scrubbed. More
    visits than the server's limit per request: 413, nothing scrubbed."""
    lines = body.split(b"\n")
    visits = sum(1 for line in lines if line.strip())
    if visits > settings.max_visits_per_request:
        raise TooLarge("", f"{visits:,} visits; at most {settings.max_visits_per_request:,} in one request")
    return StreamingResponse(scrub_lines(reference, lines=lines), media_type=NDJSON)
