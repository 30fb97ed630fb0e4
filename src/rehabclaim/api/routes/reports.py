"""Reports on the ledger (``services.reports``): denials by reason and payer, paid against expected per code
and payer, underpaid lines, A/R aging and visits near the payer's timely-filing limit. Dates of service
bound them (``since``, ``until``); ``as_of`` is always given, never today's date by default."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from rehabclaim.api.deps import ActorDep, DatabaseDep, PageDep, ReferenceDep
from rehabclaim.api.openapi import returns
from rehabclaim.api.responses import StructResponse
from rehabclaim.services import reports

router = APIRouter(prefix="/v1/reports", tags=["reports"])
Since = Annotated[date | None, Query(description="Dates of service from (included)")]
Until = Annotated[date | None, Query(description="Dates of service through (included)")]
AsOf = Annotated[date, Query(description="The day ages and deadlines are counted to (YYYY-MM-DD)")]


@router.get("/denials", responses=returns(reports.DenialsReport, "Adjustments by group, reason and payer"))
def denials(
    database: DatabaseDep, reference: ReferenceDep, _actor: ActorDep, since: Since = None, until: Until = None
) -> Response:
    return StructResponse(reports.denials_by_reason_and_payer(database, reference=reference, since=since, until=until))


@router.get("/paid", responses=returns(reports.PaidReport, "Per payer and code: paid, allowed and expected per unit"))
def paid(
    database: DatabaseDep, reference: ReferenceDep, _actor: ActorDep, since: Since = None, until: Until = None
) -> Response:
    return StructResponse(reports.paid_against_expected(database, reference=reference, since=since, until=until))


@router.get("/underpaid", responses=returns(reports.UnderpaidReport, "Lines allowed less than expected, largest first"))
def underpaid(
    database: DatabaseDep,
    reference: ReferenceDep,
    page: PageDep,
    _actor: ActorDep,
    since: Since = None,
    until: Until = None,
    tolerance: Annotated[
        Decimal, Query(ge=0, le=1_000_000, description="Shortfalls up to this amount are not listed")
    ] = Decimal("0.01"),
) -> Response:
    report = reports.underpaid_lines(
        database,
        reference=reference,
        tolerance=tolerance,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    return StructResponse(report)


@router.get("/aging", responses=returns(reports.AgingReport, "Open balances by payer in 30-day buckets"))
def aging(database: DatabaseDep, _actor: ActorDep, as_of: AsOf) -> Response:
    return StructResponse(reports.ar_aging(database, as_of=as_of))


@router.get("/timely-filing", responses=returns(reports.TimelyReport, "Visits not filed near or past the limit"))
def timely_filing(
    database: DatabaseDep,
    reference: ReferenceDep,
    _actor: ActorDep,
    as_of: AsOf,
    within_days: Annotated[int, Query(ge=0, le=reports.MAX_WITHIN_DAYS, description="Deadlines within")] = 30,
) -> Response:
    return StructResponse(reports.timely_filing(database, reference=reference, as_of=as_of, within_days=within_days))
