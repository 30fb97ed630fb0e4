"""The scrub, as a straight line: visit -> lines -> units -> modifiers -> findings -> result.

An ``Engine`` loads the catalog, payer table, thresholds and diagnosis index once; ``scrub`` is then
pure work on one visit, so a batch worker builds one engine and scrubs millions of visits with it.
"""

from __future__ import annotations

import re

import msgspec

from rehabclaim.catalog import Catalog, load_catalog
from rehabclaim.context import ScrubContext
from rehabclaim.diagnoses import DiagnosisIndex, diagnosis_index
from rehabclaim.errors import InputError
from rehabclaim.lines import WorkLine, build_lines
from rehabclaim.model import Finding, Line, ScrubResult, Visit
from rehabclaim.payers import payer_profile
from rehabclaim.rules import RULES, Rule
from rehabclaim.thresholds import Thresholds, load_thresholds
from rehabclaim.units import assign_units

_decoder = msgspec.json.Decoder(Visit)
_encoder = msgspec.json.Encoder()
_ERROR_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def decode_visit(data: bytes | str) -> Visit:
    """Decode and validate one visit; a problem raises InputError naming the field."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _input_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InputError("", f"not valid JSON ({exc})") from None


def _input_error(message: str) -> InputError:
    match = _ERROR_PATH.match(message)
    reason, path = (match["reason"], match["path"] or "") if match else (message, "")
    path = path.lstrip(".")
    missing = _MISSING.match(reason)
    if missing:
        path = f"{path}.{missing['field']}" if path else missing["field"]
        reason = "required field is missing"
    return InputError(path or "visit", reason.replace("`", ""))


def encode_result(result: ScrubResult) -> bytes:
    return _encoder.encode(result)


class Engine:
    def __init__(
        self,
        catalog: Catalog | None = None,
        thresholds: Thresholds | None = None,
        diagnoses: DiagnosisIndex | None = None,
        rules: tuple[Rule, ...] = RULES,
    ) -> None:
        self.catalog = catalog or load_catalog()
        self.thresholds = thresholds or load_thresholds()
        self.diagnoses = diagnoses or diagnosis_index()
        self.rules = rules
        self._checks = [(rule.check, rule.id, rule.severity) for rule in rules]  # bound once: the hot loop

    def scrub(self, visit: Visit) -> ScrubResult:
        payer = payer_profile(visit.payer)
        lines = build_lines(visit.services, self.catalog)
        plan = assign_units(lines, payer.unit_method)
        ctx = ScrubContext(visit, payer, self.catalog, self.thresholds, self.diagnoses, lines, plan)
        for check, rule_id, severity in self._checks:
            for code, message in check(ctx):
                ctx.findings.append(Finding(rule_id, severity, code, message))
        return ScrubResult(
            id=visit.id,
            payer=payer.key,
            method=plan.method,
            total_timed_minutes=plan.total_minutes,
            total_timed_units=plan.total_units,
            lines=[out for line in lines for out in _output_lines(line)],
            findings=ctx.findings,
        )

    def scrub_json(self, data: bytes | str) -> bytes:
        return encode_result(self.scrub(decode_visit(data)))


def _output_lines(line: WorkLine) -> list[Line]:
    """One claim line, or two when only some units carry the assistant modifier: the assistant's line
    shows the assistant's independent minutes and the other line the rest, so minutes add up."""
    first = [line.discipline_modifier] if line.discipline_modifier else []
    others = [m for m in line.input_modifiers if m not in (line.discipline_modifier, line.assistant_modifier)]
    why = line.why if not line.notes else f"{line.why}. {'; '.join(line.notes)}"
    code = line.code.code
    if not line.assistant_modifier or line.assistant_units == 0:
        return [Line(code, line.units, [*first, *others], line.minutes, why)]
    if line.assistant_units == line.units:
        return [Line(code, line.units, [*first, line.assistant_modifier, *others], line.minutes, why)]
    minutes = line.minutes or 0
    return [
        Line(code, line.assistant_units, [*first, line.assistant_modifier, *others], line.assistant_minutes, why),
        Line(code, line.units - line.assistant_units, [*first, *others], minutes - line.assistant_minutes, why),
    ]
