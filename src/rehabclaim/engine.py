"""The scrub, as a straight line: visit -> lines -> units -> modifiers -> findings -> result.

An ``Engine`` loads the catalog, payer table, thresholds and diagnosis index once; ``scrub`` is then
pure work on one visit, so a batch worker builds one engine and scrubs millions of visits with it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from rehabclaim.catalog import Catalog, load_catalog
from rehabclaim.cms.tables import CmsTables, cms_tables
from rehabclaim.context import ScrubContext
from rehabclaim.diagnoses import DiagnosisIndex, diagnosis_index
from rehabclaim.errors import MISSING_FIELD, InputError, validation_field
from rehabclaim.fees.estimate import FeeSchedule, cents
from rehabclaim.fees.medicare_policy import medicare_payment
from rehabclaim.history import History, VisitHistory
from rehabclaim.lines import WorkLine, build_lines
from rehabclaim.model import Finding, Line, ScrubResult, Severity, Visit
from rehabclaim.payers import payer_policy
from rehabclaim.practice import Practice, demo_practice
from rehabclaim.rules import RULES, STAGES, Rule
from rehabclaim.rules.base import CheckFunction
from rehabclaim.thresholds import Thresholds, load_thresholds
from rehabclaim.units import assign_units

_decoder = msgspec.json.Decoder(Visit)
_encoder = msgspec.json.Encoder()


def decode_visit(data: bytes | str) -> Visit:
    """Decode and validate one visit; a problem raises InputError naming the field."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _input_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InputError("", f"not valid JSON ({exc})") from None


def _input_error(message: str) -> InputError:
    path, reason = validation_field(message)
    if reason.startswith(MISSING_FIELD):
        reason = "required field is missing"
    return InputError(path or "visit", reason)


def encode_result(result: ScrubResult) -> bytes:
    return _encoder.encode(result)


class Engine:
    def __init__(
        self,
        catalog: Catalog | None = None,
        thresholds: Thresholds | None = None,
        diagnoses: DiagnosisIndex | None = None,
        practice: Practice | None = None,
        history: History | None = None,
        tables: CmsTables | None = None,
        rules: tuple[Rule, ...] = RULES,
    ) -> None:
        self.catalog = catalog or load_catalog()
        self.thresholds = thresholds or load_thresholds()
        self.diagnoses = diagnoses or diagnosis_index()
        self.fees = FeeSchedule(practice or demo_practice(), tables or cms_tables(), medicare_payment())
        self.history = history or VisitHistory()
        self.rules = rules
        # bound once per stage, with each rule's trigger codes: the hot loop
        self._stages = [
            [(rule.check, rule.id, rule.severity, self._triggers(rule)) for rule in rules if rule.stage == stage]
            for stage in STAGES
        ]

    def scrub(self, visit: Visit, for_claim: bool = False) -> ScrubResult:
        """Scrub one visit; ``for_claim`` also runs the claim-data rules (stage ``claim``)."""
        payer = payer_policy(visit.payer)
        lines = build_lines(visit.services, self.catalog)
        plan = assign_units(lines, payer.units.method)
        ctx = ScrubContext(
            visit,
            payer,
            self.catalog,
            self.thresholds,
            self.diagnoses,
            self.fees.tables,
            self.history,
            self.fees.practice,
            lines,
            plan,
        )
        modifiers, payment, checks, claim = self._stages
        _run(modifiers, ctx)
        self.fees.estimate(lines, visit.date, payer)
        _run(payment, ctx)
        _run(checks, ctx)
        if for_claim:
            _run(claim, ctx)
        out = [claim_line for line in lines for claim_line in _output_lines(line)]
        return ScrubResult(
            id=visit.id,
            payer=payer.key,
            method=plan.method,
            total_timed_minutes=plan.total_minutes,
            total_timed_units=plan.total_units,
            lines=out,
            findings=ctx.findings,
            total_charge=round(sum(line.charge or 0.0 for line in out), 2),
            total_expected=round(sum(line.expected or 0.0 for line in out), 2),
        )

    def _triggers(self, rule: Rule) -> frozenset[str] | None:
        return None if rule.triggers is None else frozenset(rule.triggers(self.catalog, self.fees.tables))

    def scrub_json(self, data: bytes | str) -> bytes:
        return encode_result(self.scrub(decode_visit(data)))


def _run(stage: list[tuple[CheckFunction, str, Severity, frozenset[str] | None]], ctx: ScrubContext) -> None:
    codes = ctx.codes
    for check, rule_id, severity, triggers in stage:
        if triggers is not None and triggers.isdisjoint(codes):
            continue  # the rule can only fire for codes this visit does not have
        for code, message in check(ctx):
            ctx.findings.append(Finding(rule_id, severity, code, message))


def _money(amounts: list[Decimal] | None) -> float | None:
    return None if amounts is None else float(cents(sum(amounts, Decimal(0))))


def _claim_line(
    line: WorkLine, units: int, modifiers: list[str], minutes: int | None, why: str, amounts: list[Decimal] | None
) -> Line:
    charge = None if line.charge_per_unit is None else round(line.charge_per_unit * units, 2)
    expected = _money(amounts)
    steps = "; ".join(line.fee_steps)
    expected_why = steps if expected is None else f"{steps}; line total ${expected:.2f}"
    return Line(line.code.code, units, modifiers, minutes, why, charge, expected, expected_why)


def _output_lines(line: WorkLine) -> list[Line]:
    """One claim line, or two when only some units carry the assistant modifier: the assistant's line
    shows the assistant's independent minutes, units and amounts, and the other line the rest."""
    why = f"{line.why}. {'; '.join(line.notes)}" if line.notes else line.why
    amounts = line.unit_amounts
    if not line.assistant_modifier or line.assistant_units == 0:
        return [_claim_line(line, line.units, line.modifiers_for(False), line.minutes, why, amounts)]
    if line.assistant_units == line.units:
        return [_claim_line(line, line.units, line.modifiers_for(True), line.minutes, why, amounts)]
    split = line.units - line.assistant_units
    therapist_minutes = (line.minutes or 0) - line.assistant_minutes
    assisted = None if amounts is None else amounts[split:]
    rest = None if amounts is None else amounts[:split]
    return [
        _claim_line(line, line.assistant_units, line.modifiers_for(True), line.assistant_minutes, why, assisted),
        _claim_line(line, split, line.modifiers_for(False), therapist_minutes, why, rest),
    ]
