"""Remittances (835): upload one to post it (the raw file as the body, or a multipart form's ``file``), check
one without posting (``rehabclaim remit --json``), and list those posted. A file that does not balance is
not posted: 422 with every imbalance. The same 835, or a payment in it, posted again: 409."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, ChangerDep, DatabaseDep, PageDep
from rehabclaim.api.openapi import body_doc, returns
from rehabclaim.api.pages import ListPage, paged
from rehabclaim.api.problems import PROBLEM_BASE, ImbalanceProblem, problem_response
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import remittances
from rehabclaim.services.errors import BadInput
from rehabclaim.x12.remit835 import Remittance

router = APIRouter(prefix="/v1/remittances", tags=["remittances"])
FILE_FIELD = "file"
BODY = body_doc(
    {"type": "string", "format": "binary"},
    "application/edi-x12",
    "text/plain",
    "application/octet-stream",
    description=f"The 835 file as the body, or a multipart/form-data form with the file as `{FILE_FIELD}`",
)


class RemittanceUpload(msgspec.Struct):
    """What was posted, and the file as read (``rehabclaim remit --json``)."""

    posting: remittances.RemittancePosting
    remittance: Remittance


async def uploaded_835(request: Request) -> bytes:
    """The 835's bytes: a multipart form's ``file``, or else the body itself."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await request.body()
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise BadInput(FILE_FIELD, f"expected the 835 file in the form field {FILE_FIELD!r}")
        return await upload.read()


Upload = Annotated[bytes, Depends(uploaded_835)]


@router.post(
    "",
    status_code=201,
    responses=returns(RemittanceUpload, "Posted: the claims matched to our visits, and the file as read", status=201),
    openapi_extra=BODY,
)
def post_remittance(data: Upload, database: DatabaseDep, actor: ChangerDep) -> Response:
    read = remittances.read_remittance(data=data)
    try:
        posting = remittances.post_remittance(database, data=data, actor=actor, remittance=read)
    except BadInput as refusal:
        if not read.imbalances:
            raise
        return problem_response(_imbalanced(refusal, read))
    return StructResponse(RemittanceUpload(posting=posting, remittance=read), status_code=201)


def _imbalanced(refusal: BadInput, read: Remittance) -> ImbalanceProblem:
    return ImbalanceProblem(
        type=PROBLEM_BASE + "unbalanced-835",
        title="The 835 does not balance",
        status=422,
        detail=str(refusal),
        imbalances=read.imbalances,
    )


@router.post(
    "/check", responses=returns(Remittance, "The 835 as read, with every imbalance; nothing posted"), openapi_extra=BODY
)
def check_remittance(data: Upload, _actor: ActorDep) -> Response:
    return StructResponse(remittances.read_remittance(data=data))


@router.get("", responses=returns(ListPage[remittances.RemittanceSummary], "The remittances posted, newest first"))
def list_remittances(request: Request, page: PageDep, database: DatabaseDep, _actor: ActorDep) -> Response:
    def fetch(limit: int, offset: int) -> list[remittances.RemittanceSummary]:
        return remittances.list_remittances(database, limit=limit, offset=offset)

    return StructResponse(paged(request, page, fetch))
