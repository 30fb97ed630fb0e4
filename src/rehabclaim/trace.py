"""Opt-in structured traces of a scrub (``scrub --trace``, ``POST /v1/scrub?trace=true``): each claim line gets
a ``trace`` list of steps, each citing the data row or the reference note section it used.

A step is ``{"stage", "what", "source": {"file", "key", "date"}}``: ``stage`` is where the engine decided
(lines, units, modifiers, fees, kx), ``what`` a short account, ``source.file`` a data file's path in the
package's data folder (``codes.toml``, ``cms/PPRRVU2026_Jul_nonQPP.csv``, ``reference/units.md``; a drop-in
file's own path), ``source.key`` the row or section: a TOML table and field (``[units] method``), a TOML
array's row by its id or date (``[[code]] 97110``, ``[[conversion_factor]] from 2026-01-01``), a CMS file's row
(``PPRRVU row 97110 2026 (line 123)``) or a note's section (``s. 3``); ``source.date`` the dated
parameter's effective date when there is one (null otherwise).

The trace is built after the scrub from what the engine kept (the working lines, the unit plan, the rows it
looked up, the PTP edits in force), so a scrub without it does no work for it and prints the same bytes. The
``why`` and ``expected_why`` texts stay as they are: the trace is beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

import msgspec

from rehabclaim.citations import citation
from rehabclaim.context import ScrubContext
from rehabclaim.fees.estimate import MPPR_STEP, FeeSchedule, NoFee, UnitFee
from rehabclaim.lines import WorkLine
from rehabclaim.model import Line
from rehabclaim.units.methods import CMS, UnitPlan

CODES = "codes.toml"
MODIFIERS = "modifiers.toml"
THRESHOLDS = "thresholds.toml"
PAYMENT = "medicare-payment.toml"
CMS_SOURCES = "cms/sources.toml"
HUNDRED = Decimal(100)


class TraceSource(msgspec.Struct):
    """The data row or note section a step used."""

    file: str  # path in the package's data folder (or a drop-in file's own path)
    key: str  # the row, table or section
    date: date | None = None  # the dated parameter's effective date, when it has one


class TraceStep(msgspec.Struct):
    stage: str  # lines, units, modifiers, fees, kx
    what: str
    source: TraceSource


class TracedLine(Line):
    """A claim line with its trace (only when a trace is asked for: the field is added at the end)."""

    trace: list[TraceStep] = msgspec.field(default_factory=list)


def traced_lines(out: Sequence[Line], lines: Sequence[WorkLine], ctx: ScrubContext, fees: FeeSchedule) -> list[Line]:
    """The scrub's claim lines, each with the trace of the working line it came from (a line split for the
    assistant's units takes its working line's trace)."""
    by_code = {line.code.code: line for line in lines}
    traces = {code: line_trace(line, ctx, fees) for code, line in by_code.items()}
    return [
        TracedLine(
            **{name: getattr(claim_line, name) for name in Line.__struct_fields__}, trace=traces[claim_line.code]
        )
        for claim_line in out
    ]


def line_trace(line: WorkLine, ctx: ScrubContext, fees: FeeSchedule) -> list[TraceStep]:
    return [
        *_line_steps(line),
        *_unit_steps(line, ctx),
        *_modifier_steps(line, ctx),
        *_fee_steps(line, ctx, fees),
        *_kx_steps(line, ctx),
    ]


def cite(stage: str, what: str, explained: str) -> TraceStep:
    """A step citing the reference note section that holds the fact (``explained``: a citations.toml key)."""
    found = citation(explained)
    return TraceStep(stage, what, TraceSource(found.path, found.key))


def _step(stage: str, what: str, file: str, key: str, day: date | None = None) -> TraceStep:
    return TraceStep(stage, what, TraceSource(file, key, day))


def _line_steps(line: WorkLine) -> list[TraceStep]:
    if len(line.service_indexes) < 2:
        return []
    indexes = ", ".join(str(index) for index in line.service_indexes)
    minutes = "" if line.minutes is None else f": {line.minutes} min"
    return [cite("lines", f"services {indexes} merged into one {line.code.code} line{minutes}", "one-line-per-code")]


def _unit_steps(line: WorkLine, ctx: ScrubContext) -> list[TraceStep]:
    code = line.code
    kind = "a timed therapy code" if line.is_timed_therapy else "an untimed therapy code" if code.therapy else None
    row = _step(
        "units", f"{code.code}: {kind or 'not a therapy code'}", CODES, f"[[code]] {code.code}", code.dates.start
    )
    if line.is_timed_therapy and line.minutes_unknown:
        return [row, _step("units", f"minutes unknown: {line.units} unit(s) as billed", CODES, row.source.key)]
    if line.is_timed_therapy:
        return [row, *_timed_steps(line, ctx.plan, ctx)]
    if code.therapy:
        return [row, cite("units", "billed once per session whatever the minutes", "untimed")]
    if code.minutes_per_unit is not None and line.minutes is not None:
        what = f"{line.minutes} min of its own time = {line.units} unit(s) of {code.minutes_per_unit} min"
        return [row, cite("units", what, "time-midpoint")]
    return [row]


def _timed_steps(line: WorkLine, plan: UnitPlan, ctx: ScrubContext) -> list[TraceStep]:
    steps = []
    if line.counted_minutes != (line.minutes or 0):
        what = f"counted {line.counted_minutes} training min of {line.minutes} documented"
        steps.append(cite("units", what, "orthosis-training"))
    steps += [
        _step("units", f"unit method: {plan.method}", ctx.payer.origin, "[units] method"),
        _step("units", f"{ctx.thresholds.unit_minutes}-min units", THRESHOLDS, "[units]"),
        cite("units", "time-to-units table", "unit-table"),
    ]
    if plan.method == CMS:
        visit = f"visit total {plan.total_minutes} timed min = {plan.total_units} units"
        share = f"{line.code.code}: {line.counted_minutes} min -> {line.units} unit(s)"
        steps += [cite("units", visit, "cms-total-time"), cite("units", share, "unit-allocation")]
    else:
        steps.append(cite("units", f"{line.counted_minutes} min -> {line.units} unit(s) on its own", "per-code"))
    return steps


def _modifier_steps(line: WorkLine, ctx: ScrubContext) -> list[TraceStep]:
    steps = []
    payer_file = ctx.payer.origin
    if line.discipline_modifier:
        modifier = line.discipline_modifier
        steps += [
            _step(
                "modifiers",
                f"{modifier}: the {ctx.visit.discipline} plan of care",
                MODIFIERS,
                f"[[modifier]] {modifier}",
            ),
            _step("modifiers", "the payer requires discipline modifiers", payer_file, "[modifiers] discipline"),
            cite("modifiers", f"{modifier} on every therapy line", "discipline-modifier"),
        ]
    if line.assistant_modifier and line.assistant_units:
        modifier = line.assistant_modifier
        what = f"{modifier} on {line.assistant_units} of {line.units} unit(s)"
        steps += [
            _step("modifiers", what, MODIFIERS, f"[[modifier]] {modifier}"),
            _step(
                "modifiers", "assistant minutes past the de minimis share", THRESHOLDS, "[assistant] de_minimis_percent"
            ),
            cite("modifiers", "CQ/CO de minimis standard", "assistant-modifier"),
        ]
    steps += _distinct_steps(line, ctx)
    telehealth = ctx.payer.telehealth.modifier
    if ctx.visit.telehealth and telehealth and telehealth in line.added_modifiers:
        steps += [
            _step("modifiers", f"{telehealth}: furnished by telehealth", payer_file, "[telehealth] modifier"),
            cite("modifiers", f"{telehealth} on telehealth therapy", "telehealth-modifier"),
        ]
    return steps


def _distinct_steps(line: WorkLine, ctx: ScrubContext) -> list[TraceStep]:
    """The PTP edit whose distinct-service modifier the engine added to this (column 2) line."""
    added = ctx.catalog.modifiers_by_role["distinct"].intersection(line.added_modifiers)
    if not added:
        return []
    steps = []
    for edit, column_1, column_2 in ctx.ptp_edits:
        if column_2 is line and edit.indicator == "1":
            file, row = _file_and_line(edit.origin)
            what = f"{', '.join(sorted(added))}: distinct from {column_1.code.code} (indicator 1)"
            key = f"PTP {edit.column_1}/{edit.column_2}{row}"
            steps += [_step("modifiers", what, file, key, edit.effective), cite("modifiers", "PTP edit", "ptp-edit")]
    return [*steps, cite("modifiers", "X{EPSU} first, 59 when no X fits", "distinct-modifier")]


def _fee_steps(line: WorkLine, ctx: ScrubContext, fees: FeeSchedule) -> list[TraceStep]:
    schedule, payer_file = ctx.payer.fees.schedule, ctx.payer.origin
    code = line.code.code
    if schedule == "contracted":
        amount = ctx.payer.fees.contracted.get(code)
        if amount is None:  # the table that has no row for the code
            return [_step("fees", f"no contracted amount for {code}", payer_file, "[fees] contracted")]
        return [_step("fees", f"contracted ${amount} per unit", payer_file, f"[fees] contracted.{code}")]
    steps = []
    if schedule == "percent-of-medicare":
        percent = ctx.payer.fees.percent_of_medicare or HUNDRED
        steps.append(_step("fees", f"{percent}% of the Medicare amount", payer_file, "[fees] percent_of_medicare"))
    elif line.units == 0:
        return []
    fee = fees.line_fee(line, ctx.visit.date)
    if isinstance(fee, NoFee):
        return [*steps, _no_fee_step(line, fee, ctx)]
    steps += _medicare_steps(code, ctx)
    if schedule != "percent-of-medicare":
        steps += _reduction_steps(line, fee, ctx)
    return steps


def _no_fee_step(line: WorkLine, fee: NoFee, ctx: ScrubContext) -> TraceStep:
    code, day = line.code.code, ctx.visit.date
    if line.code.is_orthosis:
        return _step("fees", f"{code} is an orthosis: not on the physician fee schedule", CODES, f"[[code]] {code}")
    rvus = ctx.cms.rvus_on(day)
    rvu = None if rvus is None else rvus.rows.get(code)
    if rvus is not None and rvu is not None:
        file, row = _file_and_line(rvu.origin)
        return _step(
            "fees", f"PFS status {rvu.status}", file, f"PPRRVU row {code} {day.year}{row}", rvus.release.effective
        )
    if rvus is not None:
        return _step("fees", fee.reason, _file_and_line(rvus.release.files[0])[0], f"PPRRVU {day.year}: no row {code}")
    return _step("fees", fee.reason, CMS_SOURCES, "[files]")  # the bundled CMS files: none for that year


def _medicare_steps(code: str, ctx: ScrubContext) -> list[TraceStep]:
    """The rows a Medicare per-unit amount came from: PPRRVU, GPCI, conversion factor (each dated)."""
    day, tables, practice = ctx.visit.date, ctx.cms, ctx.practice
    rvus, gpcis = tables.rvus_on(day), tables.gpci_on(day)
    assert rvus is not None and gpcis is not None  # a priced fee was found in them
    rvu = rvus.rows[code]
    locality = (practice.locality.mac, practice.locality.number.zfill(2))
    gpci = gpcis.rows[locality]
    rvu_file, rvu_row = _file_and_line(rvu.origin)
    gpci_file, gpci_row = _file_and_line(gpci.origin)
    steps = [
        _step("fees", f"RVUs of {code}", rvu_file, f"PPRRVU row {code} {day.year}{rvu_row}", rvus.release.effective),
        _step(
            "fees",
            f"GPCIs of {gpci.name}",
            gpci_file,
            f"GPCI {locality[0]} {locality[1]}{gpci_row}",
            gpcis.release.effective,
        ),
    ]
    factor = _dated(ctx.medicare.conversion_factor, day)
    if factor is not None:
        steps.append(_step("fees", "conversion factor", PAYMENT, f"[[conversion_factor]] from {factor}", factor))
    return [*steps, cite("fees", "RVUs x GPCIs x conversion factor", "pfs-formula")]


def _reduction_steps(line: WorkLine, fee: UnitFee | NoFee, ctx: ScrubContext) -> list[TraceStep]:
    """MPPR and the assistant's rate, where the estimate applied them to this line."""
    if isinstance(fee, NoFee):
        return []
    day, steps = ctx.visit.date, []
    if any(step.startswith(MPPR_STEP) for step in line.fee_steps):
        mppr = _dated(ctx.medicare.mppr, day)
        steps += [
            _step("fees", f"MPPR: {fee.mppr_percent}% of the PE payment", PAYMENT, f"[[mppr]] from {mppr}", mppr),
            cite("fees", "MULT PROC 5: the therapy MPPR", "mppr-codes"),
        ]
    if line.assistant_units and line.unit_amounts is not None and fee.assistant_percent != HUNDRED:
        rate = _dated(ctx.medicare.assistant_payment, day)
        what = f"{line.assistant_modifier}: {line.assistant_units} unit(s) at {fee.assistant_percent}%"
        steps += [
            _step("fees", what, PAYMENT, f"[[assistant_payment]] from {rate}", rate),
            cite("fees", "assistant units paid at the reduced rate", "assistant-rate"),
        ]
    return steps


