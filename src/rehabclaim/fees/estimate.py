"""The reimbursement estimate per line: what the practice charges and what the payer is expected to pay.

Medicare (Physician Fee Schedule, reference medicare-policy.md s. 3-5):

    per unit   = (work RVU x work GPCI + PE RVU x PE GPCI + MP RVU x MP GPCI) x conversion factor
    MPPR       = every unit of an "always therapy" service that day, after the unit with the highest
                 practice-expense payment, loses the MPPR percent (50% since 2013-04-01) of its PE payment
    CQ/CO      = units furnished in whole or in part by an assistant are paid at 85% (from 2022-01-01)

RVUs and GPCIs come from the PPRRVU and GPCI files of the date of service's year, the conversion factor,
MPPR and CQ/CO percents from ``data/medicare-payment.toml`` by date of service. Within a line the units are
ordered highest payment first, and the assistant's units are the last ones. Amounts are exact decimals,
rounded to cents once per claim line.

Other payers: ``contracted`` pays the payer file's amount per unit; ``percent-of-medicare`` pays that percent
of the Medicare per-unit amount (before MPPR and CQ/CO, which are Medicare payment rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from rehabclaim.cms.tables import CmsTables
from rehabclaim.fees.medicare_policy import MedicarePayment
from rehabclaim.lines import WorkLine
from rehabclaim.payers import PayerPolicy
from rehabclaim.practice import Practice

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class NoFee:
    """Why the schedule gives no amount; ``zero`` when the code is priced at nothing (bundled)."""

    reason: str
    zero: bool = False


@dataclass(frozen=True, slots=True)
class UnitFee:
    """The Medicare amount for one unit of a code, with its practice-expense part and the arithmetic."""

    full: Decimal
    pe_payment: Decimal
    formula: str
    reduced: Decimal  # a unit after the first of the day under MPPR: full less the MPPR share of its PE
    mppr_percent: Decimal
    assistant_percent: Decimal  # the share paid for a unit furnished by an assistant (CQ/CO)


def medicare_unit_fee(
    code: str, day: date, practice: Practice, tables: CmsTables, medicare: MedicarePayment
) -> UnitFee | NoFee:
    """The per-unit Medicare fee for ``code``, or why there is none."""
    rvus, gpcis = tables.rvus_for(day.year), tables.gpci_for(day.year)
    if rvus is None or gpcis is None:
        return NoFee(f"no PPRRVU/GPCI file for {day.year} is loaded")
    rvu = rvus.get(code)
    if rvu is None:
        return NoFee(f"{code} has no row in the {day.year} physician fee schedule file")
    if rvu.status == "B":
        return NoFee(f"{code} has PFS status B: bundled, not paid separately", zero=True)
    if rvu.status != "A":
        meaning = {"C": "priced by the contractor case by case"}
        return NoFee(f"{code} has PFS status {rvu.status}: {meaning.get(rvu.status, 'not paid on the fee schedule')}")
    gpci = gpcis.get((practice.locality.mac, practice.locality.number.zfill(2)))
    if gpci is None:
        return NoFee(f"no GPCI row for MAC {practice.locality.mac} locality {practice.locality.number}")
    factor = medicare.conversion_factor_on(day, practice.qualifying_apm_participant)
    if factor is None:
        return NoFee(f"no conversion factor for {day.isoformat()} in medicare-payment.toml")
    cf, cf_note = factor
    floored = medicare.work_floor_applies(day)
    work_gpci = gpci.work_floored if floored else gpci.work
    pe_rvu = rvu.pe_nonfacility if practice.setting == "non-facility" else rvu.pe_facility
    pe_payment = pe_rvu * gpci.pe * cf
    full = (rvu.work * work_gpci + rvu.mp * gpci.mp) * cf + pe_payment
    formula = (
        f"({rvu.work} work RVU x {work_gpci} work GPCI{' (1.0 floor)' if floored else ''} + {pe_rvu} "
        f"{practice.setting} PE RVU x {gpci.pe} PE GPCI + {rvu.mp} MP RVU x {gpci.mp} MP GPCI) x {cf_note} "
        f"= ${cents(full)} per unit [{gpci.name}, {rvu.origin.split(' line')[0]}]"
    )
    percent = medicare.mppr_percent(day)
    reduced = full - pe_payment * percent / HUNDRED
    return UnitFee(full, pe_payment, formula, reduced, percent, medicare.assistant_percent(day))


UnitFeeLookup = Callable[[str, date], "UnitFee | NoFee"]


class FeeSchedule:
    """Everything an estimate needs, loaded once; Medicare per-unit fees are memoised by code and date."""

    def __init__(self, practice: Practice, tables: CmsTables, medicare: MedicarePayment) -> None:
        self.practice = practice
        self.tables = tables
        self.medicare = medicare
        self.charges = {code: float(amount) for code, amount in practice.charges.items()}  # cents: exact in floats
        self._unit_fees: dict[tuple[str, date], UnitFee | NoFee] = {}

    def unit_fee(self, code: str, day: date) -> UnitFee | NoFee:
        key = (code, day)
        found = self._unit_fees.get(key)
        if found is None:
            if len(self._unit_fees) > 100_000:  # bounded: dates come from input
                self._unit_fees.clear()
            found = self._unit_fees[key] = medicare_unit_fee(code, day, self.practice, self.tables, self.medicare)
        return found

    def estimate(self, lines: list[WorkLine], day: date, payer: PayerPolicy) -> None:
        """Set ``charge_per_unit``, ``unit_amounts`` and ``fee_steps`` on every line."""
        for line in lines:
            line.charge_per_unit = self.charges.get(line.code.code)
        if payer.fees.schedule == "contracted":
            for line in lines:
                _contracted(line, payer)
        elif payer.fees.schedule == "percent-of-medicare":
            for line in lines:
                _percent_of_medicare(line, self.unit_fee(line.code.code, day), payer)
        else:
            _medicare(lines, day, self.unit_fee, self.medicare)


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
    per_unit = fee.full * percent / HUNDRED
    line.unit_amounts = [per_unit] * line.units
    line.fee_steps += [
        f"Medicare {fee.formula}",
        f"{percent}% of Medicare = ${cents(per_unit)} per unit x {line.units} ({payer.origin})",
    ]


def _medicare(lines: list[WorkLine], day: date, unit_fee: UnitFeeLookup, medicare: MedicarePayment) -> None:
    unit_fees: dict[int, UnitFee] = {}
    for index, line in enumerate(lines):
        if line.units == 0:
            continue
        fee = unit_fee(line.code.code, day)
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
    unit of an "always therapy" line is paid at its reduced amount."""
    always = medicare.therapy.always_therapy
    eligible = [i for i in unit_fees if lines[i].code.code in always and unit_fees[i].mppr_percent]
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
            f"MPPR: {fee.mppr_percent}% of the PE payment (${cents(fee.pe_payment)}) off {reduced_units} unit(s); "
            f"the full unit of the day is {first}, the highest PE payment (medicare-payment.toml, NGS MPPR)"
        )


def _apply_assistant_rate(lines: list[WorkLine], unit_fees: dict[int, UnitFee], medicare: MedicarePayment) -> None:
    for index, fee in unit_fees.items():
        line = lines[index]
        amounts, percent = line.unit_amounts, fee.assistant_percent
        if not line.assistant_units or amounts is None or percent == HUNDRED:
            continue
        for position in range(len(amounts) - line.assistant_units, len(amounts)):
            amounts[position] = amounts[position] * percent / HUNDRED
        line.fee_steps.append(
            f"{line.assistant_modifier}: {line.assistant_units} unit(s) paid at {percent}% (SSA s. 1834(v))"
        )
