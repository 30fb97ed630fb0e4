"""The code catalog: facts about each billable code, read from ``data/codes.toml``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from functools import cache
from typing import Any

from rehabclaim.datafiles import DataFileError, is_code, load_toml, optional_date, require
from rehabclaim.dates import DateRange
from rehabclaim.errors import quote

KINDS = frozenset({"CPT", "Category III", "HCPCS"})
CATEGORIES = frozenset(
    {
        "evaluation",
        "modality",
        "procedure",
        "orthotic_training",
        "prosthetic_training",
        "xr",
        "vr_dissociation",
        "orthosis",
        "unlisted",
    }
)
DISCIPLINES = frozenset({"PT", "OT", "SLP"})
ENCOUNTERS = frozenset({"initial", "subsequent"})
EVALUATIONS = frozenset({"initial", "re-evaluation"})


@dataclass(frozen=True, slots=True)
class Code:
    """One code and the facts the rules read about it."""

    code: str
    kind: str
    category: str
    description: str
    timed: bool
    therapy: bool
    disciplines: tuple[str, ...]
    source: str
    dates: DateRange  # when the code may be billed: codes.toml's effective and end dates
    replaced_by: str | None = None
    addon_of: tuple[str, ...] = ()
    addon_any_therapy_primary: bool = False
    encounter: str | None = None
    subsequent_code: str | None = None
    same_region_conflicts: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    evaluation: str | None = None  # "initial" or "re-evaluation": a clinician's service, never an assistant's
    evaluation_group: str | None = None  # evaluations of one group: one code, once, on a date of service
    min_age_years: int | None = None  # not reported for a younger patient
    minutes_per_unit: int | None = None  # a non-therapy code billed per this many minutes of its own time

    @property
    def is_addon(self) -> bool:
        return bool(self.addon_of)

    @property
    def is_orthosis(self) -> bool:
        return self.category == "orthosis"

    @property
    def effective(self) -> date | None:
        return self.dates.start

    @property
    def end(self) -> date | None:
        return self.dates.end

    def valid_on(self, day: date) -> bool:
        return self.dates.covers(day)

    def __reduce__(self) -> tuple[type[Code], tuple[Any, ...]]:
        return Code, init_values(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "category": self.category,
            "description": self.description,
            "timed": self.timed,
            "therapy": self.therapy,
            "disciplines": list(self.disciplines),
            "effective": self.effective.isoformat() if self.effective else None,
            "end": self.end.isoformat() if self.end else None,
            "replaced_by": self.replaced_by,
            "addon_of": list(self.addon_of),
            "encounter": self.encounter,
            "subsequent_code": self.subsequent_code,
            "keywords": list(self.keywords),
            "evaluation": self.evaluation,
            "evaluation_group": self.evaluation_group,
            "min_age_years": self.min_age_years,
            "minutes_per_unit": self.minutes_per_unit,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Modifier:
    code: str
    role: str
    description: str
    source: str
    discipline: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "role": self.role,
            "discipline": self.discipline,
            "description": self.description,
            "source": self.source,
        }

    def __reduce__(self) -> tuple[type[Modifier], tuple[Any, ...]]:
        return Modifier, init_values(self)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Codes and modifiers, looked up by their billed spelling."""

    version: str
    codes: dict[str, Code]
    modifiers: dict[str, Modifier]
    modifier_for_role: dict[tuple[str, str], str]  # (role, discipline) -> modifier, e.g. GP, CQ
    modifiers_by_role: dict[str, frozenset[str]]  # role -> modifiers, e.g. distinct -> 59, XE, XS, XP, XU

    def get(self, code: str) -> Code | None:
        return self.codes.get(code.strip().upper())

    def discipline_modifier(self, discipline: str) -> str:
        return self.modifier_for_role[("discipline", discipline)]

    def assistant_modifier(self, discipline: str) -> str | None:
        return self.modifier_for_role.get(("assistant", discipline))

    def __reduce__(self) -> tuple[type[Catalog], tuple[Any, ...]]:
        return Catalog, init_values(self)


def init_values(instance: Any) -> tuple[Any, ...]:
    """A dataclass instance's constructor arguments, in order: what its ``__reduce__`` pickles (a Reference is
    broadcast by pickle). mypyc's own pickling of a compiled class (scripts/compile) sets the attributes one by
    one after making it, which a frozen dataclass refuses."""
    return tuple(getattr(instance, field.name) for field in fields(instance) if field.init)


