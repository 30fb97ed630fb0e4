"""``GET /v1/fees/{code}``: the Medicare fee computation, step by step (``rehabclaim fee --json``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, ReferenceDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import fees

router = APIRouter(prefix="/v1", tags=["fees"])


@router.get("/fees/{code}", responses=returns(fees.FeeResult, "RVUs x GPCIs x conversion factor, then the MPPR"))
def fee(
    code: str,
    reference: ReferenceDep,
    _actor: ActorDep,
    date: Annotated[str | None, Query(max_length=10, description="Date of service, YYYY-MM-DD")] = None,
    year: Annotated[int | None, Query(ge=1, le=9999, description="Calendar year (default: the date's)")] = None,
    locality: Annotated[str | None, Query(max_length=16, description="MAC:LOCALITY (default: the practice's)")] = None,
    units: Annotated[int, Query(ge=1, le=fees.MAX_UNITS, description="Units (MPPR from the second)")] = 1,
) -> Response:
    return StructResponse(fees.fee(reference, code=code, day=date, year=year, locality=locality, units=units))
