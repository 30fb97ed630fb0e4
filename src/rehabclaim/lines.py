"""From a visit's services to working claim lines: one line per code, with the minutes that count.

Timed codes are reported once per date of service (several MACs reject a timed code split over lines,
``units.md`` s. 2 item 8), so services with the same code are merged and their minutes added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from rehabclaim.catalog import Catalog, Code
from rehabclaim.errors import InputError, quote
from rehabclaim.model import Service, TimeBlock

# what the claim line of a whole line shows of its estimate, worked out with it (rehabclaim.fees): the fee
# steps joined, the charge, the expected amount and its expected_why
FeeSummary = tuple[str, float | None, float | None, str]


# init=False and a written __init__: the one dataclasses generates runs as interpreted Python even where mypyc
# compiles this module (scripts/compile), and sets each field through a descriptor; three lines a visit
@dataclass(slots=True, init=False)
class WorkLine:
    """A claim line while the engine works on it."""

    code: Code
    service_indexes: list[int]
    minutes: int | None  # documented minutes (None when none were documented)
    training_minutes: int | None
    assistant_minutes: int
    stated_units: int | None
    regions: set[str]
    input_modifiers: list[str]
    distinct: bool  # the record documents the service as distinct from the others (NCCI)
    distinct_modifier: str | None
    time_blocks: list[TimeBlock]
    is_timed_therapy: bool  # a 15-minute therapy code: its units come from the unit method
    counted_minutes: int = 0  # the minutes that earn units
    units: int = 0
    # set by the modifier stages (rehabclaim.pipeline), each with what it decided for the rule that reports it
    discipline_modifier: str | None = None  # GP/GO/GN (discipline stage)
    other_discipline_modifiers: tuple[str, ...] = ()  # the caller's modifiers of another discipline it removed
    assistant_modifier: str | None = None  # CQ/CO on `assistant_units` of the units (assistant stage)
    assistant_units: int = 0
    assistant_reason: str | None = None  # why those units carry it ("CQ on 1 of 2 unit(s): ...")
    added_modifiers: list[str] = field(default_factory=list)  # 59/X, telehealth, KX stages
    notes: list[str] = field(default_factory=list)  # what the stages added, for the line's `why`
    why: str = ""
    # reimbursement estimate, set by rehabclaim.fees: per-unit amounts (highest first, assistant units last)
    charge_per_unit: float | None = None
    unit_amounts: list[Decimal] | None = None
    fee_steps: list[str] = field(default_factory=list)
    fee_summary: FeeSummary | None = None  # None: not estimated, or steps added outside the estimate
    minutes_unknown: bool = False  # units as billed on an incoming claim (Service.minutes_unknown)

    def __init__(
        self,
        code: Code,
        service_indexes: list[int],
        minutes: int | None,
        training_minutes: int | None,
        assistant_minutes: int,
        stated_units: int | None,
        regions: set[str],
        input_modifiers: list[str],
        distinct: bool,
        distinct_modifier: str | None,
        time_blocks: list[TimeBlock],
        is_timed_therapy: bool,
        minutes_unknown: bool = False,
    ) -> None:
        self.code = code
        self.service_indexes = service_indexes
        self.minutes = minutes
        self.training_minutes = training_minutes
        self.assistant_minutes = assistant_minutes
        self.stated_units = stated_units
        self.regions = regions
        self.input_modifiers = input_modifiers
        self.distinct = distinct
        self.distinct_modifier = distinct_modifier
        self.time_blocks = time_blocks
        self.is_timed_therapy = is_timed_therapy
        self.minutes_unknown = minutes_unknown
        self.counted_minutes = 0
        self.units = 0
        self.discipline_modifier = None
        self.other_discipline_modifiers = ()
        self.assistant_modifier = None
        self.assistant_units = 0
        self.assistant_reason = None
        self.added_modifiers = []
        self.notes = []
        self.why = ""
        self.charge_per_unit = None
        self.unit_amounts = None
        self.fee_steps = []
        self.fee_summary = None

    def __reduce__(self) -> tuple[Callable[..., WorkLine], tuple[object, ...]]:
        # copied (deepcopy) and pickled by its fields: compiled with a written __init__, the class cannot be
        # made empty first and filled after, as the default reduction does
        return _restored_line, tuple(getattr(self, name) for name in _LINE_FIELDS)

    def modifiers_for(self, assisted: bool) -> list[str]:
        """The claim line's modifiers, in order: discipline, assistant (on assisted units), then the other
        stages' (59/X, 95, KX) and the caller's."""
        first = [self.discipline_modifier] if self.discipline_modifier else []
        if assisted and self.assistant_modifier:
            first.append(self.assistant_modifier)
        if not (self.added_modifiers or self.input_modifiers):
            return first
        taken = {self.discipline_modifier, self.assistant_modifier}
        rest = dict.fromkeys(m for m in (*self.added_modifiers, *self.input_modifiers) if m not in taken)
        return first + list(rest)


_LINE_FIELDS = tuple(field.name for field in fields(WorkLine))  # the first 12: what __init__ takes
_INIT_FIELDS = 12


def _restored_line(*values: Any) -> WorkLine:
    line = WorkLine(*values[:_INIT_FIELDS])
    for name, value in zip(_LINE_FIELDS[_INIT_FIELDS:], values[_INIT_FIELDS:], strict=True):
        setattr(line, name, value)
    return line


def _add(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


def _new_line(
    code: Code, index: int, service: Service, modifiers: list[str], time_blocks: list[TimeBlock], assistant: int | None
) -> WorkLine:
    # each of the service's fields read once (build_lines read the others): a msgspec attribute read is a lookup
    minutes, region = service.minutes, service.body_region
    return WorkLine(
        code=code,
        service_indexes=[index],
        minutes=minutes,
        training_minutes=service.training_minutes,
        assistant_minutes=assistant or 0,
        stated_units=service.units,
        regions={region.strip().lower()} if region else set(),
        input_modifiers=list(modifiers),
        distinct=bool(service.distinct),
        distinct_modifier=service.distinct_modifier,
        time_blocks=list(time_blocks),
        is_timed_therapy=code.timed and code.therapy,
        minutes_unknown=minutes is None and service.minutes_unknown,
    )


def _merge(line: WorkLine, index: int, service: Service) -> None:
    line.service_indexes.append(index)
    line.minutes = _add(line.minutes, service.minutes)
    line.training_minutes = _add(line.training_minutes, service.training_minutes)
    line.assistant_minutes += service.assistant_minutes or 0
    line.stated_units = _add(line.stated_units, service.units)
    if service.body_region:
        line.regions.add(service.body_region.strip().lower())
    line.input_modifiers.extend(m for m in service.modifiers if m not in line.input_modifiers)
    line.distinct = line.distinct or bool(service.distinct)
    line.distinct_modifier = line.distinct_modifier or service.distinct_modifier
    line.time_blocks.extend(service.time_blocks)
    line.minutes_unknown = line.minutes_unknown and service.minutes_unknown and service.minutes is None


def build_lines(services: list[Service], catalog: Catalog) -> list[WorkLine]:
    """One WorkLine per code, in the order codes first appear. Unknown codes are input errors."""
    by_code: dict[str, WorkLine] = {}
    codes = catalog.codes
    for index, service in enumerate(services):
        # most codes arrive as the catalog spells them (its keys are stripped upper case): one lookup
        code = codes.get(service.code) or catalog.get(service.code)
        if code is None:
            raise InputError(f"services[{index}].code", f"unknown code {quote(service.code)}")
        modifiers, time_blocks, assistant = service.modifiers, service.time_blocks, service.assistant_minutes
        if modifiers or time_blocks or assistant or service.distinct_modifier:
            _check_service(index, service, catalog)
        existing = by_code.get(code.code)
        if existing is None:
            by_code[code.code] = _new_line(code, index, service, modifiers, time_blocks, assistant)
        else:
            _merge(existing, index, service)
    return list(by_code.values())


def _check_service(index: int, service: Service, catalog: Catalog) -> None:
    """Refuse a service's unknown modifiers, reversed time blocks and assistant minutes past its minutes."""
    for position, modifier in enumerate(service.modifiers):
        if modifier not in catalog.modifiers:
            raise InputError(f"services[{index}].modifiers[{position}]", f"unknown modifier {quote(modifier)}")
    for position, block in enumerate(service.time_blocks):
        if block.end <= block.start:
            raise InputError(f"services[{index}].time_blocks[{position}]", "end must be after start")
    if service.distinct_modifier and catalog.modifiers.get(service.distinct_modifier, None) is None:
        raise InputError(f"services[{index}].distinct_modifier", f"unknown modifier {quote(service.distinct_modifier)}")
    if service.assistant_minutes and service.minutes is not None and service.assistant_minutes > service.minutes:
        raise InputError(
            f"services[{index}].assistant_minutes",
            f"{service.assistant_minutes} assistant minutes exceed the service's {service.minutes} minutes",
        )
