"""The payers: the configured profiles, and one payer's whole policy (``rehabclaim payers``/``payer``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, ReferenceDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.payers import PayerPolicy
from rehabclaim.services import payers

router = APIRouter(prefix="/v1/payers", tags=["payers"])


@router.get("", responses=returns(list[payers.PayerSummary], "The configured payers"))
def list_payers(reference: ReferenceDep, _actor: ActorDep) -> Response:
    return StructResponse(payers.list_payers(reference))


@router.get("/{key}", responses=returns(PayerPolicy, "The payer's whole policy"))
def payer(key: str, reference: ReferenceDep, _actor: ActorDep) -> Response:
    return StructResponse(payers.payer(reference, key=key), decimals="string")  # as `rehabclaim payer --json`
