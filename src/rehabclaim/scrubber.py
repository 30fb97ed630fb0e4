"""The scrub, as a straight line: visit -> lines -> units -> modifiers -> fees -> KX -> checks (-> claim) ->
result (the stages: ``rehabclaim.pipeline``). The stages change the lines; the rules only report.

A ``Scrubber`` is given the reference data (``rehabclaim.reference``) once; ``scrub`` is then pure work on
one visit, so a batch worker builds one scrubber and scrubs millions of visits with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec

from rehabclaim.context import DiagnosisDay, ScrubContext
from rehabclaim.diagnoses import Verdict
from rehabclaim.documentation import RULE_FAMILY, documentation_score, holds_a_note
from rehabclaim.errors import MISSING_FIELD, InputError, quote, short_reason, validation_field
from rehabclaim.fees.estimate import FeeSchedule, line_money
from rehabclaim.history import History, VisitHistory
from rehabclaim.lines import WorkLine, build_lines
from rehabclaim.memo import MEMO_ENTRIES, Memo, remember
from rehabclaim.model import MAX_VISIT_BYTES, Finding, Line, ScrubResult, Severity, Visit
from rehabclaim.pipeline.kx import add_kx
from rehabclaim.pipeline.modifiers import add_modifiers
from rehabclaim.reference import Reference, load_reference
from rehabclaim.rules import RULES, STAGES, Rule
from rehabclaim.rules.base import CheckFunction
from rehabclaim.trace import traced_lines
from rehabclaim.units import UnitTexts, assign_units

_decoder = msgspec.json.Decoder(Visit)
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
# C0 and C1 control characters: NUL breaks PostgreSQL, the others X12 files, terminals and logs
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# what in a visit's bytes may decode to one: a JSON escape of a control character, DEL, a UTF-8 C1 control
# (raw C0 controls are not valid JSON); over-broad on purpose, the exact check is the slow path
_MAYBE_CONTROL = re.compile(rb"\\(?:u00[01789]|[bfnrt])|\x7f|\xc2[\x80-\x9f]")
_ESCAPED_COLON = b"\\u003"  # \u003a (or A) decodes to a colon: the duplicate-key count cannot use it


def decode_visit(data: bytes | str) -> Visit:
    """Decode and validate one visit; a problem raises InputError naming the field. Beyond the schema: at
    most MAX_VISIT_BYTES, no key twice in an object, no control character in a string the contract reads."""
    raw = _visit_bytes(data)
    escaped = b"\\" in raw  # most visits have no escape at all: the checks below take their fast paths
    try:
        visit = _decoder.decode(raw)
        refuse_duplicate_keys(raw, escaped)
    except msgspec.ValidationError as exc:
        raise _input_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InputError("", f"not valid JSON ({exc})") from None
    except RecursionError:  # arrays or objects nested hundreds deep, in a field the contract ignores
        raise InputError("", "not valid JSON (nested too deeply)") from None
    if (escaped or not raw.isascii() or b"\x7f" in raw) and _MAYBE_CONTROL.search(raw):
        _refuse_control_characters(visit)
    return visit


def _visit_bytes(data: bytes | str) -> bytes:
    """The visit as UTF-8 bytes, refused before decoding when it is too big to be one visit."""
    if isinstance(data, str):
        try:
            data = data.encode()
        except UnicodeEncodeError:
            raise InputError("", "not valid JSON (a lone surrogate is not text)") from None
    if len(data) > MAX_VISIT_BYTES:
        raise InputError("", f"more than {MAX_VISIT_BYTES:,} bytes: too big for one visit (a visit is a few kB)")
    return data


def _input_error(message: str) -> InputError:
    path, reason = validation_field(message)
    if reason.startswith(MISSING_FIELD):
        reason = "required field is missing"
    if "[...]" in path:  # msgspec's mark for a key or value of a dict, whose key it does not say
        path, reason = path.replace("[...]", ""), f"{reason} (a key or value in it)"
    return InputError(path or "visit", short_reason(reason))


def refuse_duplicate_keys(raw: bytes, escaped: bool = True) -> None:
    """Refuse a key given twice in one object (JSON allows it and msgspec keeps the last, silently).

    The fast test is exact: every colon in JSON text is a key's or inside a string, and re-encoding the
    decoded document drops one key (with its colon) per duplicate and changes no string's colons, so the
    colon counts are equal exactly when no key repeats. An escaped colon (``\\u003a``) would break the
    count: such visits, and those the generic decoder cannot hold, take the slow path."""
    if not (escaped and _ESCAPED_COLON in raw):
        try:  # a DecodeError here (bad UTF-8 where the visit decoder skipped) refuses the visit
            again = _encoder.encode(_any_decoder.decode(raw))
        except (msgspec.ValidationError, msgspec.EncodeError):
            again = b""  # a number out of range in a field the contract ignores
        if again.count(b":") == raw.count(b":"):
            return
    try:
        document = json.loads(raw, object_pairs_hook=_Pairs, parse_int=_ignore, parse_float=_ignore)
    except UnicodeDecodeError as exc:
        raise InputError("", f"not valid JSON (invalid UTF-8 (byte {exc.start}))") from None
    except ValueError as exc:  # msgspec read it, so hardly ever
        raise InputError("", f"not valid JSON ({exc})") from None
    repeated = _repeated_key(document, "")
    if repeated is not None:
        raise InputError(repeated, "duplicate key: a key may appear only once in an object")


class _Pairs:
    """A JSON object as its key-value pairs, in order, duplicates kept (a plain class, not a list subclass:
    mypyc compiles this module, scripts/compile)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _ignore(_: str) -> None:
    return None  # numbers do not matter to the duplicate-key search (and may be too long for int())


