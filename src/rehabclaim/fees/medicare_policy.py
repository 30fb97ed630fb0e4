"""Medicare payment figures by date of service, from ``data/medicare-payment.toml``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources

import msgspec

from rehabclaim.datafiles import convert_toml


class Dated(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    source: str
    valid_from: date = msgspec.field(name="from")
    valid_through: date | None = msgspec.field(name="through", default=None)

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_through is None or day <= self.valid_through)


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
    reduction_order: list[str]
    always_therapy: frozenset[str]
    always_therapy_source: str


class MedicarePayment(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    conversion_factor: list[ConversionFactor]
    mppr: list[Percent]
    assistant_payment: list[Percent]
    work_gpci_floor: list[Floor]
    kx_threshold: list[YearAmount]
    review_threshold: list[YearRangeAmount]
    therapy: TherapyPolicy

    def conversion_factor_on(self, day: date, qualifying_apm: bool) -> tuple[Decimal, str] | None:
        for row in self.conversion_factor:
            if row.covers(day):
                if row.qp_amount is None:
                    return row.amount, f"CF {row.amount} ({day.year})"
                amount = row.qp_amount if qualifying_apm else row.amount
                return amount, f"CF {amount} ({day.year}, {'QP' if qualifying_apm else 'non-QP'})"
        return None

    def mppr_percent(self, day: date) -> Decimal:
        return next((row.percent for row in self.mppr if row.covers(day)), Decimal(0))

    def assistant_percent(self, day: date) -> Decimal:
        return next((row.percent for row in self.assistant_payment if row.covers(day)), Decimal(100))

    def work_floor_applies(self, day: date) -> bool:
        return next((row.applies for row in self.work_gpci_floor if row.covers(day)), False)

    def kx_threshold_for(self, year: int) -> YearAmount | None:
        return next((row for row in self.kx_threshold if row.year == year), None)

    def review_threshold_for(self, year: int) -> YearRangeAmount | None:
        return next((r for r in self.review_threshold if r.from_year <= year <= r.through_year), None)


@cache
def medicare_payment() -> MedicarePayment:
    text = resources.files("rehabclaim.data").joinpath("medicare-payment.toml").read_text(encoding="utf-8")
    return convert_toml(text, MedicarePayment, "medicare-payment.toml")