def _parse_code(row: dict[str, Any], index: int) -> Code:
    where = f"codes.toml: code #{index + 1}"
    code = require(row, "code", str, where)
    where = f"codes.toml: code {code}" if is_code(code) else where
    kind = require(row, "kind", str, where)
    category = require(row, "category", str, where)
    disciplines = tuple(require(row, "disciplines", list, where))
    if kind not in KINDS:
        raise DataFileError(f"{where}: field 'kind' must be one of {sorted(KINDS)}, got {quote(kind)}")
    if category not in CATEGORIES:
        raise DataFileError(f"{where}: field 'category' must be one of {sorted(CATEGORIES)}")
    if not set(disciplines) <= DISCIPLINES:
        raise DataFileError(f"{where}: field 'disciplines' must hold only {sorted(DISCIPLINES)}")
    encounter = row.get("encounter")
    if encounter is not None and encounter not in ENCOUNTERS:
        raise DataFileError(f"{where}: field 'encounter' must be one of {sorted(ENCOUNTERS)}")
    evaluation = row.get("evaluation")
    if evaluation is not None and evaluation not in EVALUATIONS:
        raise DataFileError(f"{where}: field 'evaluation' must be one of {sorted(EVALUATIONS)}")
    if not is_code(code):
        raise DataFileError(f"{where}: field 'code' must be a 5-character HCPCS/CPT code, got {quote(code)}")
    return Code(
        code=code,
        kind=kind,
        category=category,
        description=require(row, "description", str, where),
        timed=require(row, "timed", bool, where),
        therapy=require(row, "therapy", bool, where),
        disciplines=disciplines,
        source=require(row, "source", str, where),
        dates=_dates(row, where),
        replaced_by=row.get("replaced_by"),
        addon_of=tuple(row.get("addon_of", ())),
        addon_any_therapy_primary=bool(row.get("addon_any_therapy_primary", False)),
        encounter=encounter,
        subsequent_code=row.get("subsequent_code"),
        same_region_conflicts=tuple(row.get("same_region_conflicts", ())),
        keywords=tuple(row.get("keywords", ())),
        evaluation=evaluation,
        evaluation_group=_optional(row, "evaluation_group", str, where),
        min_age_years=_optional_count(row, "min_age_years", 0, where),
        minutes_per_unit=_optional_count(row, "minutes_per_unit", 1, where),
    )


def _dates(row: dict[str, Any], where: str) -> DateRange:
    effective, end = optional_date(row, "effective", where), optional_date(row, "end", where)
    dates = DateRange.if_ordered(effective, end)
    if dates is None:
        raise DataFileError(f"{where}: field 'end' {end} is before 'effective' {effective}")
    return dates


def _optional(row: dict[str, Any], field: str, kind: type, where: str) -> Any:
    return require(row, field, kind, where) if field in row else None


def _optional_count(row: dict[str, Any], field: str, least: int, where: str) -> int | None:
    """A whole number of at least ``least``, or None when the row does not give it."""
    value: int | None = _optional(row, field, int, where)
    if value is not None and value < least:
        raise DataFileError(f"{where}: field '{field}' must be {least} or more, got {value}")
    return value


def _parse_modifier(row: dict[str, Any], index: int) -> Modifier:
    where = f"modifiers.toml: modifier #{index + 1}"
    return Modifier(
        code=require(row, "code", str, where),
        role=require(row, "role", str, where),
        description=require(row, "description", str, where),
        source=require(row, "source", str, where),
        discipline=row.get("discipline"),
    )


def _check_references(codes: dict[str, Code]) -> None:
    for code in codes.values():
        for ref in (
            *code.addon_of,
            *code.same_region_conflicts,
            *filter(None, [code.replaced_by, code.subsequent_code]),
        ):
            if ref not in codes:
                raise DataFileError(f"codes.toml: code {code.code} refers to unknown code {ref}")


# Cached: codes.toml and modifiers.toml are package data (no drop-in folder reads them), so the catalog
# cannot go stale while a process runs, and it is never changed after loading. A Reference holds it; the
# cache serves callers not yet given one (ledger posting) without parsing the file per call.
@cache
def load_catalog() -> Catalog:
    """Load and validate the bundled catalog once per process."""
    raw_codes = load_toml("codes.toml")
    codes: dict[str, Code] = {}
    for index, row in enumerate(raw_codes.get("code", [])):
        parsed = _parse_code(row, index)
        if parsed.code in codes:
            raise DataFileError(f"codes.toml: code {parsed.code} is listed twice")
        codes[parsed.code] = parsed
    _check_references(codes)
    modifiers = {
        m.code: m for m in (_parse_modifier(r, i) for i, r in enumerate(load_toml("modifiers.toml")["modifier"]))
    }
    by_role = {(m.role, m.discipline): m.code for m in modifiers.values() if m.discipline}
    roles = {m.role for m in modifiers.values()}
    grouped = {role: frozenset(m.code for m in modifiers.values() if m.role == role) for role in roles}
    return Catalog(
        version=raw_codes["meta"]["version"],
        codes=codes,
        modifiers=modifiers,
        modifier_for_role=by_role,
        modifiers_by_role=grouped,
    )
