"""The audit trail: who changed the ledger, when, and what (``audit_events``).

An event is written by ``record`` in the transaction of the change it describes, so the ledger never holds a
change without its event nor an event for a change that was refused or rolled back. ``subject`` and
``detail`` hold ids, counts and amounts only (a visit id, an ISA13, a TRN02 trace, a user name): never a
patient's name, birth date or member id. ``at`` is when the change was made (UTC), not a date of service.

Actions: ``visit.post``, ``claims.build``, ``remittance.post`` (here), ``user.add``,
``user.password``, ``token.create``, ``token.revoke``... (``services.accounts``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import Connection, Engine, insert, select

from rehabclaim.ledger.models import AuditEvent, column_limits
from rehabclaim.services.actor import Actor
from rehabclaim.services.errors import BadInput, Forbidden
from rehabclaim.services.reading import reading, utc

MAX_PAGE = 1000  # rows one call of a list returns at most (events, claim batches, remittances, work items)


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: datetime  # aware, UTC
    user: str
    channel: str
    action: str
    subject: str
    detail: str


def check_page(limit: int | None, offset: int) -> None:
    """Refuse a page that asks for nothing, too much or starts before the first row (every list here)."""
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise BadInput("limit", f"expected 1 to {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise BadInput("offset", f"expected 0 or more, got {offset}")


def require_change(actor: Actor, *, what: str) -> None:
    """Refuse (Forbidden) an actor whose role only reads, before anything is read or written."""
    if not actor.may_change:
        raise Forbidden("", f"{actor.user} is a {actor.role}: a {actor.role} may not {what}")


def record(connection: Connection, *, actor: Actor, action: str, subject: str, detail: str) -> None:
    """One event in the caller's transaction. Values longer than their columns are cut (an event is never
    the reason a change fails); callers pass ids and counts only."""
    row = {
        "at": datetime.now(UTC),
        "user": actor.user,
        "channel": actor.channel,
        "action": action,
        "subject": subject,
        "detail": detail,
    }
    for name, length in column_limits(AuditEvent).lengths:
        value = row[name]
        if isinstance(value, str) and len(value) > length:
            row[name] = value[: length - 3] + "..."
    connection.execute(insert(AuditEvent).values(**row))


def audit_events(
    database: Engine, *, limit: int, offset: int, user: str | None = None, action: str | None = None
) -> list[AuditEntry]:
    """The newest events first, ``limit`` of them after ``offset``; only ``user``'s or ``action``'s when given."""
    check_page(limit, offset)
    columns = (AuditEvent.id, AuditEvent.at, AuditEvent.user, AuditEvent.channel, AuditEvent.action)
    query = (
        select(*columns, AuditEvent.subject, AuditEvent.detail)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if user is not None:
        query = query.where(AuditEvent.user == user)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with reading(database) as connection:
        rows = connection.execute(query).all()
    return [
        AuditEntry(
            id=row.id,
            at=utc(row.at),
            user=row.user,
            channel=row.channel,
            action=row.action,
            subject=row.subject,
            detail=row.detail,
        )
        for row in rows
    ]
