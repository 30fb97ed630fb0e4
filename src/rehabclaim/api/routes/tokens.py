"""API tokens for the acting user: create one (its secret is in this response only), list and revoke."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, DatabaseDep, RawBody, decode_json
from rehabclaim.api.openapi import body_doc, returns, schema_of
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import accounts

router = APIRouter(prefix="/v1/tokens", tags=["accounts"])


class TokenRequest(msgspec.Struct, frozen=True):
    """``name``: what the token is for (the integration's name), 1 to 64 printable characters."""

    name: str


@router.post(
    "",
    status_code=201,
    responses=returns(accounts.NewToken, "The new token; `secret` is shown this once", status=201),
    openapi_extra=body_doc(schema_of(TokenRequest)),
)
def create_token(body: RawBody, actor: ActorDep, database: DatabaseDep) -> Response:
    """A token for yourself with your role (an admin makes others' with `rehabclaim user token`)."""
    request = decode_json(body, TokenRequest)
    token = accounts.create_token(database, user=actor.user, name=request.name, actor=actor)
    return StructResponse(token, status_code=201, headers={"Cache-Control": "no-store"})


@router.get(
    "", responses=returns(list[accounts.TokenSummary], "Your tokens (an admin's: everyone's), never their secrets")
)
def list_tokens(actor: ActorDep, database: DatabaseDep) -> Response:
    return StructResponse(accounts.list_tokens(database, actor=actor))


@router.delete("/{token_id}", responses=returns(accounts.TokenSummary, "The token, revoked"))
def revoke_token(token_id: int, actor: ActorDep, database: DatabaseDep) -> Response:
    return StructResponse(accounts.revoke_token(database, token_id=token_id, actor=actor))
