"""``GET /v1/denials``: denied and partly paid lines of the remittances in the ledger, with the next step for
each, filtered and paged (``rehabclaim denials --json``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, DatabaseDep, PageDep, ReferenceDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import denials

router = APIRouter(prefix="/v1", tags=["denials"])


@router.get("/denials", responses=returns(denials.Worklist, "The page of work items and how many there are"))
def worklist(
    database: DatabaseDep,
    reference: ReferenceDep,
    page: PageDep,
    _actor: ActorDep,
    payer: Annotated[str | None, Query(max_length=128, description="Part of the payer's name, any case")] = None,
    reason: Annotated[str | None, Query(max_length=8, description="A CARC (`50`) or with its group (`CO-50`)")] = None,
    since: Annotated[date | None, Query(description="Dates of service from (included)")] = None,
    until: Annotated[date | None, Query(description="Dates of service through (included)")] = None,
    status: Annotated[
        str | None,
        Query(max_length=16, description="A claim status (CLP02: `4` denied) or denial, patient, contractual, info"),
    ] = None,
) -> Response:
    items = denials.worklist(
        database,
        reference=reference,
        payer=payer,
        reason=reason,
        since=since,
        until=until,
        status=status,
        limit=page.limit,
        offset=page.offset,
    )
    return StructResponse(items)
