"""Documentation checklists (``data/documentation.toml``) and the review of one visit's note against them.

``load_checklists`` reads the per-code checklists once (``load_reference`` keeps them on the Reference).
``review_documentation`` judges a visit's ``documentation`` object against the codes billed: each element
present or missing, the minutes each code's note documents and the intervals it was furnished in. The
documentation rules (``rules/documentation.py``, family T) report from that review, and the scrubber turns
it into the visit's ``documentation`` score; both read one review, built once per visit and only for a visit
with a ``documentation`` object.

No note text goes into a detail or a message: elements are named by their labels, times and counts only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Literal

import msgspec

from rehabclaim.datafiles import DataFileError, convert_toml, decode_utf8, is_code
from rehabclaim.errors import validation_field
from rehabclaim.lines import WorkLine
from rehabclaim.model import (
    Documentation,
    DocumentationScore,
    EvaluationNote,
    MissingElement,
    ServiceNote,
    Severity,
    Visit,
)

FILE = "documentation.toml"
RULE_FAMILY = "documentation"  # the rules module reporting from the review (its rules run only with a note)
TIMED = "timed"  # the checklist every timed therapy code needs

Test = Literal[
    "note_text",
    "service_text",
    "service_minutes",
    "start_stop",
    "device_type",
    "device_region",
    "activities",
    "certifying_physician",
    "group_size",
    "evaluation",
    "session_times",
    "note_minutes",
]
NEEDS_FIELD: dict[str, type[msgspec.Struct]] = {
    "note_text": Documentation,
    "service_text": ServiceNote,
    "evaluation": EvaluationNote,
    "note_minutes": Documentation,
}


# --- the file --------------------------------------------------------------------------------------------


class ElementSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    label: str
    scope: Literal["service", "visit"]
    test: Test
    severity: Literal["error", "warning"]
    source: str
    field: str | None = None
    keywords: list[str] = []
    minimum: int | None = None
    severity_when_only_total: Literal["error", "warning"] | None = None


class FittingOnlySpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    codes: list[str]
    training_keywords: list[str]


class GroupSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    codes: list[str]
    concurrent_is_group_for_payers: list[str] = []


class SkipSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    categories: list[str] = []


class ChecklistFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    meta: dict[str, str]
    element: dict[str, dict[str, object]]  # each converted to an ElementSpec on its own, to name it in errors
    checklist: dict[str, list[str]]
    fitting_only: FittingOnlySpec
    evaluation: dict[str, dict[str, list[int | str]]]
    group: GroupSpec
    skip: SkipSpec = SkipSpec()


@dataclass(frozen=True, slots=True)
class Element:
    """One element a note must hold, with how its presence is judged."""

    id: str
    label: str
    scope: str  # "service" or "visit"
    test: str
    severity: Severity
    source: str
    field: str | None
    pattern: re.Pattern[str] | None  # activities: any keyword at the start of a word
    minimum: int | None
    severity_when_only_total: Severity | None


@dataclass(frozen=True, slots=True)
class EvaluationLevels:
    """The levels of one discipline's evaluation (lowest first) and each component's bands."""

    codes: tuple[str, ...]
    counts: dict[str, tuple[int, ...]]  # component -> least count for each level
    words: dict[str, tuple[str, ...]]  # component -> the word of each level

    def level_of(self, component: str, value: int | str) -> int:
        """The highest level (index into ``codes``) the value supports; -1 for none."""
        if component in self.counts and isinstance(value, int):
            return max((i for i, least in enumerate(self.counts[component]) if value >= least), default=-1)
        words = self.words.get(component, ())
        return words.index(value) if value in words else -1


@dataclass(frozen=True, slots=True)
class Checklists:
    """The per-code checklists and the figures of the time checks."""

    elements: dict[str, Element]
    by_code: dict[str, tuple[str, ...]]
    timed: tuple[str, ...]
    fitting_only_codes: frozenset[str]
    training_pattern: re.Pattern[str]
    evaluations: dict[str, EvaluationLevels]  # by evaluation code
    group_codes: frozenset[str]
    concurrent_is_group_for_payers: frozenset[str]
    skip_categories: frozenset[str]


def _pattern(keywords: Iterable[str]) -> re.Pattern[str]:
    words = [re.escape(word.lower()) for word in keywords if word.strip()]
    return re.compile(r"\b(?:" + "|".join(words) + ")" if words else r"(?!)")


def load_checklists() -> Checklists:
    """The bundled checklists, read and checked now; a bad file raises DataFileError naming the field."""
    from importlib import resources

    raw = resources.files("rehabclaim.data").joinpath(FILE).read_bytes()
    return parse_checklists(decode_utf8(raw, FILE))


@cache
def element_ids() -> frozenset[str]:
    """The element ids a payer profile may require (package data: read once per process)."""
    return frozenset(load_checklists().elements)


def parse_checklists(text: str, origin: str = FILE) -> Checklists:
    spec = convert_toml(text, ChecklistFile, origin)
    elements = {key: _element(key, _element_spec(key, item, origin), origin) for key, item in spec.element.items()}
    by_code: dict[str, tuple[str, ...]] = {}
    for code, listed in spec.checklist.items():
        if code != TIMED and not is_code(code):
            raise DataFileError(f"{origin}: checklist.{code}: not a 5-character HCPCS/CPT code")
        for element_id in listed:
            if element_id not in elements:
                raise DataFileError(f"{origin}: checklist.{code}: {element_id!r} is not an [element.*] of the file")
        by_code[code] = tuple(listed)
    return Checklists(
        elements=elements,
        by_code={code: ids for code, ids in by_code.items() if code != TIMED},
        timed=by_code.get(TIMED, ()),
        fitting_only_codes=frozenset(spec.fitting_only.codes),
        training_pattern=_pattern(spec.fitting_only.training_keywords),
        evaluations=_evaluations(spec.evaluation, origin),
        group_codes=frozenset(spec.group.codes),
        concurrent_is_group_for_payers=frozenset(key.lower() for key in spec.group.concurrent_is_group_for_payers),
        skip_categories=frozenset(spec.skip.categories),
    )


def _element_spec(key: str, raw: dict[str, object], origin: str) -> ElementSpec:
    try:
        return msgspec.convert(raw, ElementSpec)
    except msgspec.ValidationError as exc:
        path, reason = validation_field(str(exc))
        raise DataFileError(f"{origin}: element.{key}{'.' + path if path else ''}: {reason}") from None


def _element(key: str, item: ElementSpec, origin: str) -> Element:
    where = f"{origin}: element.{key}"
    kind = NEEDS_FIELD.get(item.test)
    if kind is not None and (item.field is None or item.field not in kind.__struct_fields__):
        raise DataFileError(f"{where}.field: test {item.test!r} needs a field of {kind.__name__}")
    if item.test == "activities" and not item.keywords:
        raise DataFileError(f"{where}.keywords: test 'activities' needs keywords")
    if item.test == "group_size" and (item.minimum is None or item.minimum < 1):
        raise DataFileError(f"{where}.minimum: test 'group_size' needs a minimum of 1 or more")
    return Element(
        id=key,
        label=item.label,
        scope=item.scope,
        test=item.test,
        severity=item.severity,
        source=item.source,
        field=item.field,
        pattern=_pattern(item.keywords) if item.keywords else None,
        minimum=item.minimum,
        severity_when_only_total=item.severity_when_only_total,
    )


def _evaluations(tables: dict[str, dict[str, list[int | str]]], origin: str) -> dict[str, EvaluationLevels]:
    by_code: dict[str, EvaluationLevels] = {}
    for discipline, table in tables.items():
        where = f"{origin}: evaluation.{discipline}"
        codes = table.get("codes", [])
        if not codes or not all(isinstance(code, str) and is_code(code) for code in codes):
            raise DataFileError(f"{where}.codes: a list of HCPCS/CPT codes, lowest level first")
        counts: dict[str, tuple[int, ...]] = {}
        words: dict[str, tuple[str, ...]] = {}
        for component, bands in table.items():
            if component == "codes":
                continue
            if component not in EvaluationNote.__struct_fields__:
                raise DataFileError(f"{where}.{component}: not a field of the documentation's evaluation")
            if len(bands) != len(codes):
                raise DataFileError(f"{where}.{component}: one band per code ({len(codes)})")
            if all(isinstance(band, int) for band in bands):
                counts[component] = tuple(int(band) for band in bands)
                if list(counts[component]) != sorted(counts[component]):
                    raise DataFileError(f"{where}.{component}: counts must not decrease")
            elif all(isinstance(band, str) for band in bands):
                words[component] = tuple(str(band) for band in bands)
            else:
                raise DataFileError(f"{where}.{component}: all counts or all words")
        levels = EvaluationLevels(tuple(str(code) for code in codes), counts, words)
        by_code.update(dict.fromkeys(levels.codes, levels))
    return by_code


# --- times -----------------------------------------------------------------------------------------------


def clock_minutes(text: str) -> int:
    """Minutes after midnight of an ``HH:MM`` time (the model has checked the pattern)."""
    return int(text[:2]) * 60 + int(text[3:5])


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class Interval:
    """A service's start and stop on the visit's note, in minutes after midnight."""

    code: str
    start: int
    stop: int
    clinician: str | None
    one_on_one: bool | None

    @property
    def minutes(self) -> int:
        return self.stop - self.start

    def overlap(self, other: Interval) -> int:
        return max(0, min(self.stop, other.stop) - max(self.start, other.start))

    @property
    def text(self) -> str:
        return f"{clock_text(self.start)}-{clock_text(self.stop)}"


def union_minutes(intervals: Iterable[Interval]) -> int:
    """Wall-clock minutes the intervals cover together."""
    total, end = 0, -1
    for interval in sorted(intervals, key=lambda i: i.start):
        if interval.stop > end:
            total += interval.stop - max(interval.start, end)
            end = interval.stop
    return total


@dataclass(frozen=True, slots=True)
class ClinicianSlot:
    """A one-on-one (timed) service one clinician furnished to one patient, with its wall-clock period
    (time-zone aware: visits of different offsets compare correctly)."""

    clinician: str  # an NPI or the EMR's practitioner id: never a name
    patient: str
    visit: str
    code: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SlotOverlap:
    first: ClinicianSlot
    second: ClinicianSlot

    @property
    def start(self) -> datetime:
        return max(self.first.start, self.second.start)

    @property
    def end(self) -> datetime:
        return min(self.first.end, self.second.end)

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


def clinician_overlaps(slots: Iterable[ClinicianSlot]) -> list[SlotOverlap]:
    """Each pair of one clinician's one-on-one services for different patients whose periods overlap by a
    minute or more (reference documentation.md s. 5, derived check 1: under Part B that time is group
    therapy, 97150). Ordered by clinician, then start."""
    by_clinician: dict[str, list[ClinicianSlot]] = {}
    for slot in slots:
        by_clinician.setdefault(slot.clinician, []).append(slot)
    found: list[SlotOverlap] = []
    for clinician in sorted(by_clinician):
        ordered = sorted(by_clinician[clinician], key=lambda slot: (slot.start, slot.end))
        for index, first in enumerate(ordered):
            for second in ordered[index + 1 :]:
                if second.start >= first.end:
                    break  # sorted by start: no later slot overlaps ``first``
                overlap = SlotOverlap(first, second)
                if first.patient != second.patient and overlap.minutes >= 1:
                    found.append(overlap)
    return found


def _interval(note: ServiceNote) -> Interval | None:
    if note.start is None or note.stop is None:
        return None
    start, stop = clock_minutes(note.start), clock_minutes(note.stop)
    if stop <= start:
        return None
    return Interval(note.code.strip().upper(), start, stop, note.clinician, note.one_on_one)


@dataclass(frozen=True, slots=True)
class NoteMinutes:
    """The minutes a code's note documents, and how (for the message)."""

    minutes: int
    how: str


