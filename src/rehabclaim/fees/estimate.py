"""The reimbursement estimate per line: what the practice charges and what the payer is expected to pay.

Medicare (Physician Fee Schedule, reference medicare-policy.md s. 3-5):

    per unit   = (work RVU x work GPCI + PE RVU x PE GPCI + MP RVU x MP GPCI) x conversion factor
    MPPR       = every unit that day of a code the PPRRVU file marks MULT PROC 5, after the unit with the
                 highest practice-expense payment, loses the MPPR percent (50% since 2013-04-01) of its PE
                 payment
    CQ/CO      = units furnished in whole or in part by an assistant are paid at 85% (from 2022-01-01)

RVUs and GPCIs come from the PPRRVU and GPCI release in force on the date of service, the conversion
factor, MPPR and CQ/CO percents from ``data/medicare-payment.toml`` by date of service. Each unit's amount
is rounded half-up to cents once, as CMS's payment files publish them (a test reproduces the rows of
PFREV26B); a line's total is the sum of its units. Within a line the units are ordered highest payment
first, and the assistant's units are the last ones. Codes the PFS does not price say why: bundled (status
B, $0), not valid for Medicare (status I, with the code Medicare uses), an orthosis (a DMEPOS item, paid
through the DME MAC), contractor-priced (status C) and so on.

Other payers: ``contracted`` pays the payer file's amount per unit; ``percent-of-medicare`` pays that percent
of the Medicare per-unit amount (before MPPR and CQ/CO, which are Medicare payment rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from rehabclaim.catalog import Code
from rehabclaim.citations import cited
from rehabclaim.cms.pfs import STATUS_MEANING, Gpci, Rvu
from rehabclaim.cms.tables import CmsTables
from rehabclaim.fees.medicare_policy import MedicarePayment
from rehabclaim.lines import FeeSummary, WorkLine
from rehabclaim.memo import MEMO_ENTRIES, Memo, remember
from rehabclaim.payers import PayerPolicy
from rehabclaim.practice import Practice

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ONE = Decimal(1)
# An orthosis is a DMEPOS item: priced on the DMEPOS fee schedule, paid to the supplier through the DME MAC.
DMEPOS = "is an orthosis (a DMEPOS item): Medicare prices it on the DMEPOS fee schedule, not the physician fee schedule"
# the citations the explanations print (data/citations.toml); MPPR_STEP starts the MPPR step of a line
MPPR_STEP = "MPPR:"
MPPR_CITATION = cited("mppr")
MPPR_CODES_CITATION = cited("mppr-codes")
ASSISTANT_RATE_CITATION = cited("assistant-rate")


# Quantizing needs as many digits as the amount has: the default 28 fail (InvalidOperation) from 1e26.
_WIDE = Context(prec=64, rounding=ROUND_HALF_UP)


def cents(amount: Decimal) -> Decimal:
    try:
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # too many digits for the default context (or not a finite number)
        return amount.quantize(CENT, context=_WIDE)


@dataclass(frozen=True, slots=True)
class NoFee:
    """Why the schedule gives no amount; ``zero`` when the code is priced at nothing (bundled)."""

    reason: str
    zero: bool = False


@dataclass(frozen=True, slots=True)
class UnitFee:
    """The Medicare amount for one unit of a code, with its practice-expense part and the arithmetic."""

    full: Decimal  # in cents
    pe_payment: Decimal  # exact: it ranks the units of the day for the MPPR
    formula: str
    reduced: Decimal  # a unit after the first of the day under MPPR: full less the MPPR share of its PE, in cents
    mppr_percent: Decimal
    assistant_percent: Decimal  # the share paid for a unit furnished by an assistant (CQ/CO)
    mppr: bool = False  # the code takes the therapy MPPR (MULT PROC 5 in the PPRRVU file)

    def __hash__(self) -> int:
        # the fee numbering hashes a unit fee (``FeeSchedule._numbered_fee``): the formula states every figure, so
        # equal fees have equal formulas, and a str caches its hash (the generated one hashes all seven fields)
        return hash(self.formula)


def medicare_unit_fee(
    code: str, day: date, practice: Practice, tables: CmsTables, medicare: MedicarePayment
) -> UnitFee | NoFee:
    """The per-unit Medicare fee for ``code``, or why there is none."""
    rvus, gpcis = tables.rvus_on(day), tables.gpci_on(day)
    if rvus is None or gpcis is None:
        return NoFee(f"no PPRRVU/GPCI file for {day.year} is loaded")
    rvu = rvus.rows.get(code)
    if rvu is None:
        return NoFee(f"{code} has no row in the {day.year} physician fee schedule file ({rvus.describe()})")
    if not rvu.priced:
        return _not_priced(rvu, medicare)
    gpci = gpcis.rows.get((practice.locality.mac, practice.locality.number.zfill(2)))
    if gpci is None:
        return NoFee(f"no GPCI row for MAC {practice.locality.mac} locality {practice.locality.number}")
    factor = medicare.conversion_factor_on(day, practice.qualifying_apm_participant)
    if factor is None:
        return NoFee(f"no conversion factor for {day.isoformat()} in medicare-payment.toml")
    cf, cf_note = factor
    work_gpci, work_note = _work_gpci(gpci, medicare.work_floor_applies(day))
    facility = practice.setting == "facility"
    pe_rvu = rvu.pe_facility if facility else rvu.pe_nonfacility
    pe_na = " (NA in the file: read as published)" if (rvu.facility_na if facility else rvu.nonfacility_na) else ""
    pe_payment = pe_rvu * gpci.pe * cf
    exact = (rvu.work * work_gpci + rvu.mp * gpci.mp) * cf + pe_payment
    full = cents(exact)
    restricted = "; status R: paid when Medicare's coverage conditions are met" if rvu.status == "R" else ""
    formula = (
        f"({rvu.work} work RVU x {work_gpci} work GPCI{work_note} + {pe_rvu} {practice.setting} PE RVU{pe_na} x "
        f"{gpci.pe} PE GPCI + {rvu.mp} MP RVU x {gpci.mp} MP GPCI) x {cf_note} = ${full} per unit "
        f"[{gpci.name}, {_file(gpci.origin)}; {rvus.describe()}{restricted}]"
    )
    percent = medicare.mppr_percent(day)
    mppr = rvu.therapy_mppr and percent > 0
    reduced = cents(exact - pe_payment * percent / HUNDRED) if mppr else full
    return UnitFee(full, pe_payment, formula, reduced, percent, medicare.assistant_percent(day), mppr)


def _not_priced(rvu: Rvu, medicare: MedicarePayment) -> NoFee:
    """Why a code with a PPRRVU row has no fee: its status (bundled is a fee of $0)."""
    meaning = STATUS_MEANING.get(rvu.status, "not paid on the fee schedule")
    if rvu.status == "B":
        return NoFee(f"{rvu.code} has PFS status B: {meaning} ({_file(rvu.origin)})", zero=True)
    instead = medicare.medicare_code_for(rvu.code)
    if instead is not None:
        meaning = f"not valid for Medicare: Medicare uses {instead.code}"
    elif rvu.status in ("A", "R"):  # priced statuses without RVUs
        meaning = "no RVUs: priced by the contractor"
    return NoFee(f"{rvu.code} has PFS status {rvu.status}: {meaning} ({_file(rvu.origin)})")


def _work_gpci(gpci: Gpci, floored: bool) -> tuple[Decimal, str]:
    """The work GPCI to use and how it was chosen. A release publishing one work column is read as is; with
    both, the dated floor setting picks; with only the unfloored one under a floor, the floor is applied."""
    if floored:
        if gpci.work_floored is not None:
            return gpci.work_floored, " (1.0 floor)"
        assert gpci.work is not None  # a GPCI row has at least one work column
        return max(gpci.work, ONE), f" (1.0 floor applied to the published {gpci.work})"
    if gpci.work is not None:
        return gpci.work, ""
    assert gpci.work_floored is not None
    return gpci.work_floored, " (with the 1.0 floor: the only work GPCI the file publishes)"


def _file(origin: str) -> str:
    return origin.split(" line ")[0]


_Fee = UnitFee | NoFee
# a line's fee, its number, the code it is for and, for a fee that takes the therapy MPPR, its PE payment (the
# day's full unit is the highest)
_NumberedFee = tuple[_Fee, int, Code, Decimal | None]
# a line's fee outcome: charge per unit, unit amounts, fee steps and what its claim line shows
_LineOutcome = tuple[float | None, tuple[Decimal, ...] | None, tuple[str, ...], FeeSummary]


class FeeSchedule:
    """Everything an estimate needs, loaded once; Medicare per-unit fees are memoised by date and code, each
    line's outcome by its key (``estimate``)."""

    def __init__(
        self, practice: Practice, tables: CmsTables, medicare: MedicarePayment, cache_entries: int = MEMO_ENTRIES
    ) -> None:
        self.practice = practice
        self.tables = tables
        self.medicare = medicare
        self.charges = {code: float(amount) for code, amount in practice.charges.items()}  # cents: exact in floats
        # a line's fee by date, then code, with its fee's number: equal fees (a release's fee on every day it is
        # in force) have one number, so an outcome key holds a small int; a day's table is small and str-keyed
        self._line_fees: dict[date, dict[str, _NumberedFee]] = Memo(cache_entries)
        self._day_entries = cache_entries
        self._fee_numbers: dict[_Fee, int] = Memo(cache_entries)
        self._numbers_given = 0  # a fee the full table cannot hold still gets a new number: equal numbers, equal fees
        # one line's outcome by everything it depends on (``_medicare_keys``, ``_payer_key``): keyed per line, not
        # per visit, as a day's lines meet only through the MPPR decision, which the key holds; a visit's whole
        # set of lines is seldom seen twice, a line's key often
        self._outcomes: dict[tuple[object, ...], _LineOutcome] = Memo(cache_entries)

    def line_fee(self, line: WorkLine, day: date) -> _Fee:
        """The Medicare per-unit fee of a line's code (kept in the day's table, ``_numbered_fee``)."""
        return self._numbered_fee(line, day, self._fees_on(day))[0]

    def _work_out_fee(self, line: WorkLine, day: date) -> _Fee:
        """``line_fee`` worked out: an orthosis has none on the physician fee schedule."""
        if line.code.is_orthosis:
            return NoFee(f"{line.code.code} {DMEPOS}")
        return medicare_unit_fee(line.code.code, day, self.practice, self.tables, self.medicare)

    def _fees_on(self, day: date) -> dict[str, _NumberedFee]:
        """The numbered fees of ``day`` by code, as ``_numbered_fee`` fills them."""
        found = self._line_fees.get(day)
        if found is None:
            found = remember(self._line_fees, day, Memo(self._day_entries))
        return found

    def _numbered_fee(self, line: WorkLine, day: date, on_day: dict[str, _NumberedFee]) -> _NumberedFee:
        """``line_fee`` with its fee's number (the same for equal fees while the numbering table has room)."""
        found = on_day.get(line.code.code)
        if found is None or found[2] is not line.code:  # another catalog's code (whether it is an orthosis)
            fee = self._work_out_fee(line, day)
            number = self._fee_numbers.get(fee)
            if number is None:
                self._numbers_given += 1
                number = remember(self._fee_numbers, fee, self._numbers_given)
            pe_payment = fee.pe_payment if isinstance(fee, UnitFee) and fee.mppr else None
            found = remember(on_day, line.code.code, (fee, number, line.code, pe_payment))
        return found

    def estimate(self, lines: list[WorkLine], day: date, payer: PayerPolicy) -> None:
        """Set ``charge_per_unit``, ``unit_amounts``, ``fee_steps`` and ``fee_summary`` on every line: worked out
        in Decimal for the day's lines when one line's outcome key (everything its outcome depends on) is new,
        replayed line by line when every key is known."""
        fees = payer.fees
        schedule = fees.schedule
        unit_fees: list[_Fee] = []
        if schedule == "contracted":
            contracted = fees.contracted
            keys = [_payer_key(payer, line, contracted.get(line.code.code)) for line in lines]
        elif schedule == "percent-of-medicare":
            on_day = self._fees_on(day)
            keys = []
            for line in lines:
                fee, number, _, _ = self._numbered_fee(line, day, on_day)
                unit_fees.append(fee)
                keys.append(_payer_key(payer, line, number))
        else:
            keys = self._medicare_keys(lines, day, unit_fees)
        outcomes = self._outcomes
        known: list[_LineOutcome] = []
        for key in keys:
            found = outcomes.get(key)
            if found is None:  # worked out for all the day's lines (the MPPR ranks them together)
                for key_of_line, outcome in zip(keys, self._work_out(lines, payer, unit_fees), strict=True):
                    remember(outcomes, key_of_line, outcome)
                return
            known.append(found)
        for index, line in enumerate(lines):
            _replay(known[index], line)

    def _medicare_keys(self, lines: list[WorkLine], day: date, unit_fees: list[_Fee]) -> list[tuple[object, ...]]:
        """Each line's outcome key under the Medicare schedule; appends each line's fee to ``unit_fees``. A line
        meets the day's other lines only through the MPPR: whether it applies to this line, and if so the
        day's full unit's code and whether that unit is this line's (the reduction order is this schedule's,
        the same for every key)."""
        on_day = self._fees_on(day)
        entries = [self._numbered_fee(line, day, on_day) for line in lines]
        # the MPPR decision as _apply_mppr makes it: the eligible units, and the one with the highest PE payment
        eligible_units = 0
        top = -1
        top_pe = Decimal(0)
        top_code = ""
        for index, line in enumerate(lines):
            pe_payment = entries[index][3]
            if pe_payment is None or not line.units:
                continue
            eligible_units += line.units
            code = line.code.code
            if top < 0 or pe_payment > top_pe or (pe_payment == top_pe and code < top_code):
                top, top_pe, top_code = index, pe_payment, code
        applies = eligible_units >= 2
        keys: list[tuple[object, ...]] = []
        for index, line in enumerate(lines):
            fee, number, _, pe_payment = entries[index]
            unit_fees.append(fee)
            reduced = applies and pe_payment is not None and line.units != 0
            keys.append(
                (
                    line.code.code,
                    line.units,
                    line.assistant_units,
                    line.assistant_modifier,
                    number,
                    top_code if reduced else None,
                    reduced and index == top,
                )
            )
        return keys

    def _work_out(self, lines: list[WorkLine], payer: PayerPolicy, unit_fees: list[_Fee]) -> list[_LineOutcome]:
        """Estimate the lines in Decimal and return each line's outcome, as ``_replay`` sets it on a line with the
        same key."""
        charges = self.charges
        for line in lines:
            line.charge_per_unit = charges.get(line.code.code)
        before = [len(line.fee_steps) for line in lines]
        schedule = payer.fees.schedule
        if schedule == "contracted":
            _contracted_lines(lines, payer)
        elif schedule == "percent-of-medicare":
            _percent_of_medicare_lines(lines, unit_fees, payer)
        else:
            _medicare(lines, unit_fees, self.medicare)
        outcome = []
        for line, start in zip(lines, before, strict=True):
            amounts = None if line.unit_amounts is None else tuple(line.unit_amounts)
            steps = tuple(line.fee_steps[start:])
            summary = fee_summary(line.charge_per_unit, line.units, amounts, steps)
            line.fee_summary = summary if not start else None  # steps of its own before: the claim line joins all
            outcome.append((line.charge_per_unit, amounts, steps, summary))
        return outcome


