"""Medicare payment figures by date of service, from ``data/medicare-payment.toml``.

Every amount is checked on load: finite (TOML and Decimal both allow NaN and infinity), a conversion
factor above 0, a percent from 0 to 100, a threshold 0 or more; a bad figure refuses the file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from importlib import resources

import msgspec

from rehabclaim.datafiles import ZERO, DataFileError, convert_toml, is_code
from rehabclaim.dates import DateRange
from rehabclaim.errors import quote

ORIGIN = "medicare-payment.toml"
HUNDRED = Decimal(100)


class Dated(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    source: str
    valid_from: date = msgspec.field(name="from")
    valid_through: date | None = msgspec.field(name="through", default=None)

    @property
    def dates(self) -> DateRange:
        """The dates of service the figure applies to (checked in order when the file is read)."""
        return DateRange(self.valid_from, self.valid_through)


class ConversionFactor(Dated, frozen=True):
    amount: Decimal
    qp_amount: Decimal | None = None


class Percent(Dated, frozen=True):
    percent: Decimal


class Floor(Dated, frozen=True):
    applies: bool


class YearAmount(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    year: int
    amount: Decimal
    source: str


class YearRangeAmount(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    from_year: int
    through_year: int
    amount: Decimal
    source: str


class TherapyPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    reduction_order: list[str]  # which codes take the MPPR is the PPRRVU file's MULT PROC column (5)


class MedicareCode(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A code Medicare does not recognise (PFS status I) and the code Medicare Part B uses instead."""

    instead_of: str
    code: str
    source: str


class MedicarePayment(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    medicare_payers: list[str]  # payer profile keys billed to Medicare Part B (the Medicare-only rules apply)
    conversion_factor: list[ConversionFactor]
    mppr: list[Percent]
    assistant_payment: list[Percent]
    work_gpci_floor: list[Floor]
    kx_threshold: list[YearAmount]
    review_threshold: list[YearRangeAmount]
    therapy: TherapyPolicy
    medicare_code: list[MedicareCode] = []

    def is_medicare(self, payer_key: str) -> bool:
        return payer_key in self.medicare_payers

    def medicare_code_for(self, code: str) -> MedicareCode | None:
        return next((row for row in self.medicare_code if row.instead_of == code), None)

    def conversion_factor_on(self, day: date, qualifying_apm: bool) -> tuple[Decimal, str] | None:
        for row in self.conversion_factor:
            if row.dates.covers(day):
                if row.qp_amount is None:
                    return row.amount, f"CF {row.amount} ({day.year})"
                amount = row.qp_amount if qualifying_apm else row.amount
                return amount, f"CF {amount} ({day.year}, {'QP' if qualifying_apm else 'non-QP'})"
        return None

    def mppr_percent(self, day: date) -> Decimal:
        return next((row.percent for row in self.mppr if row.dates.covers(day)), Decimal(0))

    def assistant_percent(self, day: date) -> Decimal:
        return next((row.percent for row in self.assistant_payment if row.dates.covers(day)), Decimal(100))

    def work_floor_applies(self, day: date) -> bool:
        return next((row.applies for row in self.work_gpci_floor if row.dates.covers(day)), False)

    def kx_threshold_for(self, year: int) -> YearAmount | None:
        return next((row for row in self.kx_threshold if row.year == year), None)

    def review_threshold_for(self, year: int) -> YearRangeAmount | None:
        return next((r for r in self.review_threshold if r.from_year <= year <= r.through_year), None)


def medicare_payment() -> MedicarePayment:
    """The bundled figures, read and checked now (``load_reference`` keeps them: no module cache)."""
    raw = resources.files("rehabclaim.data").joinpath(ORIGIN).read_bytes()
    return check_payment(convert_toml(raw.decode("utf-8"), MedicarePayment, ORIGIN))


def check_payment(payment: MedicarePayment) -> MedicarePayment:
    """``payment`` itself when every figure is in range; else DataFileError naming the field."""
    _check_dates(payment)
    for index, factor in enumerate(payment.conversion_factor):
        _in_range(factor.amount, f"conversion_factor[{index}].amount", ZERO, None, above=True)
        if factor.qp_amount is not None:
            _in_range(factor.qp_amount, f"conversion_factor[{index}].qp_amount", ZERO, None, above=True)
    for table, rows in (("mppr", payment.mppr), ("assistant_payment", payment.assistant_payment)):
        for index, row in enumerate(rows):
            _in_range(row.percent, f"{table}[{index}].percent", ZERO, HUNDRED)
    for index, year in enumerate(payment.kx_threshold):
        _in_range(year.amount, f"kx_threshold[{index}].amount", ZERO, None)
    for index, years in enumerate(payment.review_threshold):
        _in_range(years.amount, f"review_threshold[{index}].amount", ZERO, None)
    for index, replacement in enumerate(payment.medicare_code):
        for field, code in (("instead_of", replacement.instead_of), ("code", replacement.code)):
            if not is_code(code):
                raise DataFileError(f"{ORIGIN}: medicare_code[{index}].{field}: not a HCPCS/CPT code: {quote(code)}")
    return payment


def _check_dates(payment: MedicarePayment) -> None:
    """Every dated figure's ``through`` is on or after its ``from`` (a reversed range would never apply)."""
    dated: dict[str, Sequence[Dated]] = {
        "conversion_factor": payment.conversion_factor,
        "mppr": payment.mppr,
        "assistant_payment": payment.assistant_payment,
        "work_gpci_floor": payment.work_gpci_floor,
    }
    for table, rows in dated.items():
        for index, row in enumerate(rows):
            if DateRange.if_ordered(row.valid_from, row.valid_through) is None:
                raise DataFileError(f"{ORIGIN}: {table}[{index}].through: {row.valid_through} is before from")


def _in_range(value: Decimal, field: str, low: Decimal, high: Decimal | None, above: bool = False) -> None:
    too_low = value <= low if above else value < low
    if not value.is_finite() or too_low or (high is not None and value > high):
        bounds = f"above {low}" if above else f"from {low}" + (f" to {high}" if high is not None else " up")
        raise DataFileError(f"{ORIGIN}: {field}: must be a finite number {bounds}, got {quote(value)}")