def documented_minutes(notes: list[ServiceNote]) -> NoteMinutes | None:
    """The minutes the notes for one code document: each note's minutes, or its start-stop interval; where
    a note gives both and they differ, the fewer (the note does not support more). None: no time at all."""
    total, hows, found = 0, [], False
    for note in notes:
        interval = _interval(note)
        if note.minutes is None and interval is None:
            continue
        found = True
        if interval is None:
            assert note.minutes is not None
            total += note.minutes
            hows.append(f"{note.minutes} min")
        elif note.minutes is None or interval.minutes < note.minutes:
            total += interval.minutes
            also = f" (the note also says {note.minutes} min)" if note.minutes is not None else ""
            hows.append(f"{interval.minutes} min from the start and stop times {interval.text}{also}")
        else:
            total += note.minutes
            hows.append(f"{note.minutes} min")
    return NoteMinutes(total, " + ".join(hows)) if found else None


# --- the review ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """One element for one billed code (``code`` None: a visit-level element a payer requires)."""

    code: str | None
    element: Element
    present: bool
    severity: Severity
    detail: str = ""  # why it does not count, when something was written
    payer: bool = False  # required by the payer's profile, not the code's checklist
    reported_as_fitting_only: bool = False  # rule T003 reports it instead of T001/T002

    @property
    def text(self) -> str:
        """The finding's words: the element and the code, and what is wrong."""
        detail = f"; {self.detail}" if self.detail else ""
        if self.code is None:
            return f"the note does not document {self.element.label}{detail}"
        return f"{self.code}: the note does not document {self.element.label}{detail}"