def _payer_key(payer: PayerPolicy, line: WorkLine, fee: object) -> tuple[object, ...]:
    """A line's outcome key under a payer's own schedule (contracted: ``fee`` is the payer's amount; percent of
    Medicare: the Medicare fee's number): the payer's figures and the line's code and units."""
    fees = payer.fees
    return (fees.schedule, payer.origin, fees.percent_of_medicare, line.code.code, line.units, fee)


def _replay(outcome: _LineOutcome, line: WorkLine) -> None:
    """Set a stored outcome on a line with its key."""
    charge_per_unit, amounts, steps, summary = outcome
    line.charge_per_unit = charge_per_unit
    line.unit_amounts = None if amounts is None else list(amounts)
    if line.fee_steps:  # steps of its own before the estimate: the claim line joins them all
        line.fee_steps.extend(steps)
        line.fee_summary = None
        return
    if steps:
        line.fee_steps = list(steps)
    line.fee_summary = summary


def fee_summary(
    charge_per_unit: float | None, units: int, amounts: Sequence[Decimal] | None, steps: Sequence[str]
) -> FeeSummary:
    """What the claim line of a whole line shows of its estimate (``FeeSummary``)."""
    text = "; ".join(steps)
    charge = None if charge_per_unit is None else round(charge_per_unit * units, 2)
    if amounts is None:
        return text, charge, None, text
    expected = line_money(amounts)
    return text, charge, expected, f"{text}; line total ${expected:.2f}"


