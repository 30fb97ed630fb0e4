"""The vendor-neutral XR session record and how it is read (one session, a JSON list, or JSON Lines).

One record is one XR session as the platform logged it: who (our patient id; never a name), when (ISO 8601
with the UTC offset of the place it happened), where (clinic or home), whether a clinician supervised it,
the system used, and what was done (exercises with repetitions, range of motion and a movement-quality
score with its scale). The fields and why each is there: reference note ``xr-sessions.md`` s. 1 and s. 3.
The JSON Schema ``data/schemas/xr-session.schema.json`` describes the same record (a test keeps the two
in step). Like the visit contract (``rehabclaim.model``) every string, list and number is bounded; unlike
it, an unknown field is refused, because a misspelt optional field (``clinican_id``) would otherwise be
lost without a word.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Annotated, Any, Literal

import msgspec

from rehabclaim.errors import MISSING_FIELD, InputError, short_reason, validation_field
from rehabclaim.model import MAX_VISIT_BYTES, Count, Key, Minutes, Region, Text

MAX_SESSIONS = 100_000  # sessions in one import
MAX_EXERCISES = 200
MAX_JOINTS = 32

Moment = Annotated[datetime, msgspec.Meta(tz=True)]  # ISO 8601 with its UTC offset (or Z)
Sets = Annotated[int, msgspec.Meta(ge=0, le=1000)]
Level = Annotated[int, msgspec.Meta(ge=0, le=1000)]
Degrees = Annotated[float, msgspec.Meta(ge=-180, le=360)]  # negative: hyperextension, as some systems log it
Score = Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
Rating = Annotated[int, msgspec.Meta(ge=0, le=10)]  # a 0-10 numeric rating scale
Joint = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
RequiredText = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
RequiredKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Exercise(msgspec.Struct, forbid_unknown_fields=True):
    """One exercise (or game, or task) within the session."""

    name: RequiredText
    target: Text | None = None  # the skill trained, e.g. "shoulder flexion ROM", "standing balance"
    body_region: Region | None = None
    side: Literal["left", "right", "bilateral"] | None = None
    start: Moment | None = None
    end: Moment | None = None
    repetitions: Count | None = None
    sets: Sets | None = None
    difficulty_level: Level | Text | None = None  # the vendor's level, a number or a name
    rom_max_deg: Annotated[dict[Joint, Degrees], msgspec.Meta(max_length=MAX_JOINTS)] | None = None
    quality_score: Score | None = None  # vendor-specific: only meaningful with its scale
    quality_scale: Text | None = None  # e.g. "0-100"; scores of different vendors are never compared


class PatientReported(msgspec.Struct, forbid_unknown_fields=True):
    """What the patient reported at the end of the session, on 0-10 scales."""

    pain_0_10: Rating | None = None
    fatigue_0_10: Rating | None = None


class XrSession(msgspec.Struct, forbid_unknown_fields=True):
    """One XR session. ``vendor`` and ``session_id`` together are the import key (importing a session twice
    attaches it once); ``patient_id`` is our patient id (the visit's ``patient.id``), never a name."""

    vendor: RequiredText
    system_name: RequiredText
    patient_id: RequiredKey
    session_id: RequiredKey
    session_start: Moment
    session_end: Moment
    setting: Literal["clinic", "home"]
    supervised: bool
    software_version: Text | None = None
    device_id: Text | None = None
    clinician_id: Key | None = None  # who was present: NPI or a local id
    active_minutes: Minutes | None = None  # time in XR; informational, never added to timed minutes
    exercises: Annotated[list[Exercise], msgspec.Meta(max_length=MAX_EXERCISES)] = msgspec.field(default_factory=list)
    patient_reported: PatientReported | None = None

    @property
    def local_end(self) -> datetime:
        """The end on the start's wall clock (the start's UTC offset)."""
        return self.session_end.astimezone(self.session_start.tzinfo)

    @property
    def duration(self) -> timedelta:
        return self.session_end - self.session_start


_decode_one = msgspec.json.Decoder(XrSession)
_decode_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def read_sessions(data: bytes, *, json_lines: bool | None = None) -> list[XrSession]:
    """Every session in ``data``: one JSON object, a JSON list of them, or JSON Lines (one per line, blank
    lines skipped); ``json_lines`` None tells them apart by the first character and the line layout. A
    problem is an InputError naming the field (``sessions[2].session_end`` in a list) and the line."""
    text = data.lstrip()
    if json_lines is None:
        json_lines = not text.startswith(b"[") and _looks_like_json_lines(data)
    if json_lines:
        return list(_json_lines(data))
    if text.startswith(b"["):
        return list(_json_list(data))
    if len(data) > MAX_VISIT_BYTES:
        raise InputError("", f"more than {MAX_VISIT_BYTES:,} bytes: too big for one session")
    return [_session(data, "", None)]


def _looks_like_json_lines(data: bytes) -> bool:
    """The first non-blank line is a whole object and another line follows (as the visit reader tells
    them apart: a pretty-printed session's first line is an open brace)."""
    filled = list(islice(filter(None, map(bytes.strip, io.BytesIO(data))), 2))
    return len(filled) == 2 and filled[0].startswith(b"{") and filled[0].endswith(b"}")


def _json_lines(data: bytes) -> Iterator[XrSession]:
    count = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        count += 1
        if count > MAX_SESSIONS:
            raise InputError("", f"more than {MAX_SESSIONS:,} sessions in one import", number)
        if len(raw) > MAX_VISIT_BYTES:
            raise InputError("", f"more than {MAX_VISIT_BYTES:,} bytes: too big for one session", number)
        yield _session(raw, "", number)


def _json_list(data: bytes) -> Iterator[XrSession]:
    """The sessions of a JSON list, each error with its index and the line its session starts on."""
    try:
        items = _decode_raw_list.decode(data)
    except msgspec.ValidationError as exc:
        raise InputError("sessions", short_reason(validation_field(str(exc))[1])) from None
    except msgspec.DecodeError as exc:
        raise InputError("", f"not valid JSON ({exc})") from None
    if len(items) > MAX_SESSIONS:
        raise InputError("sessions", f"more than {MAX_SESSIONS:,} sessions in one import")
    cursor = 0
    for index, item in enumerate(items):
        raw = bytes(item)
        found = data.find(raw, cursor)
        cursor = found + len(raw) if found >= 0 else cursor
        line = data.count(b"\n", 0, found) + 1 if found >= 0 else None
        yield _session(raw, f"sessions[{index}]", line)


def _session(raw: bytes, where: str, line: int | None) -> XrSession:
    """One session decoded and checked; InputError with the field under ``where`` and the line."""
    from rehabclaim.scrubber import refuse_duplicate_keys

    try:
        try:
            session = _decode_one.decode(raw)
            refuse_duplicate_keys(raw)
        except msgspec.ValidationError as exc:
            path, reason = validation_field(str(exc))
            if reason.startswith(MISSING_FIELD):
                reason = "required field is missing"
            path = path.replace("[...]", "")
            raise InputError(path or "session", short_reason(reason)) from None
        except msgspec.DecodeError as exc:
            raise InputError("", f"not valid JSON ({exc})") from None
        except RecursionError:
            raise InputError("", "not valid JSON (nested too deeply)") from None
        _refuse_control_characters(session)
        check_session(session)
    except InputError as exc:
        field = f"{where}.{exc.field}" if where and exc.field else (exc.field or where)
        raise InputError(field, exc.reason, line) from None
    return session


def _refuse_control_characters(session: XrSession) -> None:
    for path, text in _strings(msgspec.to_builtins(session), ""):
        found = _CONTROL.search(text)
        if found is not None:
            raise InputError(path or "session", f"control character U+{ord(found.group()):04X} is not allowed")


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield path, str(key)
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _strings(item, f"{path}[{index}]")


def check_session(session: XrSession) -> None:
    """What the schema cannot say: the session ends after it starts, on the same local day (its date is
    the date of service), holds no more active minutes than it lasted; each exercise ends after it starts;
    a quality score comes with its scale."""
    if session.session_end <= session.session_start:
        raise InputError("session_end", "must be after session_start")
    if session.local_end.date() != session.session_start.date():
        raise InputError("session_end", "on another day than session_start at its UTC offset (one session, one date)")
    lasted = session.duration.total_seconds() / 60
    if session.active_minutes is not None and session.active_minutes > lasted + 1:
        raise InputError(
            "active_minutes", f"{session.active_minutes} is more than the session lasted ({lasted:.0f} min)"
        )
    for index, exercise in enumerate(session.exercises):
        where = f"exercises[{index}]"
        if exercise.start is not None and exercise.end is not None and exercise.end < exercise.start:
            raise InputError(f"{where}.end", "must not be before start")
        if exercise.quality_score is not None and not exercise.quality_scale:
            raise InputError(f"{where}.quality_scale", "required with quality_score (a score means nothing without it)")
