"""``GET /v1/audit``: who changed what and when (admins only), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from rehabclaim.api.deps import AdminDep, DatabaseDep, PageDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.pages import ListPage, paged
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import audit

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", responses=returns(ListPage[audit.AuditEntry], "The audit trail, newest first"))
def audit_trail(
    request: Request,
    page: PageDep,
    database: DatabaseDep,
    _admin: AdminDep,
    user: Annotated[str | None, Query(max_length=64, description="Only this user's events")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Only this action (`visit.post`...)")] = None,
) -> Response:
    def fetch(limit: int, offset: int) -> list[audit.AuditEntry]:
        return audit.audit_events(database, limit=limit, offset=offset, user=user, action=action)

    return StructResponse(paged(request, page, fetch))
