"""Posting visits to the ledger: each visit scrubbed with the patient's ledger history, then recorded with its
audit event in one transaction, or not at all.

A visit with error findings is not posted (it is not billable as it is): the result says so, with the scrub
result that shows why. Refused: a visit id posted before (Conflict: posting is idempotent, the second post
changes nothing), an actor who only reads (Forbidden), a value the ledger cannot hold or a visit without
``patient.id`` (BadInput), a database that fails (Unavailable).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rehabclaim.errors import InputError
from rehabclaim.ledger.database import failure_reason
from rehabclaim.ledger.history import LedgerHistory
from rehabclaim.ledger.post import AlreadyPosted, LedgerFailed, NotBillable, PostRefused
from rehabclaim.ledger.post import post_visit as write_visit
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.reference import Reference
from rehabclaim.scrubber import Scrubber
from rehabclaim.services import audit
from rehabclaim.services.actor import Actor
from rehabclaim.services.errors import BadInput, Conflict, Refusal, Unavailable

POST = "visit.post"


class PostedVisitResult(msgspec.Struct):
    """``posted`` false: ``reason`` says why (error findings, or the refusal when posting many) and
    ``problem`` is the refusal's problem type (``conflict``...), None for a visit that is not billable.
    ``result`` is None only for a visit that could not be scrubbed (posting many)."""

    id: str
    posted: bool
    reason: str | None
    problem: str | None
    result: ScrubResult | None


def post_visit(database: Engine, *, reference: Reference, visit: Visit, actor: Actor) -> PostedVisitResult:
    """Scrub ``visit`` with its patient's ledger history and post it if it has no error finding."""
    audit.require_change(actor, what="post visits")
    return post_scrubbed(
        database, reference=reference, visit=visit, result=_scrub(database, reference, visit), actor=actor
    )


def post_visits(
    database: Engine, *, reference: Reference, visits: Iterable[Visit], actor: Actor
) -> list[PostedVisitResult]:
    """Each visit posted by itself, in order (a later visit of a patient sees the earlier ones); a refused
    visit is listed with its reason and does not stop the others. Forbidden refuses them all up front."""
    audit.require_change(actor, what="post visits")
    results = []
    for visit in visits:
        result = None
        try:
            result = _scrub(database, reference, visit)
            results.append(post_scrubbed(database, reference=reference, visit=visit, result=result, actor=actor))
        except (BadInput, Conflict, Unavailable) as exc:
            results.append(PostedVisitResult(visit.id, False, str(exc), exc.slug, result))
    return results


def post_scrubbed(
    database: Engine, *, reference: Reference | None, visit: Visit, result: ScrubResult, actor: Actor
) -> PostedVisitResult:
    """Post ``visit`` with the scrub ``result`` the caller already has (``scrub --post`` prints it before
    the next visit is scrubbed). ``reference`` None: the bundled catalog."""
    audit.require_change(actor, what="post visits")

    def event(connection: Connection) -> None:
        units = sum(line.units for line in result.lines)
        detail = f"{len(result.lines)} line(s), {units} unit(s), charge {result.total_charge:.2f}"
        audit.record(connection, actor=actor, action=POST, subject=f"visit {visit.id}", detail=detail)

    try:
        write_visit(database, visit, result, catalog=reference.catalog if reference else None, audit=event)
    except NotBillable as exc:  # a result to show, not a request to refuse
        return PostedVisitResult(visit.id, posted=False, reason=str(exc), problem=None, result=result)
    except AlreadyPosted as exc:
        raise Conflict("", str(exc)) from None
    except LedgerFailed as exc:
        raise Unavailable("", str(exc)) from None
    except PostRefused as exc:
        raise BadInput("", str(exc)) from None
    return PostedVisitResult(visit.id, posted=True, reason=None, problem=None, result=result)


def _scrub(database: Engine, reference: Reference, visit: Visit) -> ScrubResult:
    try:
        return Scrubber(reference, LedgerHistory(database)).scrub(visit)
    except InputError as exc:
        raise Refusal.from_input_error(exc) from None
    except SQLAlchemyError as exc:  # reading the patient's history
        raise Unavailable("", f"visit {visit.id}: not posted, the ledger failed ({failure_reason(exc)})") from None
