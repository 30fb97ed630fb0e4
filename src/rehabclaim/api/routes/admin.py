"""``POST /v1/admin/reload``: read the reference data again (drop-in payer, CMS and ICD-10 files, the
practice) without a restart. A bad file is a 422 problem naming it, and the Reference in use stays."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from rehabclaim.api.deps import AdminDep, SettingsDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.datafiles import DataFileError
from rehabclaim.reference import load_reference
from rehabclaim.services.errors import BadInput

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class Reloaded(msgspec.Struct, frozen=True):
    """The reference now in use: its payers (configured keys) and its codes."""

    payers: list[str]
    codes: int


@router.post("/reload", responses=returns(Reloaded, "The new reference is in use"))
def reload(request: Request, settings: SettingsDep, _admin: AdminDep) -> Response:
    try:
        reference = load_reference(settings.practice)
    except (DataFileError, OSError) as exc:
        raise BadInput("", f"the reference was not reloaded (the one in use stays): {exc}") from None
    request.app.state.reference = reference  # one assignment: a request sees the old or the new one, whole
    payers = [policy.key for policy in reference.configured_payers()]
    return StructResponse(Reloaded(payers=payers, codes=len(reference.catalog.codes)))
