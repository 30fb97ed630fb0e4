"""The time grammar of a therapy note (reference coding-assistant.md s. 2): minutes (``25'``, ``25 min``,
``x25min``, ``fifteen minutes``), start/stop intervals (``10:05-10:27``, ``1005-1030``, ``2:05p-2:30p``),
totals, dates; and what looks like time but is not (``min A``, ``3x10``, ``6/10``, ``2 units``, ``rest 2'``,
``150'`` after walking). Every function keeps character offsets into the original note."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from rehabclaim.assistant.phrases import Grammar

MAX_MINUTES = 240  # one service's minutes; a bigger number is something else
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "  # noqa: SIM905
        "seventeen eighteen nineteen".split()
    )
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60}
_MINUTE_WORD = r"(?:minutes?|mins?|mn)\.?(?![A-Za-z])"
_MINUTES = re.compile(rf"(?:(?<=[xX])|(?<![\w.]))(\d{{1,3}})\s*-?\s*{_MINUTE_WORD}", re.IGNORECASE)
_APOSTROPHE = re.compile(r"(?:(?<=[xX])|(?<![\w.]))(\d{1,3})\s*['’′](?!['’′]|\s*\d)")
_WORDS = re.compile(
    r"(?<![A-Za-z])((?:twenty|thirty|forty|fifty|sixty)(?:[\s-]+(?:one|two|three|four|five|six|seven|eight|nine))?"
    rf"|[a-z]+teen|ten|eleven|twelve|five|six|seven|eight|nine)\s+{_MINUTE_WORD}",
    re.IGNORECASE,
)
_CLOCK = r"(\d{1,2}:\d{2}|[0-2]\d[0-5]\d)\s*(?:([ap])(?:\.?m\b\.?)?(?![A-Za-z]))?"
_INTERVAL = re.compile(rf"(?<![\d:/.]){_CLOCK}\s*(?:-|–|—|to)\s*{_CLOCK}(?![\d:/])", re.IGNORECASE)
_SESSION_CLOCK = re.compile(r"\s*[:\-]?\s*\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m?\.?)?", re.IGNORECASE)
_TOTAL_VALUE = re.compile(
    r"\s*(?:[:=\-]|is|of|was)?\s*(?:x\s*)?(\d{1,3})(?!\s*units?)\s*(?:min\w*\.?|['’])?", re.IGNORECASE
)
_NOT_TIME = (
    re.compile(r"(?:\bx\s*)?\b\d+\s*(?:units?|u)\b", re.IGNORECASE),  # units claimed, never minutes
    re.compile(r"\b\d{1,2}\s*[x×]\s*(?:\d+|/\s*\w+)", re.IGNORECASE),  # 3x10 sets x reps, 2x/wk
    re.compile(r"[x×]\s*\d+\s*(?:wks?|weeks?|days?|mos?|months?|visits?|reps?|sets?|trials?)\b", re.IGNORECASE),
    re.compile(r"\b\d+x\b", re.IGNORECASE),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # ISO dates
    re.compile(r"\b\d+(?:\s*/\s*\d+)+"),  # pain 6/10, BP 132/84, dates 6/12/26, 2/2
    re.compile(
        r"\b\d+\s*(?:#|lbs?|kg|%|mph|mhz|bpm|sec|secs|seconds|hrs?|hours?|deg|degrees|ft|feet)\b", re.IGNORECASE
    ),
)
_DATES = (
    re.compile(r"(?<![\d/])(\d{4})-(\d{2})-(\d{2})(?![\d])"),
    re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])"),
)


@dataclass(frozen=True, slots=True)
class TimeExpr:
    """Minutes written in the note: ``start``/``end`` are offsets of the text that gave them."""

    start: int
    end: int
    minutes: int
    interval: bool
    total: bool = False  # "TE total 18 min": one service's total, which replaces its minutes written elsewhere


@dataclass(frozen=True, slots=True)
class Totals:
    timed: int | None
    treatment: int | None
    service_totals: tuple[TimeExpr, ...] = ()  # a total right after a service names that service's minutes


class Masked:
    """The note with spans blanked out (same length, same offsets) once they are read as something else."""

    def __init__(self, text: str) -> None:
        self.chars = list(text)

    def blank(self, start: int, end: int) -> None:
        self.chars[start:end] = " " * (end - start)

    @property
    def text(self) -> str:
        return "".join(self.chars)


def _word_number(text: str) -> int | None:
    parts = re.split(r"[\s-]+", text.lower())
    if parts[0] in _TENS:
        extra = _NUMBER_WORDS.get(parts[1], 0) if len(parts) > 1 else 0
        return _TENS[parts[0]] + extra
    return _NUMBER_WORDS.get(parts[0])


def _clock(text: str, half: str | None) -> int | None:
    hours, minutes = text.split(":") if ":" in text else (text[:-2], text[-2:])
    hour, minute = int(hours), int(minutes)
    if hour > 23 or minute > 59:
        return None
    if half and half.lower() == "p" and hour < 12:
        hour += 12
    if half and half.lower() == "a" and hour == 12:
        hour = 0
    return hour * 60 + minute


def interval_minutes(match: re.Match[str]) -> int | None:
    """The minutes between a start and a stop; a stop before the start without am/pm is read as after noon
    (11:50-12:10 needs nothing, 12:50-1:10 does); None for an impossible interval."""
    start_half, end_half = match.group(2), match.group(4) or match.group(2)
    start, end = _clock(match.group(1), start_half), _clock(match.group(3), end_half)
    if start is None or end is None:
        return None
    if end < start and end_half is None:
        end += 12 * 60
    span = end - start
    return span if 0 < span <= MAX_MINUTES else None


def mask_words(masked: Masked, pattern: re.Pattern[str] | None) -> None:
    if pattern is None:
        return
    for match in pattern.finditer(masked.text):
        masked.blank(match.start(), match.end())


def read_totals(masked: Masked, grammar: Grammar, follows_service: Callable[[int], bool]) -> Totals:
    """The totals written in the note (blanked out: never a service's minutes). A total label right after a
    service's words (``TE total 18 min``, ``follows_service(label start)``) gives that service's minutes."""
    found: dict[str, int] = {}
    service_totals: list[TimeExpr] = []
    for name in ("total_timed", "total_treatment"):
        pattern = grammar.pattern(name)
        if pattern is None:
            continue
        for label in pattern.finditer(masked.text):
            value = _TOTAL_VALUE.match(masked.text, label.end())
            if value is None:
                continue
            minutes = int(value.group(1))
            if follows_service(label.start()):
                if 0 < minutes <= MAX_MINUTES:
                    service_totals.append(TimeExpr(label.start(), value.end(), minutes, False, total=True))
            else:
                found.setdefault(name, minutes)
            masked.blank(label.start(), value.end())
    for name in ("session_in", "session_out"):
        pattern = grammar.pattern(name)
        for label in pattern.finditer(masked.text) if pattern else ():
            clock = _SESSION_CLOCK.match(masked.text, label.end())
            masked.blank(label.start(), clock.end() if clock else label.end())
    return Totals(found.get("total_timed"), found.get("total_treatment"), tuple(service_totals))


def mask_not_time(masked: Masked, grammar: Grammar) -> None:
    """Blank out assistance levels, sets x reps, units, scores, vitals, dates and rest periods."""
    mask_words(masked, grammar.pattern("assistance"))
    rest = grammar.pattern("rest")
    if rest is not None:
        for match in rest.finditer(masked.text):
            after = re.match(rf"\s*(?:x\s*)?\d{{1,3}}\s*(?:['’′]|{_MINUTE_WORD})", masked.text[match.end() :])
            if after:
                masked.blank(match.start(), match.end() + after.end())
    for pattern in _NOT_TIME:
        mask_words(masked, pattern)


def find_times(text: str, grammar: Grammar, is_distance: DistanceCheck) -> list[TimeExpr]:
    """Every minutes expression in ``text`` (already masked), in order; ``N'`` that is a distance is skipped."""
    found: list[TimeExpr] = []
    for match in _INTERVAL.finditer(text):
        minutes = interval_minutes(match)
        if minutes is not None:
            found.append(TimeExpr(match.start(), match.end(), minutes, True))
    taken = [(t.start, t.end) for t in found]
    for kind, pattern in (("min", _MINUTES), ("quote", _APOSTROPHE), ("word", _WORDS)):
        for match in pattern.finditer(text):
            if any(a < match.end() and match.start() < b for a, b in taken):
                continue
            value = _word_number(match.group(1)) if kind == "word" else int(match.group(1))
            if value is None or not 0 < value <= MAX_MINUTES:
                continue
            if kind == "quote" and is_distance(match.start(), match.end(), value):
                continue
            found.append(TimeExpr(match.start(), match.end(), value, False))
            taken.append((match.start(), match.end()))
    return sorted(found, key=lambda t: t.start)


class DistanceCheck:
    """Whether ``N'`` at a span is a distance in feet: above ``feet_above``, after a walking word in its
    clause (with no other service named in between) or right before an assistive device or assistance
    level."""

    def __init__(self, text: str, grammar: Grammar, clause_starts: list[int], terms: list[tuple[int, int]]) -> None:
        self.text, self.grammar = text, grammar
        self.clause_starts, self.terms = clause_starts, sorted(terms)

    def __call__(self, start: int, end: int, value: int) -> bool:
        if value > self.grammar.feet_above:
            return True
        distance = self.grammar.pattern("distance")
        index = bisect_right(self.clause_starts, start) - 1
        clause_start = self.clause_starts[index] if index >= 0 else 0
        walked = list(distance.finditer(self.text, clause_start, start)) if distance is not None else []
        if walked and not self._service_between(walked[-1].end(), start):
            return True
        after = self.grammar.pattern("distance_after")
        window = self.text[end : end + 16].lstrip()
        return after is not None and after.match(window) is not None

    def _service_between(self, low: int, high: int) -> bool:
        return any(low <= term_start and term_end <= high for term_start, term_end in self.terms)


def find_dates(text: str, grammar: Grammar) -> Iterator[tuple[int, date]]:
    """Full dates in the note (offset, date), a labelled one (``DOS 04/02/2026``) first."""
    found: list[tuple[int, int, date]] = []
    labels = grammar.pattern("date_labels")
    for pattern in _DATES:
        for match in pattern.finditer(text):
            day = _date(match, pattern is _DATES[0])
            if day is None:
                continue
            labelled = labels is not None and labels.search(text, max(0, match.start() - 16), match.start()) is not None
            found.append((0 if labelled else 1, match.start(), day))
    for _, offset, day in sorted(found, key=lambda item: (item[0], item[1])):
        yield offset, day


def _date(match: re.Match[str], iso: bool) -> date | None:
    if iso:
        year, month, day = (int(g) for g in match.groups())
    else:
        month, day, year = (int(g) for g in match.groups())
        year = year + 2000 if year < 100 else year
    try:
        return date(year, month, day)
    except ValueError:
        return None