def _kx_steps(line: WorkLine, ctx: ScrubContext) -> list[TraceStep]:
    if "KX" not in line.added_modifiers:
        return []
    year = ctx.visit.date.year
    threshold = ctx.medicare.kx_threshold_for(year)
    what = (
        "KX: therapy past the year's threshold" if threshold is None else f"KX: past the ${threshold.amount} threshold"
    )
    return [
        _step("kx", what, PAYMENT, f"[[kx_threshold]] year {year}", date(year, 1, 1)),
        cite("kx", "KX attests medical necessity past the threshold", "kx-modifier"),
    ]


def _dated(rows: Iterable[object], day: date) -> date | None:
    """The effective date of the row of a dated table (medicare-payment.toml) that covers ``day``."""
    for row in rows:
        dates = getattr(row, "dates", None)
        if dates is not None and dates.covers(day):
            start: date | None = dates.start
            return start
    return None


def _file_and_line(origin: str) -> tuple[str, str]:
    """``cms/x.csv line 12`` -> (``cms/x.csv``, `` (line 12)``)."""
    file, _, number = origin.partition(" line ")
    return file, f" (line {number})" if number else ""


def trace_text(line: Line) -> list[str]:
    """A traced line's steps as text lines (``scrub --trace`` without --json); none for a line without."""
    if not isinstance(line, TracedLine):
        return []
    return [f"  {line.code} {step.stage}: {step.what} ({cited(step.source)})" for step in line.trace]


def cited(source: TraceSource) -> str:
    """A step's source as people read it: the file, the row or section, and the date it took effect."""
    dated = "" if source.date is None else f", from {source.date.isoformat()}"
    return f"{source.file} {source.key}{dated}"