@dataclass(slots=True)
class DocumentationReview:
    """A visit's note judged against its billed codes."""

    documentation: Documentation
    checklists: Checklists
    lines: list[WorkLine]  # the billed lines the family checks (XR/VR codes left out)
    notes: dict[str, list[ServiceNote]]  # by code
    intervals: list[Interval]
    verdicts: list[Verdict] = field(default_factory=list)

    def missing(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if not verdict.present]

    def training_documented(self, code: str) -> bool:
        pattern = self.checklists.training_pattern
        return any(
            pattern.search(activity.lower()) for note in self.notes.get(code, ()) for activity in note.activities
        )


def review_documentation(
    visit: Visit, lines: list[WorkLine], checklists: Checklists, payer_requires: Iterable[str] = ()
) -> DocumentationReview:
    """Judge ``visit.documentation`` (required) against the billed lines, the checklists and the elements
    the payer's profile adds."""
    documentation = visit.documentation
    if documentation is None:
        raise ValueError("review_documentation needs a visit with a documentation object")
    checked = [line for line in lines if line.code.category not in checklists.skip_categories]
    notes: dict[str, list[ServiceNote]] = {}
    intervals: list[Interval] = []
    for note in documentation.services:
        code = note.code.strip().upper()
        notes.setdefault(code, []).append(note)
        interval = _interval(note)
        if interval is not None:
            intervals.append(interval)
    review = DocumentationReview(documentation, checklists, checked, notes, intervals)
    timed_count = sum(1 for line in checked if line.is_timed_therapy)
    for line in checked:
        code = line.code.code
        wanted = list(checklists.by_code.get(code, ()))
        if line.is_timed_therapy:
            wanted += [element for element in checklists.timed if element not in wanted]
        for element_id in wanted:
            review.verdicts.append(_judge(review, visit, line, checklists.elements[element_id], timed_count))
    _payer_elements(review, visit, checked, payer_requires, timed_count)
    return review


