"""The ICD-10-CM release calendar (``data/icd10cm.toml``) and the dated code changes
(``data/icd10cm-changes.toml``), read strictly: a bad entry refuses the file, naming its line and field."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any, Literal, TypeVar

import msgspec

from rehabclaim.datafiles import DataFileError, decode_utf8, line_of, place
from rehabclaim.dates import DateRange
from rehabclaim.diagnoses.icd10 import is_code_shaped, normalize, with_dot
from rehabclaim.errors import quote, validation_field

CALENDAR_FILE = "icd10cm.toml"
CHANGES_FILE = "icd10cm-changes.toml"
Status = Literal["confirmed", "secondary", "rule", "unconfirmed"]
T = TypeVar("T")

# what each list of a [[change]] does to a code: (state before, state after); True billable, False a
# category (not billable), None not in the code set
TRANSITIONS: dict[str, tuple[bool | None, bool | None]] = {
    "added": (None, True),
    "added_categories": (None, False),
    "expanded": (True, False),
    "deleted": (True, None),
}
_STATE_WORDS = {True: "billable", False: "a category", None: "not in the code set"}


class CalendarRelease(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    effective: date
    name: str
    status: Status
    source: str


class PackageRelease(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    effective: date
    source: str


class ReleaseCalendar(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    version: str
    package: dict[str, PackageRelease]
    release: list[CalendarRelease]

    def name_on(self, effective: date) -> str | None:
        """The name of the release that takes effect on ``effective``, if one does."""
        return next((row.name for row in self.release if row.effective == effective), None)


class ChangeEntry(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    effective: date
    status: Status
    source: str
    added: list[str] = msgspec.field(default_factory=list)
    added_categories: list[str] = msgspec.field(default_factory=list)
    expanded: list[str] = msgspec.field(default_factory=list)
    deleted: list[str] = msgspec.field(default_factory=list)


class ChangesFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    version: str
    complete_from: date
    complete_through: date
    change: list[ChangeEntry]


@dataclass(frozen=True, slots=True)
class DatedChange:
    """One code's change in one release: its state before and after ``effective``."""

    effective: date
    code: str  # normalized (no dot)
    before: bool | None
    after: bool | None
    confirmed: bool  # False: the date or the change is recalled, so a verdict resting on it is a warning

    def describe(self) -> str:
        """``M54.50 added 2021-10-01`` and the like."""
        shown = with_dot(self.code)
        if self.before is None:
            what = "added" if self.after else "added as a category"
        elif self.after is None:
            what = "deleted"
        else:
            what = "became a category"
        return f"{shown} {what} {self.effective.isoformat()}" + ("" if self.confirmed else " (date unconfirmed)")


@dataclass(frozen=True, slots=True)
class DatedChanges:
    """Every listed change in date order; for the codes they name, complete after ``complete_from``
    through ``complete_through``."""

    version: str
    complete_from: date
    complete_through: date
    changes: tuple[DatedChange, ...]

    @property
    def complete(self) -> DateRange:
        """The dates the changes are complete for (checked in order when the file is read)."""
        return DateRange(self.complete_from, self.complete_through)


def bundled_calendar() -> ReleaseCalendar:
    return parse_calendar(_bundled_text(CALENDAR_FILE), CALENDAR_FILE)


def bundled_changes(calendar: ReleaseCalendar) -> DatedChanges:
    return parse_changes(_bundled_text(CHANGES_FILE), CHANGES_FILE, calendar)


def _bundled_text(name: str) -> str:
    return decode_utf8(resources.files("rehabclaim.data").joinpath(name).read_bytes(), name)


def parse_calendar(text: str, origin: str) -> ReleaseCalendar:
    calendar = _convert(text, origin, ReleaseCalendar)
    if not calendar.release:
        raise DataFileError(f"{origin}: release: at least one release is required")
    for index, (earlier, later) in enumerate(zip(calendar.release, calendar.release[1:], strict=False), start=1):
        if later.effective <= earlier.effective:
            raise _field_error(
                origin, text, f"release[{index}].effective", f"{later.effective} must be after {earlier.effective}"
            )
    dates = {row.effective for row in calendar.release}
    for installed, row in calendar.package.items():
        if row.effective not in dates:
            line = _line_matching(text, rf'\[package\."{re.escape(installed)}"\]')
            raise DataFileError(
                f"{place(origin, line)}: package.{installed}.effective: {row.effective} is not a release listed here"
            )
    return calendar


