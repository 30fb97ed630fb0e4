"""The denials worklist: denied and partly paid lines with the next step for each, from the remittances in
the ledger or from one 835 file, filtered and paged.

Filters: ``payer`` (part of the payer's name, any case), ``reason`` (a CARC such as ``50``, or with its group,
``CO-50``), ``since``/``until`` (dates of service, both included), ``status`` (a claim status, CLP02, such as
``4`` for denied, or a kind: denial, patient, contractual, info). Meanings and next steps come from the
reference's CARC/RARC table.
"""

from __future__ import annotations

import re
from datetime import date

import msgspec
from sqlalchemy import Engine

from rehabclaim.dates import DateRange
from rehabclaim.errors import quote
from rehabclaim.reference import Reference
from rehabclaim.remits.worklist import KINDS, Filters, WorkItem, from_ledger, from_remittance
from rehabclaim.services import audit
from rehabclaim.services.errors import BadInput
from rehabclaim.services.reading import ledger_failures
from rehabclaim.x12.remit835 import Remittance

REASON = re.compile(r"(?:[A-Z]{2}-)?[A-Z0-9]{1,3}")  # CARC codes: 1 to 3 letters and digits (50, B7, 242)
CLAIM_STATUS = re.compile(r"[0-9]{1,2}")  # CLP02
MAX_PAYER = 128  # remit_claims.payer

__all__ = ["WorkItem", "Worklist", "worklist", "worklist_from_remittance"]


class Worklist(msgspec.Struct):
    """``items``: the page asked for; ``total``: how many items the filters keep, across every page."""

    items: list[WorkItem]
    total: int
    offset: int
    limit: int | None


def worklist(
    database: Engine,
    *,
    reference: Reference,
    payer: str | None = None,
    reason: str | None = None,
    since: date | None = None,
    until: date | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Worklist:
    """The items of every remittance posted to the ledger."""
    filters = _filters(payer, reason, since, until, status)
    audit.check_page(limit, offset)
    with ledger_failures():
        items = from_ledger(database, reference.remit_codes, filters)
    return _page(items, limit, offset)


def worklist_from_remittance(
    reference: Reference,
    *,
    remittance: Remittance,
    payer: str | None = None,
    reason: str | None = None,
    since: date | None = None,
    until: date | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Worklist:
    """The items of one 835 file (``services.remittances.read_remittance`` reads it)."""
    filters = _filters(payer, reason, since, until, status)
    audit.check_page(limit, offset)
    return _page(from_remittance(remittance, reference.remit_codes, filters), limit, offset)


def _filters(
    payer: str | None, reason: str | None, since: date | None, until: date | None, status: str | None
) -> Filters:
    if payer is not None and not 1 <= len(payer.strip()) <= MAX_PAYER:
        raise BadInput("payer", f"expected 1 to {MAX_PAYER} characters of a payer's name, got {quote(payer)}")
    if reason is not None and not REASON.fullmatch(reason.strip().upper()):
        raise BadInput("reason", f"expected a CARC such as 50, or with its group such as CO-50; got {quote(reason)}")
    if status is not None and status not in KINDS and not CLAIM_STATUS.fullmatch(status):
        raise BadInput(
            "status",
            f"expected a claim status (CLP02, such as 4 for denied) or one of {', '.join(KINDS)}; got {quote(status)}",
        )
    dates = DateRange.if_ordered(since, until)
    if dates is None:
        raise BadInput("until", f"{until} is before since {since}")
    return Filters(
        payer=payer.strip() if payer is not None else None,
        reason=reason.strip().upper() if reason is not None else None,
        dates=dates,
        status=status,
    )


def _page(items: list[WorkItem], limit: int | None, offset: int) -> Worklist:
    end = None if limit is None else offset + limit
    return Worklist(items=items[offset:end], total=len(items), offset=offset, limit=limit)