def line_money(amounts: Sequence[Decimal]) -> float:
    """A line's expected amount: its units' amounts summed in Decimal and rounded to cents."""
    return float(cents(sum(amounts, Decimal(0))))


def _contracted_lines(lines: list[WorkLine], payer: PayerPolicy) -> None:
    for line in lines:
        _contracted(line, payer)


def _percent_of_medicare_lines(lines: list[WorkLine], fees: list[_Fee], payer: PayerPolicy) -> None:
    for line, fee in zip(lines, fees, strict=True):
        _percent_of_medicare(line, fee, payer)


def _contracted(line: WorkLine, payer: PayerPolicy) -> None:
    amount = payer.fees.contracted.get(line.code.code)
    if amount is None:
        line.fee_steps.append(f"no contracted amount for {line.code.code} in {payer.origin}")
        return
    line.unit_amounts = [amount] * line.units
    line.fee_steps.append(f"contracted ${cents(amount)} per unit x {line.units} ({payer.origin})")


def _percent_of_medicare(line: WorkLine, fee: UnitFee | NoFee, payer: PayerPolicy) -> None:
    if isinstance(fee, NoFee):
        line.fee_steps.append(fee.reason)
        line.unit_amounts = [Decimal(0)] * line.units if fee.zero else None
        return
    percent = payer.fees.percent_of_medicare or HUNDRED
    per_unit = cents(fee.full * percent / HUNDRED)
    line.unit_amounts = [per_unit] * line.units
    line.fee_steps += [
        f"Medicare {fee.formula}",
        f"{percent}% of Medicare = ${cents(per_unit)} per unit x {line.units} ({payer.origin})",
    ]