def parse_changes(text: str, origin: str, calendar: ReleaseCalendar) -> DatedChanges:
    raw = _convert(text, origin, ChangesFile)
    if raw.complete_through < raw.complete_from:
        raise _field_error(origin, text, "complete_through", f"{raw.complete_through} is before complete_from")
    releases = {row.effective for row in calendar.release}
    state: dict[str, tuple[bool | None, int]] = {}  # each code's state after its last change, and that change
    changes: list[DatedChange] = []
    for index, entry in enumerate(raw.change):
        _check_entry_date(entry, index, raw.change, releases, origin, text)
        seen: set[str] = set()
        for kind, (before, after) in TRANSITIONS.items():
            for written in getattr(entry, kind):
                code = _canonical_code(written, origin, text, f"change[{index}].{kind}")
                if code in seen:
                    raise _field_error(origin, text, f"change[{index}].{kind}", f"{written} is listed twice here")
                seen.add(code)
                _check_chain(code, before, state, raw.change, index, kind, origin, text)
                state[code] = (after, index)
                changes.append(DatedChange(entry.effective, code, before, after, entry.status != "unconfirmed"))
        if not seen:
            raise _field_error(origin, text, f"change[{index}].effective", "the change lists no code")
    return DatedChanges(raw.version, raw.complete_from, raw.complete_through, tuple(changes))


def _check_entry_date(
    entry: ChangeEntry, index: int, entries: list[ChangeEntry], releases: set[date], origin: str, text: str
) -> None:
    if entry.effective not in releases:
        reason = f"{entry.effective} is not the effective date of a release in {CALENDAR_FILE}"
        raise _field_error(origin, text, f"change[{index}].effective", reason)
    if index and entry.effective < entries[index - 1].effective:
        reason = f"{entry.effective} is before the change above it ({entries[index - 1].effective}): keep date order"
        raise _field_error(origin, text, f"change[{index}].effective", reason)


def _canonical_code(written: str, origin: str, text: str, field: str) -> str:
    """The normalized code; the file must write it as ICD-10-CM does (capitals, the dot after 3 characters)."""
    code = normalize(written)
    if not is_code_shaped(code) or with_dot(code) != written:
        raise _field_error(origin, text, field, f"{quote(written)} is not an ICD-10-CM code written with its dot")
    return code


def _check_chain(
    code: str,
    before: bool | None,
    state: dict[str, tuple[bool | None, int]],
    entries: list[ChangeEntry],
    index: int,
    kind: str,
    origin: str,
    text: str,
) -> None:
    """A code's changes must follow on from each other: what one leaves is what the next one changes."""
    if code not in state or state[code][0] == before:
        return
    left, earlier = state[code]
    reason = (
        f"{with_dot(code)} is {_STATE_WORDS[left]} after the change of {entries[earlier].effective}, "
        f"so it cannot be {kind.replace('_', ' ')} here (it must be {_STATE_WORDS[before]})"
    )
    raise _field_error(origin, text, f"change[{index}].{kind}", reason)


def _convert(text: str, origin: str, kind: type[T]) -> T:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{origin}: {exc}") from None
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        path, reason = validation_field(str(exc))
        raise _field_error(origin, text, path or "file", reason) from None


def _field_error(origin: str, text: str, path: str, reason: str) -> DataFileError:
    return DataFileError(f"{place(origin, _line_of_path(text, path))}: {path}: {reason}")


def _line_of_path(text: str, path: str) -> int | None:
    """The line of ``path``; ``change[3].added`` is looked up in the fourth ``[[change]]`` table."""
    item = re.fullmatch(r"(\w+)\[(\d+)\](?:\.(\w+))?(?:\[\d+\])?", path)
    if item is None:
        return line_of(text, path)
    return _item_line(text, item[1], int(item[2]), item[3])


def _item_line(text: str, table: str, index: int, key: str | None) -> int | None:
    """The line of ``key`` in the ``index``-th ``[[table]]`` (its header line when the key is not set)."""
    seen, header = -1, None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            if header is not None:
                return header
            if line == f"[[{table}]]":
                seen += 1
                if seen == index:
                    header = number
                    if key is None:
                        return number
        elif header is not None and key is not None and re.match(rf"{key}\s*=", line):
            return number
    return header


def _line_matching(text: str, pattern: str) -> int | None:
    return next((n for n, line in enumerate(text.splitlines(), start=1) if re.match(pattern, line.strip())), None)
