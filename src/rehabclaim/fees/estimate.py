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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from rehabclaim.citations import cited
from rehabclaim.cms.pfs import STATUS_MEANING, Gpci, Rvu
from rehabclaim.cms.tables import CmsTables
from rehabclaim.fees.medicare_policy import MedicarePayment
from rehabclaim.lines import WorkLine
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
        # the fee outcome cache hashes a unit fee per line and visit: the formula states every figure, so equal
        # fees have equal formulas, and a str caches its hash (the generated one hashes all seven fields)
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


LineFeeLookup = Callable[[WorkLine, date], "UnitFee | NoFee"]
_Outcome = tuple[tuple[Decimal, ...] | None, tuple[str, ...]]  # a line's unit amounts and fee steps


class FeeSchedule:
    """Everything an estimate needs, loaded once; Medicare per-unit fees are memoised by code and date."""

    def __init__(
        self, practice: Practice, tables: CmsTables, medicare: MedicarePayment, cache_entries: int = MEMO_ENTRIES
    ) -> None:
        self.practice = practice
        self.tables = tables
        self.medicare = medicare
        self.charges = {code: float(amount) for code, amount in practice.charges.items()}  # cents: exact in floats
        self._unit_fees: dict[tuple[str, date], UnitFee | NoFee] = Memo(cache_entries)
        # the outcome of a day's lines by everything it depends on: the schedule, the payer's figures and per
        # line its code, units (Medicare: assistant units and modifier) and unit fee: (amounts, steps) per line
        self._outcomes: dict[tuple[object, ...], list[_Outcome]] = Memo(cache_entries)

    def line_fee(self, line: WorkLine, day: date) -> UnitFee | NoFee:
        """The Medicare per-unit fee of a line's code; an orthosis has none on the physician fee schedule."""
        if line.code.is_orthosis:
            return NoFee(f"{line.code.code} {DMEPOS}")
        return self.unit_fee(line.code.code, day)

    def unit_fee(self, code: str, day: date) -> UnitFee | NoFee:
        key = (code, day)
        found = self._unit_fees.get(key)
        if found is None:
            found = remember(
                self._unit_fees, key, medicare_unit_fee(code, day, self.practice, self.tables, self.medicare)
            )
        return found

    def estimate(self, lines: list[WorkLine], day: date, payer: PayerPolicy) -> None:
        """Set ``charge_per_unit``, ``unit_amounts`` and ``fee_steps`` on every line: worked out in Decimal
        once per distinct outcome key (everything the outcome depends on) and replayed after."""
        charges = self.charges
        for line in lines:
            line.charge_per_unit = charges.get(line.code.code)
        fees = payer.fees
        if fees.schedule == "contracted":
            contracted = fees.contracted
            key: tuple[object, ...] = (
                "contracted",
                payer.origin,
                *[(line.code.code, line.units, contracted.get(line.code.code)) for line in lines],
            )
            self._replay(key, lines, lambda: _contracted_lines(lines, payer))
        elif fees.schedule == "percent-of-medicare":
            line_fee = self.line_fee
            fees_of_lines = [line_fee(line, day) for line in lines]
            key = (
                "percent-of-medicare",
                payer.origin,
                fees.percent_of_medicare,
                *[(line.code.code, line.units, fee) for line, fee in zip(lines, fees_of_lines, strict=True)],
            )
            self._replay(key, lines, lambda: _percent_of_medicare_lines(lines, fees_of_lines, payer))
        else:
            line_fee = self.line_fee
            key = (
                "medicare",
                *[
                    (line.code.code, line.units, line.assistant_units, line.assistant_modifier, line_fee(line, day))
                    for line in lines
                ],
            )
            self._replay(key, lines, lambda: _medicare(lines, day, line_fee, self.medicare))

    def _replay(self, key: tuple[object, ...], lines: list[WorkLine], work_out: Callable[[], object]) -> None:
        """Replay the outcome (amounts and steps per line) stored under ``key``, or work it out and store it."""
        found = self._outcomes.get(key)
        if found is None:
            before = [len(line.fee_steps) for line in lines]
            work_out()
            outcome = [
                (None if line.unit_amounts is None else tuple(line.unit_amounts), tuple(line.fee_steps[start:]))
                for line, start in zip(lines, before, strict=True)
            ]
            remember(self._outcomes, key, outcome)
            return
        for line, (amounts, steps) in zip(lines, found, strict=True):
            line.unit_amounts = None if amounts is None else list(amounts)
            line.fee_steps.extend(steps)


def _contracted_lines(lines: list[WorkLine], payer: PayerPolicy) -> None:
    for line in lines:
        _contracted(line, payer)


def _percent_of_medicare_lines(lines: list[WorkLine], fees: list[UnitFee | NoFee], payer: PayerPolicy) -> None:
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


def _medicare(lines: list[WorkLine], day: date, line_fee: LineFeeLookup, medicare: MedicarePayment) -> None:
    unit_fees: dict[int, UnitFee] = {}
    for index, line in enumerate(lines):
        if line.units == 0:
            continue
        fee = line_fee(line, day)
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