def _repeated_key(node: object, path: str) -> str | None:
    """The path of the first key given twice in one object, in document order."""
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, value in node.pairs:
            where = _field_path(path, key)
            if key in seen:
                return where
            seen.add(key)
            found = _repeated_key(value, where)
            if found is not None:
                return found
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found = _repeated_key(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _field_path(path: str, key: str) -> str:
    """``path.key``; a key that is not a short name (a field the contract ignores) is quoted and cut."""
    part = key if key.isidentifier() and len(key) <= 32 else f"[{quote(key)}]"
    return f"{path}.{part}" if path and not part.startswith("[") else f"{path}{part}"


def _refuse_control_characters(visit: Visit) -> None:
    for path, text in _strings(visit, ""):
        found = _CONTROL.search(text)
        if found is not None:
            raise InputError(path, f"control character U+{ord(found.group()):04X} is not allowed")


def _strings(node: object, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a decoded visit, with its field path (slow; only for visits that may hold a control
    character)."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, msgspec.Struct):
        for field in msgspec.structs.fields(node):
            yield from _strings(getattr(node, field.name), _field_path(path, field.encode_name))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _strings(item, f"{path}[{index}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            yield path, key
            yield from _strings(value, f"{path}[...]")


def encode_result(result: ScrubResult) -> bytes:
    return _encoder.encode(result)


class Scrubber:
    """Scrubs visits against one ``Reference`` (loaded once, passed in) and a patient history."""

    def __init__(
        self,
        reference: Reference | None = None,
        history: History | None = None,
        rules: tuple[Rule, ...] = RULES,
        cache_entries: int = MEMO_ENTRIES,
    ) -> None:
        """``cache_entries``: the most entries each of the engine's caches keeps (``rehabclaim.memo``)."""
        self.reference = reference or load_reference()
        self.catalog = self.reference.catalog
        reference_tables = (self.reference.practice, self.reference.cms, self.reference.medicare)
        self.fees = FeeSchedule(*reference_tables, cache_entries=cache_entries)
        self.history = history or VisitHistory()
        self.rules = rules
        # bound once per stage, with each rule's trigger codes: the hot loop
        self._stages = [
            [(rule.check, rule.id, rule.severity, self._triggers(rule)) for rule in rules if rule.stage == stage]
            for stage in STAGES
        ]
        # the same without the documentation rules, for a visit with no documentation object (it costs nothing)
        documentation_rules = {rule.id for rule in rules if rule.family == RULE_FAMILY}
        self._stages_without_documentation = [
            [entry for entry in stage if entry[1] not in documentation_rules] for stage in self._stages
        ]
        # engine state kept across visits (bounded; every entry is a pure function of its key and the
        # reference): the rules whose triggers a set of codes meets, per stage; the ICD-10-CM code set and diagnosis
        # verdicts per date; split lines' money and visit totals in cents; the unit explanations' parts
        self._selected: dict[tuple[frozenset[str], bool], list[list[_Entry]]] = Memo(cache_entries)
        self._diagnosis_days: Memo[date, DiagnosisDay] = Memo(cache_entries)
        self._verdicts: Memo[tuple[date, str], Verdict] = Memo(cache_entries)  # shared by the days
        self._money: dict[tuple[Decimal, ...], float] = Memo(cache_entries)
        self._rounded: dict[float, float] = Memo(cache_entries)  # a visit's total rounded to cents
        self._unit_texts = UnitTexts(cache_entries)

    def scrub(self, visit: Visit, for_claim: bool = False, trace: bool = False) -> ScrubResult:
        """Scrub one visit; ``for_claim`` also runs the claim-data rules (stage ``claim``); ``trace`` adds each
        line's trace (rehabclaim.trace)."""
        ctx = self.run_stages(visit)
        documented = holds_a_note(visit.documentation)
        modifiers, payment, checks, claim = self._selected_rules(frozenset(ctx.codes), documented)
        _run(modifiers, ctx)  # the rules only report, in the order of their stages (their findings' order)
        _run(payment, ctx)
        _run(checks, ctx)
        if for_claim:
            _run(claim, ctx)
        lines, plan = ctx.lines, ctx.plan
        out = [claim_line for line in lines for claim_line in _output_lines(line, self._line_money)]
        if trace:  # opt-in: the same lines, each with the steps and data rows it came from
            out = traced_lines(out, lines, ctx, self.fees)
        # a sum of no line is the int 0, which the result has always held (0, not 0.0)
        totals: tuple[float, float] | tuple[int, int] = self._totals(out) if out else (0, 0)
        return ScrubResult(
            id=visit.id,
            payer=ctx.payer.key,
            method=plan.method,
            total_timed_minutes=plan.total_minutes,
            total_timed_units=plan.total_units,
            lines=out,
            findings=ctx.findings,
            total_charge=totals[0],
            total_expected=totals[1],
            documentation=documentation_score(ctx.documentation_review) if documented else None,
        )

    def run_stages(self, visit: Visit) -> ScrubContext:
        """The pipeline's stages that make and change the visit's lines, in order (``rehabclaim.pipeline``):
        lines, units, modifiers (discipline, assistant, distinct, telehealth), fees, KX. Returns the context
        the rules then read, with the stages' decisions; no finding yet."""
        reference = self.reference
        payer = reference.payer(visit.payer)
        lines = build_lines(visit.services, self.catalog)
        plan = assign_units(lines, payer.units.method, self._unit_texts)
        ctx = ScrubContext(
            visit,
            payer,
            self.catalog,
            reference.thresholds,
            reference.diagnoses,
            reference.cms,
            self.history,
            reference.practice,
            reference.medicare,
            lines,
            plan,
            documentation_checklists=reference.documentation,
            diagnosis_day=self._diagnosis_day(visit.date),
        )
        add_modifiers(ctx)  # discipline, assistant, distinct service, telehealth
        self.fees.estimate(lines, visit.date, payer)  # reads the lines as the modifier stages left them
        add_kx(ctx)
        return ctx

    def _diagnosis_day(self, day: date) -> DiagnosisDay:
        """The date's ICD-10-CM code set and its verdicts so far (one lookup a visit, D002-D005 read it)."""
        found = self._diagnosis_days.get(day)
        if found is None:
            code_set = self.reference.diagnoses.on(day)
            found = remember(self._diagnosis_days, day, DiagnosisDay(day, code_set, self._verdicts))
        return found

    def _selected_rules(self, codes: frozenset[str], documented: bool) -> list[list[_Entry]]:
        """The rules of each stage that may fire for a visit with ``codes``: those without triggers and those
        whose triggers it has (found once per set of codes)."""
        key = (codes, documented)
        found = self._selected.get(key)
        if found is None:
            stages = self._stages if documented else self._stages_without_documentation
            found = remember(
                self._selected,
                key,
                [[entry for entry in stage if entry[3] is None or not entry[3].isdisjoint(codes)] for stage in stages],
            )
        return found

    def _line_money(self, amounts: list[Decimal]) -> float:
        """A split line's part's expected amount (``line_money``, once per distinct list of amounts; a whole
        line's comes with its estimate, ``WorkLine.fee_summary``)."""
        key = tuple(amounts)
        found = self._money.get(key)
        if found is None:
            found = remember(self._money, key, line_money(amounts))
        return found

    def _totals(self, out: list[Line]) -> tuple[float, float]:
        """The visit's charge and expected amount: its claim lines' summed in order (as ``sum`` does) and
        rounded to cents, each distinct sum rounded once (``round`` to digits goes through decimal text)."""
        charge = expected = 0.0
        for claim_line in out:
            charge += claim_line.charge or 0.0
            expected += claim_line.expected or 0.0
        return self._cents(charge), self._cents(expected)

    def _cents(self, amount: float) -> float:
        """``round(amount, 2)`` once per distinct total: most visits' totals recur (on new bench visits about
        88% were seen before, and a look-up costs a third of a ``round``)."""
        found = self._rounded.get(amount)
        if found is None:
            found = remember(self._rounded, amount, round(amount, 2))
        return found

    def _triggers(self, rule: Rule) -> frozenset[str] | None:
        return None if rule.triggers is None else frozenset(rule.triggers(self.catalog, self.reference.cms))

    def scrub_json(self, data: bytes | str) -> bytes:
        return encode_result(self.scrub(decode_visit(data)))


_Entry = tuple[CheckFunction, str, Severity, frozenset[str] | None]  # a rule as the hot loop holds it
_Money = Callable[[list[Decimal]], float]


def _run(stage: list[_Entry], ctx: ScrubContext) -> None:
    """Run a stage's rules (already those whose triggers the visit meets)."""
    findings = ctx.findings
    for check, rule_id, severity, _ in stage:
        hits = check(ctx)
        if hits:  # most checks find nothing on most visits: an empty list or NO_HITS, no iterator made
            for code, message in hits:
                findings.append(Finding(rule_id, severity, code, message))


def _claim_line(
    line: WorkLine,
    units: int,
    modifiers: list[str],
    minutes: int | None,
    why: str,
    amounts: list[Decimal] | None,
    money: _Money,
) -> Line:
    """The claim line of some of a line's units (a split line's part)."""
    charge = None if line.charge_per_unit is None else round(line.charge_per_unit * units, 2)
    summary = line.fee_summary
    steps = "; ".join(line.fee_steps) if summary is None else summary[0]
    if amounts is None:
        return Line(line.code.code, units, modifiers, minutes, why, charge, None, steps)
    expected = money(amounts)
    return Line(
        line.code.code, units, modifiers, minutes, why, charge, expected, f"{steps}; line total ${expected:.2f}"
    )


def _whole_line(line: WorkLine, modifiers: list[str], why: str, money: _Money) -> Line:
    """The claim line of all a line's units: its estimate's texts and amounts as the fee stage summed them."""
    summary = line.fee_summary
    if summary is None:
        return _claim_line(line, line.units, modifiers, line.minutes, why, line.unit_amounts, money)
    _, charge, expected, expected_why = summary
    return Line(line.code.code, line.units, modifiers, line.minutes, why, charge, expected, expected_why)


def _output_lines(line: WorkLine, money: _Money) -> list[Line]:
    """One claim line, or two when only some units carry the assistant modifier: the assistant's line
    shows the assistant's independent minutes, units and amounts, and the other line the rest."""
    why = f"{line.why}. {'; '.join(line.notes)}" if line.notes else line.why
    if not line.assistant_modifier or line.assistant_units == 0:
        return [_whole_line(line, line.modifiers_for(False), why, money)]
    if line.assistant_units == line.units:
        return [_whole_line(line, line.modifiers_for(True), why, money)]
    amounts = line.unit_amounts
    split = line.units - line.assistant_units
    therapist_minutes = (line.minutes or 0) - line.assistant_minutes
    assisted = None if amounts is None else amounts[split:]
    rest = None if amounts is None else amounts[:split]
    return [
        _claim_line(line, line.assistant_units, line.modifiers_for(True), line.assistant_minutes, why, assisted, money),
        _claim_line(line, split, line.modifiers_for(False), therapist_minutes, why, rest, money),
    ]
