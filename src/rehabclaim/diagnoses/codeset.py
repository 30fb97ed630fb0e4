"""The ICD-10-CM code set on a date of service, from the releases held and the dated changes.

A visit is judged by the release in force on its date. When that release is loaded (the simple-icd-10-cm
release, or a CMS order file dropped in), its code set is used as it is. Otherwise the code set is derived:
the nearest loaded release on or before the date with the dated changes after it applied, or, when only
later releases are loaded, the earliest later release with the changes after the date undone. A verdict is
*certain* when the release in force is loaded, or when the derivation stays inside the span the dated
changes cover and no change it rests on is unconfirmed; anything else is reported as a warning (rule D005),
never as an error, since the release in force could say otherwise.

The dates split into segments over which the answer cannot change (release and change dates, the ends of
the covered span); each segment's code set is worked out once, when the index is built, and a visit finds
its segment by bisection. Looking a code up is then two dictionary reads.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from itertools import islice
from typing import NamedTuple

from rehabclaim.diagnoses.icd10 import is_code_shaped, normalize, with_dot
from rehabclaim.diagnoses.releases import CHANGES_FILE, DatedChange, DatedChanges, ReleaseCalendar

_DAY = timedelta(days=1)


def fiscal_year_end(day: date) -> date:
    """September 30 of the fiscal year ``day`` falls in (the fiscal year starts October 1)."""
    return date(day.year + 1 if day.month >= 10 else day.year, 9, 30)


class Release:
    """One loaded ICD-10-CM release: its name, effective date (None when unknown) and codes (True billable,
    False a category)."""

    def __init__(self, name: str, effective: date | None, codes: dict[str, bool]) -> None:
        self.name = name
        self.effective = effective
        self.codes = codes
        self._billable: list[str] | None = None  # sorted, built the first time a category is reported

    def billable_under(self, prefix: str) -> Iterator[str]:
        """The billable codes that start with ``prefix``, in code order."""
        if self._billable is None:
            self._billable = sorted(code for code, billable in self.codes.items() if billable)
        billable = self._billable
        for index in range(bisect.bisect_left(billable, prefix), len(billable)):  # islice would walk from 0
            code = billable[index]
            if not code.startswith(prefix):
                return
            yield code


class Verdict(NamedTuple):
    status: bool | None  # True billable, False a category (not billable), None not an ICD-10-CM code
    certain: bool  # backed by the release in force or by covered dated changes: an error when wrong


# the six verdicts, made once: a look-up on the hot path builds no tuple
_CERTAIN = {status: Verdict(status, True) for status in (True, False, None)}
_UNCERTAIN = {status: Verdict(status, False) for status in (True, False, None)}


class CodeSetOnDate:
    """The code set for the dates of one segment: a base release and the dated changes moved across."""

    def __init__(
        self,
        base: Release | None,
        in_force: str | None,
        exact: bool,
        certain: bool,
        moved: Sequence[DatedChange],
        undone: bool,
    ) -> None:
        self.base = base
        self.in_force = in_force  # the name of the release in force on these dates, None when not known
        self.exact = exact  # the release in force is loaded: nothing is derived
        self.certain = certain
        self.moved = tuple(moved)  # changes applied (undone=False) or undone (undone=True), in that order
        self.undone = undone
        self._codes = base.codes if base is not None else {}
        self._overlay: dict[str, bool | None] = {}
        for change in self.moved:
            self._overlay[change.code] = change.before if undone else change.after
        self._unconfirmed = frozenset(change.code for change in self.moved if not change.confirmed)

    def verdict(self, code: str) -> Verdict:
        key = normalize(code)
        # a code a dated change moved on these dates has the state the change left; any other, the base's
        status = self._overlay[key] if self._overlay and key in self._overlay else self._codes.get(key)
        if self.certain and key not in self._unconfirmed:
            return _CERTAIN[status]
        # a string that is not shaped like a code is not one on any date
        return _CERTAIN[None] if status is None and not is_code_shaped(key) else _UNCERTAIN[status]

    def billable_children(self, code: str, limit: int = 10) -> list[str]:
        """Billable codes under a category on these dates, with dots, in code order."""
        prefix = normalize(code)
        # the first `limit` base codes the dated changes leave alone are enough (a category such as S52 has
        # thousands): those the changes moved are billable exactly when the change left them so
        found = [moved for moved, state in self._overlay.items() if state is True and _under(moved, prefix)]
        if self.base is not None:
            kept = (c for c in self.base.billable_under(prefix) if c != prefix and c not in self._overlay)
            found += islice(kept, limit)
        return [with_dot(c) for c in sorted(found)[:limit]]

    def judged_by(self, day: date) -> str:
        """Which release, and which dated changes, judged a visit on ``day``."""
        if self.base is None:
            return "no ICD-10-CM release"
        if self.exact or not self.moved:
            return self.base.name if self.exact else f"{self.base.name} (no dated change between it and {day})"
        dates = sorted({change.effective.isoformat() for change in self.moved})
        verb = "undone back to" if self.undone else "applied through"
        return f"{self.base.name} with the dated changes of {', '.join(dates)} {verb} {day} ({CHANGES_FILE})"

    def changes_of(self, code: str) -> str:
        """The dated changes that moved ``code`` for these dates (``M54.50 added 2021-10-01``), or ''."""
        key = normalize(code)
        return "; ".join(change.describe() for change in self.moved if change.code == key)


class DiagnosisIndex:
    """The ICD-10-CM releases held, the release calendar and the dated changes: the code set on any date."""

    def __init__(self, releases: Iterable[Release], calendar: ReleaseCalendar, changes: DatedChanges) -> None:
        held = list(releases)
        self.releases = sorted((r for r in held if r.effective is not None), key=_effective)
        self.undated = next((r for r in held if r.effective is None), None)
        self.calendar = calendar
        self.changes = changes
        loaded = {_effective(r) for r in self.releases}
        self._release_dates = sorted({row.effective for row in calendar.release} | loaded)
        self._starts = self._segment_starts()
        self._views = [self._view(start) for start in self._starts]

    def on(self, day: date) -> CodeSetOnDate:
        """The code set in force on ``day``, as far as the releases and changes held tell."""
        return self._views[bisect.bisect_right(self._starts, day) - 1]

    def statuses(self, day: date, codes: Iterable[str]) -> list[tuple[str, Verdict]]:
        view = self.on(day)
        return [(code, view.verdict(code)) for code in codes]

    def held(self) -> tuple[date, date] | None:
        """The first and last dates whose code set the loaded releases and the dated changes settle."""
        if not self.releases:
            return None
        first, last = _effective(self.releases[0]), fiscal_year_end(_effective(self.releases[-1]))
        return min(first, self.changes.complete_from), max(last, self.changes.complete_through)

    def _segment_starts(self) -> list[date]:
        starts = {date.min, self.changes.complete_from, *self._release_dates}
        starts |= {change.effective for change in self.changes.changes}
        for last in (self.changes.complete_through, fiscal_year_end(self._release_dates[-1])):
            if last < date.max:
                starts.add(last + _DAY)
        return sorted(starts)

    def _in_force(self, day: date) -> date | None:
        """The effective date of the release in force on ``day``; None before the first release we know of
        and after the fiscal year of the last (its successor is not known here)."""
        index = bisect.bisect_right(self._release_dates, day) - 1
        if index < 0 or day > fiscal_year_end(self._release_dates[index]):
            return None
        return self._release_dates[index]

    def _view(self, day: date) -> CodeSetOnDate:
        in_force = self._in_force(day)
        in_force_name = None if in_force is None else self._name_on(in_force)
        exact = next((r for r in self.releases if r.effective == in_force), None)
        if exact is not None:
            return CodeSetOnDate(exact, in_force_name, True, True, (), False)
        base = self._base_for(day)
        if base is None or base.effective is None:
            return CodeSetOnDate(base, in_force_name, False, False, (), False)
        start, complete = base.effective, self.changes
        covered = complete.complete.covers(start) and complete.complete.covers(day)  # every date between
        if start <= day:
            moved = [c for c in complete.changes if start < c.effective <= day]
            return CodeSetOnDate(base, in_force_name, False, covered, moved, False)
        moved = [c for c in reversed(complete.changes) if day < c.effective <= start]
        return CodeSetOnDate(base, in_force_name, False, covered, moved, True)

    def _base_for(self, day: date) -> Release | None:
        """The nearest loaded release on or before ``day``; else the earliest one after it."""
        earlier = [r for r in self.releases if _effective(r) <= day]
        if earlier:
            return earlier[-1]
        return self.releases[0] if self.releases else self.undated

    def _name_on(self, effective: date) -> str:
        loaded = next((r.name for r in self.releases if r.effective == effective), None)
        return self.calendar.name_on(effective) or loaded or f"the ICD-10-CM release of {effective}"


def _under(code: str, prefix: str) -> bool:
    return code.startswith(prefix) and code != prefix


def _effective(release: Release) -> date:
    assert release.effective is not None  # only dated releases are sorted
    return release.effective
