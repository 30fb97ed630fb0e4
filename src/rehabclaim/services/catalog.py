"""Codes: one code's facts, ranked search, and the units a set of timed minutes earns.

Everything is read from the ``Reference``'s catalog; the search index is built from it per call (a few
hundred microseconds for the bundled catalog), so a reloaded reference is searched at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import msgspec

from rehabclaim.catalog import Code
from rehabclaim.catalog.search import CodeIndex
from rehabclaim.errors import InputError, quote, short_reason, validation_field
from rehabclaim.lines import build_lines
from rehabclaim.model import MAX_SERVICES, Service
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, NotFound
from rehabclaim.units import METHODS, assign_units

MAX_SEARCH_RESULTS = 100
_MINUTES = re.compile("[0-9]{1,9}")  # ASCII digits only: int() would take '²' or '١٢'


class CodeFacts(msgspec.Struct):
    """One code and the facts the rules read about it (``rehabclaim code --json``)."""

    code: str
    kind: str
    category: str
    description: str
    timed: bool
    therapy: bool
    disciplines: list[str]
    effective: date | None
    end: date | None
    replaced_by: str | None
    addon_of: list[str]
    encounter: str | None
    subsequent_code: str | None
    keywords: list[str]
    evaluation: str | None
    evaluation_group: str | None
    min_age_years: int | None
    minutes_per_unit: int | None
    source: str


class SearchHit(msgspec.Struct):
    """A ranked code: ``matched`` holds the query words (stemmed, shorthand expanded) it matched; a
    deleted code says when (``end``) and what replaced it."""

    code: str
    score: float
    description: str
    matched: list[str]
    end: date | None
    replaced_by: str | None


class UnitLine(msgspec.Struct):
    code: str
    units: int
    minutes: int | None
    why: str


class UnitPlanResult(msgspec.Struct):
    """Units per code for the given minutes (``rehabclaim units --json``)."""

    method: str
    total_timed_minutes: int
    total_timed_units: int
    lines: list[UnitLine]


def _facts(code: Code) -> CodeFacts:
    return CodeFacts(
        code=code.code,
        kind=code.kind,
        category=code.category,
        description=code.description,
        timed=code.timed,
        therapy=code.therapy,
        disciplines=list(code.disciplines),
        effective=code.effective,
        end=code.end,
        replaced_by=code.replaced_by,
        addon_of=list(code.addon_of),
        encounter=code.encounter,
        subsequent_code=code.subsequent_code,
        keywords=list(code.keywords),
        evaluation=code.evaluation,
        evaluation_group=code.evaluation_group,
        min_age_years=code.min_age_years,
        minutes_per_unit=code.minutes_per_unit,
        source=code.source,
    )


def code_facts(reference: Reference, *, code: str) -> CodeFacts:
    """The facts of ``code`` (spaces and case ignored); NotFound naming ``code`` when the catalog lacks it."""
    found = reference.catalog.get(code)
    if found is None:
        raise NotFound("code", f"unknown code {quote(code)}")
    return _facts(found)


def search_codes(reference: Reference, *, query: str, limit: int = 10) -> list[SearchHit]:
    """The ``limit`` codes most relevant to ``query`` (1 to 100), best first; shorthand such as therex,
    NMR, MT, TA, HP/CP, US, e-stim is understood."""
    if not 1 <= limit <= MAX_SEARCH_RESULTS:
        raise BadInput("limit", f"expected 1 to {MAX_SEARCH_RESULTS}, got {limit}")
    hits = CodeIndex(reference.catalog).search(query, limit)
    return [
        SearchHit(hit.code.code, hit.score, hit.code.description, list(hit.matched), hit.code.end, hit.code.replaced_by)
        for hit in hits
    ]


def parse_pairs(pairs: Sequence[str]) -> list[tuple[str, int]]:
    """``CODE=MINUTES`` texts (the CLI's arguments, a query string's values) as (code, minutes), each
    checked against a visit's limits; BadInput naming ``argument N`` (from 1) otherwise."""
    services: list[tuple[str, int]] = []
    for position, pair in enumerate(pairs, start=1):
        code_text, sep, minutes_text = pair.partition("=")
        if not sep or not _MINUTES.fullmatch(minutes_text):
            raise BadInput(f"argument {position}", f"expected CODE=MINUTES, got {quote(pair)}")
        try:
            service = _service(code_text, int(minutes_text))
        except InputError as exc:
            raise BadInput(f"argument {position}", f"{exc.field}: {exc.reason}") from None
        services.append((service.code, int(minutes_text)))
    return services


def _service(code: str, minutes: int) -> Service:
    """A service of ``code`` for ``minutes``, validated like a visit's; InputError naming the field."""
    try:
        return msgspec.convert({"code": code, "minutes": minutes}, Service)
    except msgspec.ValidationError as exc:
        field, reason = validation_field(str(exc))
        raise InputError(field, short_reason(reason)) from None


def units(reference: Reference, *, services: Sequence[tuple[str, int]], method: str = "cms") -> UnitPlanResult:
    """Units per code for (code, minutes) services by ``method`` (``cms``: total timed minutes;
    ``per-code``), with the reasoning. A code given twice is one line with the minutes added, as on a
    visit. BadInput naming ``--method``, or ``services[i]`` and the field (an unknown code included)."""
    if method not in METHODS:
        raise BadInput("--method", f"expected one of {', '.join(METHODS)}, got {quote(method)}")
    if len(services) > MAX_SERVICES:
        raise BadInput("services", f"at most {MAX_SERVICES} services, got {len(services)}")
    checked = []
    for index, (code, minutes) in enumerate(services):
        try:
            checked.append(_service(code, minutes))
        except InputError as exc:
            raise BadInput(f"services[{index}].{exc.field}", exc.reason) from None
    try:
        lines = build_lines(checked, reference.catalog)
    except InputError as exc:
        raise BadInput.from_input_error(exc) from None
    plan = assign_units(lines, method)
    return UnitPlanResult(
        method=plan.method,
        total_timed_minutes=plan.total_minutes,
        total_timed_units=plan.total_units,
        lines=[UnitLine(line.code.code, line.units, line.minutes, line.why) for line in lines],
    )
