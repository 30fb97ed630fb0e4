"""The coding assistant: ``POST /v1/ask`` (a question answered from our docs, ``rehabclaim ask --json``) and
``POST /v1/suggest`` (a note to codes)."""

from __future__ import annotations

from datetime import date

import msgspec
from fastapi import APIRouter
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, RawBody, ReferenceDep, decode_json
from rehabclaim.api.openapi import body_doc, returns, schema_of
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import assistant

router = APIRouter(prefix="/v1", tags=["assistant"])

# --- ask -----------------------------------------------------------------------------------------------


class AskRequest(msgspec.Struct, forbid_unknown_fields=True):
    question: str
    limit: int = 5


ASK_BODY = body_doc(schema_of(AskRequest), description='{"question": "can I bill 97760 with an L-code?"}')


@router.post(
    "/ask", responses=returns(assistant.Answer, "Ranked sources, and the engine's result"), openapi_extra=ASK_BODY
)
def ask(body: RawBody, reference: ReferenceDep, _actor: ActorDep) -> Response:
    request = decode_json(body, AskRequest)
    return StructResponse(assistant.ask(reference, question=request.question, limit=request.limit))


# --- suggest: the other section of this module -------------------------------------------------------


class SuggestRequest(msgspec.Struct, forbid_unknown_fields=True):
    note: str
    discipline: str
    payer: str | None = None
    date: date | None = None  # the date of service; default: the date written in the note (never today's)


SUGGEST_BODY = body_doc(
    schema_of(SuggestRequest),
    description='{"note": "TE 25\', MT 10 min, HP", "discipline": "PT", "payer": "medicare", "date": "2026-06-01"}',
)


@router.post(
    "/suggest",
    responses=returns(assistant.Suggestion, "Proposed services, questions and the scrub of the proposal"),
    openapi_extra=SUGGEST_BODY,
)
def suggest(body: RawBody, reference: ReferenceDep, _actor: ActorDep) -> Response:
    request = decode_json(body, SuggestRequest)
    return StructResponse(
        assistant.suggest(
            reference, note=request.note, discipline=request.discipline, payer=request.payer, date=request.date
        )
    )
