"""Attaching XR sessions to the visits they happened in, as 0770T evidence.

A session belongs to a visit of the same patient (``patient.id``; never a name) on the same date (the
session's local date at its own UTC offset) whose service times overlap the session (the start/stop of a
service in the visit's documentation, a service's time blocks, or the documented session start/end). A
visit without any times is matched by patient and date alone, and the attachment says so. A session with
no such visit, or with two, is listed with its reason and attached nowhere. Visit times are wall-clock
HH:MM without an offset: they are read on the session's own wall clock.

Attaching appends an ``XrSessionEvidence`` to ``documentation.xr.sessions`` (documentation and xr created
when absent), once per (vendor, session_id): importing the same session again changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Literal

import msgspec

from rehabclaim.model import Documentation, Visit, XrNote, XrSessionEvidence
from rehabclaim.xr.session import XrSession

Basis = Literal["overlapping-time", "patient-and-date"]
ProblemReason = Literal["no-visit-for-patient", "no-visit-on-date", "no-overlapping-time", "two-or-more-visits"]


class Attachment(msgspec.Struct):
    """A session attached to a visit. ``basis``: how it was matched (``patient-and-date`` when the visit
    gives no times); ``overlapping``: the visit's intervals the session overlaps (``97110 10:05-10:30``);
    ``already_attached``: the visit held this session already (nothing was added)."""

    session_id: str
    vendor: str
    patient_id: str
    visit_id: str
    date: date
    start: str
    end: str
    basis: Basis
    overlapping: list[str]
    already_attached: bool
    notes: list[str]


class SessionProblem(msgspec.Struct):
    """A session attached to no visit: ``reason`` says why in a word, ``message`` in a sentence (ids only);
    ``visit_ids``: the visits it matched (two or more) or the patient's visits that day (none overlapping)."""

    session_id: str
    vendor: str
    patient_id: str
    date: date
    start: str
    end: str
    reason: ProblemReason
    message: str
    visit_ids: list[str]


class XrImport(msgspec.Struct):
    """The result of an import: every visit in input order (enriched where a session was attached), the
    attachments, and the sessions attached nowhere (unmatched, ambiguous), in input order."""

    visits: list[Visit]
    attached: list[Attachment]
    unmatched: list[SessionProblem]
    ambiguous: list[SessionProblem]

    @property
    def has_problem(self) -> bool:
        return bool(self.unmatched or self.ambiguous)


class _Interval(msgspec.Struct, frozen=True):
    label: str  # a code, or "session" for the documented session start/end
    start: int  # seconds since local midnight
    end: int

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end

    def __str__(self) -> str:
        return f"{self.label} {_clock(self.start)}-{_clock(self.end)}"


def match_sessions(sessions: Iterable[XrSession], visits: list[Visit]) -> XrImport:
    """Attach each session to its one visit (see the module); ``visits`` is left as it was."""
    working = list(visits)
    by_day: dict[tuple[str, date], list[int]] = defaultdict(list)
    patients: set[str] = set()
    for position, visit in enumerate(visits):
        if visit.patient is not None and visit.patient.id is not None:
            by_day[(visit.patient.id, visit.date)].append(position)
            patients.add(visit.patient.id)
    result = XrImport(visits=working, attached=[], unmatched=[], ambiguous=[])
    for session in sessions:
        same_day = [(position, working[position]) for position in by_day.get(_day_key(session), [])]
        outcome = _match(session, same_day, session.patient_id in patients)
        if isinstance(outcome, SessionProblem):
            (result.ambiguous if outcome.reason == "two-or-more-visits" else result.unmatched).append(outcome)
            continue
        position, attachment = outcome
        if not attachment.already_attached:
            working[position] = with_session(working[position], evidence(session))
        result.attached.append(attachment)
    return result


def _day_key(session: XrSession) -> tuple[str, date]:
    return session.patient_id, session.session_start.date()


def _match(
    session: XrSession, same_day: list[tuple[int, Visit]], patient_known: bool
) -> SessionProblem | tuple[int, Attachment]:
    """The one visit ``session`` belongs to among the patient's visits that day, or why there is none."""
    start, end = _seconds(session.session_start), _seconds(session.local_end)
    candidates: list[tuple[int, Visit, list[_Interval]]] = []
    for position, visit in same_day:
        intervals = list(visit_intervals(visit))
        overlapping = [interval for interval in intervals if interval.overlaps(start, end)]
        if overlapping or not intervals:
            candidates.append((position, visit, overlapping))
    if len(candidates) == 1:
        position, visit, overlapping = candidates[0]
        return position, _attachment(session, visit, overlapping)
    if candidates:
        return _problem(session, "two-or-more-visits", [visit.id for _, visit, _ in candidates])
    if same_day:
        return _problem(session, "no-overlapping-time", [visit.id for _, visit in same_day])
    return _problem(session, "no-visit-on-date" if patient_known else "no-visit-for-patient", [])