def _medicare(lines: list[WorkLine], fees: list[_Fee], medicare: MedicarePayment) -> None:
    unit_fees: dict[int, UnitFee] = {}
    for index, line in enumerate(lines):
        if line.units == 0:
            continue
        fee = fees[index]
        if isinstance(fee, NoFee):
            line.fee_steps.append(fee.reason)
            line.unit_amounts = [Decimal(0)] * line.units if fee.zero else None
            continue
        unit_fees[index] = fee
        line.unit_amounts = [fee.full] * line.units
        line.fee_steps.append(fee.formula)
    steps = {"mppr": _apply_mppr, "assistant": _apply_assistant_rate}
    for step in medicare.therapy.reduction_order:
        steps[step](lines, unit_fees, medicare)


def _apply_mppr(lines: list[WorkLine], unit_fees: dict[int, UnitFee], medicare: MedicarePayment) -> None:
    """The unit with the highest PE payment of the day is paid in full (ties: the lower code); every other
    unit of a code the PPRRVU file marks for the therapy MPPR (MULT PROC 5) is paid at its reduced amount."""
    eligible = [i for i in unit_fees if unit_fees[i].mppr]
    if sum(lines[i].units for i in eligible) < 2:
        return
    top = min(eligible, key=lambda i: (-unit_fees[i].pe_payment, lines[i].code.code))
    first = lines[top].code.code
    for index in eligible:
        fee, line = unit_fees[index], lines[index]
        full_units = 1 if index == top else 0
        reduced_units = line.units - full_units
        if not reduced_units:
            continue
        line.unit_amounts = [fee.full] * full_units + [fee.reduced] * reduced_units
        line.fee_steps.append(
            f"{MPPR_STEP} {fee.mppr_percent}% of the PE payment (${cents(fee.pe_payment)}) off {reduced_units} unit(s) "
            f"= ${fee.reduced} each ({MPPR_CODES_CITATION}); the full unit of the day is {first}, the "
            f"highest PE payment ({MPPR_CITATION})"
        )


def _apply_assistant_rate(lines: list[WorkLine], unit_fees: dict[int, UnitFee], medicare: MedicarePayment) -> None:
    for index, fee in unit_fees.items():
        line = lines[index]
        amounts, percent = line.unit_amounts, fee.assistant_percent
        if not line.assistant_units or amounts is None or percent == HUNDRED:
            continue
        for position in range(len(amounts) - line.assistant_units, len(amounts)):
            amounts[position] = cents(amounts[position] * percent / HUNDRED)
        line.fee_steps.append(
            f"{line.assistant_modifier}: {line.assistant_units} unit(s) paid at {percent}% ({ASSISTANT_RATE_CITATION})"
        )
