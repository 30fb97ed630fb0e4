"""``GET /v1/health``: the one route without authentication (for load balancers and monitors): the version,
and whether the ledger answers (503 problem when it does not)."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from rehabclaim import __version__
from rehabclaim.api.deps import DatabaseDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.ledger.database import failure_reason
from rehabclaim.services.errors import Unavailable

router = APIRouter(prefix="/v1", tags=["health"])


class Health(msgspec.Struct, frozen=True):
    status: str
    version: str


@router.get("/health", responses=returns(Health, "The server and its ledger answer"))
def health(database: DatabaseDep) -> Response:
    try:
        with database.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise Unavailable("", f"the ledger does not answer: {failure_reason(exc)}") from None
    return StructResponse(Health(status="ok", version=__version__))