def visit_intervals(visit: Visit) -> Iterator[_Interval]:
    """The visit's documented times: each service note's start/stop, each service's time blocks, the
    documented session start/end. An interval that does not end after it starts is skipped."""
    documentation = visit.documentation
    found: list[tuple[str, str | None, str | None]] = []
    if documentation is not None:
        found += [(note.code.strip(), note.start, note.stop) for note in documentation.services]
        found.append(("session", documentation.session_start, documentation.session_end))
    for service in visit.services:
        found += [(service.code.strip(), block.start, block.end) for block in service.time_blocks]
    for label, start, end in found:
        if start is not None and end is not None and _minutes(start) < _minutes(end):
            yield _Interval(label, _minutes(start) * 60, _minutes(end) * 60)


def _attachment(session: XrSession, visit: Visit, overlapping: list[_Interval]) -> Attachment:
    notes: list[str] = []
    if not overlapping:
        notes.append("the visit gives no service times: attached by patient and date only (check the time)")
    if session.setting == "home":
        notes.append("a home session: kept as evidence, it cannot back 0770T")
    elif not session.supervised:
        notes.append("an unsupervised session: kept as evidence, it cannot back 0770T")
    return Attachment(
        session_id=session.session_id,
        vendor=session.vendor,
        patient_id=session.patient_id,
        visit_id=visit.id,
        date=session.session_start.date(),
        start=_wall_clock(session.session_start),
        end=_wall_clock(session.local_end),
        basis="overlapping-time" if overlapping else "patient-and-date",
        overlapping=[str(interval) for interval in overlapping],
        already_attached=holds(visit, session),
        notes=notes,
    )


_MESSAGES: dict[ProblemReason, str] = {
    "no-visit-for-patient": "no visit of patient {patient} in the visits file",
    "no-visit-on-date": "patient {patient} has no visit on {day}",
    "no-overlapping-time": "the visit(s) of patient {patient} on {day} ({visits}) have times, none overlapping "
    "the session {start}-{end}",
    "two-or-more-visits": "the session {start}-{end} fits {count} visits of patient {patient} on {day} "
    "({visits}); attach it by hand or give the visits their times",
}


def _problem(session: XrSession, reason: ProblemReason, visit_ids: list[str]) -> SessionProblem:
    start, end = _wall_clock(session.session_start), _wall_clock(session.local_end)
    day = session.session_start.date()
    message = _MESSAGES[reason].format(
        patient=session.patient_id, day=day, start=start, end=end, visits=", ".join(visit_ids), count=len(visit_ids)
    )
    return SessionProblem(
        session_id=session.session_id,
        vendor=session.vendor,
        patient_id=session.patient_id,
        date=day,
        start=start,
        end=end,
        reason=reason,
        message=f"session {session.session_id} ({session.vendor}): {message}",
        visit_ids=visit_ids,
    )


def evidence(session: XrSession) -> XrSessionEvidence:
    """The session as the visit keeps it (wall-clock minutes at the session's own offset)."""
    return XrSessionEvidence(
        session_id=session.session_id,
        vendor=session.vendor,
        system_name=session.system_name,
        start=_wall_clock(session.session_start),
        end=_wall_clock(session.local_end),
        setting=session.setting,
        supervised=session.supervised,
        software_version=session.software_version,
        clinician=session.clinician_id,
    )


def _same_session(a_vendor: str, a_id: str, b_vendor: str, b_id: str) -> bool:
    return a_id == b_id and a_vendor.strip().casefold() == b_vendor.strip().casefold()


def holds(visit: Visit, session: XrSession) -> bool:
    """Whether the visit already holds this session (same vendor, any case, and session id)."""
    documentation = visit.documentation
    if documentation is None or documentation.xr is None:
        return False
    return any(
        _same_session(kept.vendor, kept.session_id, session.vendor, session.session_id)
        for kept in documentation.xr.sessions
    )


def with_session(visit: Visit, kept: XrSessionEvidence) -> Visit:
    """A copy of ``visit`` with ``kept`` appended to documentation.xr.sessions (created when absent)."""
    documentation = visit.documentation or Documentation()
    xr = documentation.xr or XrNote()
    xr = msgspec.structs.replace(xr, sessions=[*xr.sessions, kept])
    return msgspec.structs.replace(visit, documentation=msgspec.structs.replace(documentation, xr=xr))


def _seconds(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _wall_clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"
