"""Codes: one code's facts, ranked search, and the units timed minutes earn (the CLI's ``code``, ``search``
and ``units``, same JSON)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, ReferenceDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import catalog
from rehabclaim.services.errors import BadInput

router = APIRouter(prefix="/v1", tags=["codes"])
_ARGUMENT = re.compile(r"argument (?P<position>[0-9]+)")


@router.get("/codes/{code}", responses=returns(catalog.CodeFacts, "The code's facts"))
def code(code: str, reference: ReferenceDep, _actor: ActorDep) -> Response:
    return StructResponse(catalog.code_facts(reference, code=code))


@router.get("/codes", responses=returns(list[catalog.SearchHit], "The best matches, best first"))
def search(
    reference: ReferenceDep,
    _actor: ActorDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words or shorthand: therex, NMR, MT...")],
    limit: Annotated[int, Query(ge=1, le=catalog.MAX_SEARCH_RESULTS)] = 10,
) -> Response:
    return StructResponse(catalog.search_codes(reference, query=q, limit=limit))


@router.get("/units", responses=returns(catalog.UnitPlanResult, "Units per code, with the reasoning"))
def units(
    reference: ReferenceDep,
    _actor: ActorDep,
    codes: Annotated[
        list[str],
        Query(min_length=1, description="CODE:MINUTES (or CODE=MINUTES), repeated: `?codes=97110:33&codes=97140:7`"),
    ],
    method: Annotated[str, Query(description="`cms` (total timed minutes) or `per-code`")] = "cms",
) -> Response:
    try:
        services = catalog.parse_pairs([pair.replace(":", "=", 1) for pair in codes])
    except BadInput as exc:  # the CLI's "argument N" is the query's codes[N - 1]
        named = _ARGUMENT.fullmatch(exc.field)
        field = f"codes[{int(named['position']) - 1}]" if named else exc.field
        raise BadInput(field, exc.reason) from None
    return StructResponse(catalog.units(reference, services=services, method=method))