def _payer_elements(
    review: DocumentationReview, visit: Visit, checked: list[WorkLine], requires: Iterable[str], timed_count: int
) -> None:
    for element_id in requires:
        element = review.checklists.elements[element_id]
        if element.scope == "visit":
            verdict = _judge(review, visit, None, element, timed_count)
            review.verdicts.append(_as_payer(verdict))
            continue
        for line in checked:
            listed = review.checklists.by_code.get(line.code.code, ())
            if line.is_timed_therapy and element_id not in listed and element_id not in review.checklists.timed:
                review.verdicts.append(_as_payer(_judge(review, visit, line, element, timed_count)))


def _as_payer(verdict: Verdict) -> Verdict:
    return Verdict(verdict.code, verdict.element, verdict.present, "error", verdict.detail, payer=True)


Judged = tuple[bool, str]


def _judge(
    review: DocumentationReview, visit: Visit, line: WorkLine | None, element: Element, timed_count: int
) -> Verdict:
    code = line.code.code if line is not None else None
    notes = review.notes.get(code, []) if code is not None else []
    present, detail = TESTS[element.test](element, review.documentation, visit, line, notes)
    severity = element.severity
    if (
        not present
        and element.test == "service_minutes"
        and element.severity_when_only_total is not None
        and review.documentation.total_timed_minutes is not None
    ):
        if timed_count == 1:
            present, detail = True, ""  # the total is this code's minutes
        else:
            severity = element.severity_when_only_total
            detail = "the note gives only the total timed minutes, so the units of each code cannot be verified"
    fitting_only = (
        not present and code in review.checklists.fitting_only_codes and element.test == "activities" and bool(notes)
    )
    return Verdict(code, element, present, severity, detail, reported_as_fitting_only=fitting_only)


def _text(value: str | None) -> bool:
    return value is not None and bool(value.strip())


TestFunction = Callable[[Element, Documentation, Visit, WorkLine | None, list[ServiceNote]], Judged]


def _note_text(
    element: Element, doc: Documentation, _visit: Visit, _line: WorkLine | None, _n: list[ServiceNote]
) -> Judged:
    return _text(getattr(doc, element.field or "")), ""


def _service_text(
    element: Element, doc: Documentation, _visit: Visit, _line: WorkLine | None, notes: list[ServiceNote]
) -> Judged:
    name = element.field or ""
    found = any(_text(getattr(note, name)) for note in notes) or _text(getattr(doc, name, None))
    return found, ""


def _service_minutes(
    _e: Element, _doc: Documentation, _visit: Visit, _line: WorkLine | None, notes: list[ServiceNote]
) -> Judged:
    if documented_minutes(notes) is not None:
        return True, ""
    return False, _backward(notes)


def _start_stop(
    _e: Element, _doc: Documentation, _visit: Visit, _line: WorkLine | None, notes: list[ServiceNote]
) -> Judged:
    if notes and all(_interval(note) is not None for note in notes):
        return True, ""
    return False, _backward(notes)


def _backward(notes: list[ServiceNote]) -> str:
    backward = [note for note in notes if note.start and note.stop and _interval(note) is None]
    return f"the stop time {backward[0].stop} is not after the start time {backward[0].start}" if backward else ""


def _device_type(
    _e: Element, _doc: Documentation, _visit: Visit, _line: WorkLine | None, notes: list[ServiceNote]
) -> Judged:
    return any(note.device is not None and note.device.type is not None for note in notes), ""


def _device_region(
    _e: Element, _doc: Documentation, _visit: Visit, line: WorkLine | None, notes: list[ServiceNote]
) -> Judged:
    in_note = any(note.device is not None and _text(note.device.body_region) for note in notes)
    return in_note or bool(line is not None and line.regions), ""


def _activities(
    element: Element, _doc: Documentation, _visit: Visit, _line: WorkLine | None, notes: list[ServiceNote]
) -> Judged:
    pattern = element.pattern
    found = pattern is not None and any(pattern.search(a.lower()) for note in notes for a in note.activities)
    if found:
        return True, ""
    if any(note.fitting_only for note in notes):
        return False, "the note records fitting only"
    return False, ""


def _certifying_physician(
    _e: Element, doc: Documentation, visit: Visit, _line: WorkLine | None, _n: list[ServiceNote]
) -> Judged:
    if _text(doc.certifying_physician):
        return True, ""
    plan = visit.plan_of_care
    physician = plan.certifying_physician if plan is not None else None
    return physician is not None and (_text(physician.name) or _text(physician.npi)), ""


def _group_size(
    element: Element, doc: Documentation, _visit: Visit, _line: WorkLine | None, _n: list[ServiceNote]
) -> Judged:
    least = element.minimum or 2
    if doc.group_size is None:
        return False, ""
    if doc.group_size < least:
        return False, f"the note gives a group of {doc.group_size}; a group is {least} or more patients"
    return True, ""


def _evaluation(
    element: Element, doc: Documentation, _visit: Visit, _line: WorkLine | None, _n: list[ServiceNote]
) -> Judged:
    return doc.evaluation is not None and getattr(doc.evaluation, element.field or "") is not None, ""


def _session_times(
    _e: Element, doc: Documentation, _visit: Visit, _line: WorkLine | None, _n: list[ServiceNote]
) -> Judged:
    if doc.session_start is None or doc.session_end is None:
        return False, ""
    if clock_minutes(doc.session_end) <= clock_minutes(doc.session_start):
        return False, f"the session end {doc.session_end} is not after its start {doc.session_start}"
    return True, ""


def _note_minutes(
    element: Element, doc: Documentation, _visit: Visit, _line: WorkLine | None, _n: list[ServiceNote]
) -> Judged:
    return getattr(doc, element.field or "") is not None, ""


TESTS: dict[str, TestFunction] = {
    "note_text": _note_text,
    "service_text": _service_text,
    "service_minutes": _service_minutes,
    "start_stop": _start_stop,
    "device_type": _device_type,
    "device_region": _device_region,
    "activities": _activities,
    "certifying_physician": _certifying_physician,
    "group_size": _group_size,
    "evaluation": _evaluation,
    "session_times": _session_times,
    "note_minutes": _note_minutes,
}


# --- the score -------------------------------------------------------------------------------------------


def holds_a_note(documentation: Documentation | None) -> bool:
    """Whether the visit carries a treatment note for the documentation rules (family T) to check: a
    ``documentation`` object holding anything besides ``xr``. XR sessions that ``import xr`` attaches to a
    visit with no note are evidence for 0770T, judged by the XR rules; they are not a note, so they do not
    turn the note checks on (every timed code would otherwise lack its minutes)."""
    if documentation is None:
        return False
    return documentation.xr is None or msgspec.structs.replace(documentation, xr=None) != EMPTY_DOCUMENTATION


EMPTY_DOCUMENTATION = Documentation()


def documentation_score(review: DocumentationReview) -> DocumentationScore:
    """Elements present / required over every checked code (and the elements the payer adds); 1.0 when
    nothing billed has a checklist."""
    required = len(review.verdicts)
    present = sum(1 for verdict in review.verdicts if verdict.present)
    missing = [MissingElement(verdict.code, verdict.element.id) for verdict in review.verdicts if not verdict.present]
    return DocumentationScore(present, required, round(present / required, 2) if required else 1.0, missing)
