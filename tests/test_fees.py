"""The fee estimate against hand-worked figures (CMS's CY 2026 RVUs and GPCIs bundled in data/cms/; 2026 CF).

NC locality 11502/00 (GPCI2026, RVU26C): work GPCI 1.000 (1.0 floor), PE GPCI 0.933, MP GPCI 0.639; CF
33.4009 (non-QP). 97110: work 0.45, PE 0.41, MP 0.01 -> 0.45 + 0.38253 + 0.00639 = 0.83892 RVU ->
$28.020683028, $28.02 a unit; PE payment 0.38253 x 33.4009 = $12.776846277; an MPPR unit
28.020683028 - 6.388423139 = $21.632259890, $21.63. Each unit is rounded to cents once.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from rehabclaim.cms.tables import load_cms_tables
from rehabclaim.fees.estimate import NoFee, UnitFee, medicare_unit_fee
from rehabclaim.fees.medicare_policy import medicare_payment
from rehabclaim.practice import demo_practice

DAY = date(2026, 6, 1)


def unit_fee(code: str, day: date = DAY, **practice_changes: Any) -> UnitFee:
    practice = msgspec.structs.replace(demo_practice(), **practice_changes)
    fee = medicare_unit_fee(code, day, practice, load_cms_tables(), medicare_payment())
    assert isinstance(fee, UnitFee), fee
    return fee


def test_step_work_pe_mp_times_gpci_times_conversion_factor() -> None:
    fee = unit_fee("97110")
    assert fee.full == Decimal("28.02")  # 0.83892 x 33.4009 = 28.020683028
    assert fee.pe_payment == Decimal("0.38253") * Decimal("33.4009")
    assert fee.reduced == Decimal("21.63") and fee.mppr
    assert "0.45 work RVU x 1.000 work GPCI (1.0 floor)" in fee.formula and "$28.02 per unit" in fee.formula


def test_step_conversion_factor_for_qualifying_apm_participants() -> None:
    assert unit_fee("97110", qualifying_apm_participant=True).full == Decimal("28.16")  # 0.83892 x 33.5675


def test_step_facility_rate_uses_the_facility_pe() -> None:
    # CMS gives therapy codes the same PE in both columns (the facility one flagged NA)
    fee = unit_fee("97110", setting="facility")
    assert fee.full == Decimal("28.02") and "facility PE RVU (NA in the file: read as published)" in fee.formula


def test_step_locality_changes_the_gpcis() -> None:
    practice = msgspec.structs.replace(
        demo_practice(), locality=msgspec.structs.replace(demo_practice().locality, mac="13202", number="01")
    )
    fee = medicare_unit_fee("97110", DAY, practice, load_cms_tables(), medicare_payment())
    assert isinstance(fee, UnitFee) and "MANHATTAN" in fee.formula
    assert fee.full == Decimal("32.43")  # (0.45 x 1.064 + 0.41 x 1.162 + 0.01 x 1.586) x 33.4009 = 32.434945972


@pytest.mark.parametrize(
    ("code", "day", "reason"),
    [
        ("97010", DAY, "status B"),
        ("0770T", DAY, "status C"),
        ("97014", DAY, "Medicare uses G0283"),
        ("L1906", DAY, "no row"),
        ("97110", date(2025, 6, 1), "no PPRRVU/GPCI file for 2025"),
    ],
)
def test_no_fee_says_why(code: str, day: date, reason: str) -> None:
    fee = medicare_unit_fee(code, day, demo_practice(), load_cms_tables(), medicare_payment())
    assert isinstance(fee, NoFee) and reason in fee.reason
    assert fee.zero == (reason == "status B")


def lines_by_code(result: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for line in result.lines:
        found.setdefault(line.code, []).append(line)
    return found


def test_mppr_with_three_codes(scrub: Any) -> None:
    result = scrub(
        services=[{"code": "97110", "minutes": 30}, {"code": "97112", "minutes": 15}, {"code": "97530", "minutes": 15}]
    )
    lines = lines_by_code(result)
    # 97530 has the highest PE payment ($18.70): its unit is paid in full; every other unit loses half its PE.
    assert lines["97530"][0].expected == 33.61  # 33.607651571
    assert lines["97112"][0].expected == 24.24  # 31.560510410 - 14.646628659 / 2 = 24.237196081
    assert lines["97110"][0].expected == 43.26  # 2 x 21.63
    assert result.total_expected == 101.11
    assert (
        "MPPR: 50%" in lines["97110"][0].expected_why
        and "full unit of the day is 97530" in lines["97110"][0].expected_why
    )
    assert "MPPR" not in lines["97530"][0].expected_why


def test_mppr_on_units_of_one_code(scrub: Any) -> None:
    line = scrub(services=[{"code": "97110", "minutes": 45}]).lines[0]
    assert line.units == 3
    assert line.expected == 71.28  # 28.02 + 2 x 21.63


def test_a_line_outcome_follows_the_days_mppr_decision(scrub: Any) -> None:
    # the fee outcome is remembered per line: the same 97110 line differs by which unit of the day is full
    alone = [{"code": "97110", "minutes": 30}]
    under_97530 = [*alone, {"code": "97530", "minutes": 15}]
    under_97112 = [*alone, {"code": "97112", "minutes": 15}]
    for _ in range(2):  # the second round replays every line
        assert scrub(services=alone).lines[0].expected == 49.65  # 28.02 + 21.63
        shared = lines_by_code(scrub(services=under_97530))["97110"][0]
        assert shared.expected == 43.26 and "full unit of the day is 97530" in shared.expected_why
        shared = lines_by_code(scrub(services=under_97112))["97110"][0]
        assert shared.expected == 43.26 and "full unit of the day is 97112" in shared.expected_why
        assert lines_by_code(scrub(services=under_97112))["97112"][0].expected == 31.56  # its full unit


def test_assistant_units_paid_at_85_percent(scrub: Any) -> None:
    assisted, therapist = scrub(services=[{"code": "97110", "minutes": 30, "assistant_minutes": 15}]).lines
    assert assisted.modifiers == ["GP", "CQ"] and therapist.modifiers == ["GP"]
    assert therapist.expected == 28.02  # the full unit of the day
    assert assisted.expected == 18.39  # 21.63 x 0.85 = 18.3855, rounded half-up
    assert "CQ: 1 unit(s) paid at 85%" in assisted.expected_why


def test_assistant_rate_before_2022_is_full(scrub: Any) -> None:
    # 2021 dates: no 2021 fee file is bundled, so only the rate lookup is checked here.
    assert medicare_payment().assistant_percent(date(2021, 12, 31)) == 100
    assert medicare_payment().assistant_percent(date(2022, 1, 1)) == 85


def test_charge_from_the_charge_master(scrub: Any) -> None:
    result = scrub(services=[{"code": "97110", "minutes": 30}, {"code": "97010"}, {"code": "L1906"}])
    lines = lines_by_code(result)
    assert lines["97110"][0].charge == 130.0 and lines["97010"][0].charge == 25.0 and lines["L1906"][0].charge == 120.0
    assert lines["97010"][0].expected == 0.0 and lines["L1906"][0].expected is None
    assert result.total_charge == 275.0
    assert result.total_expected == lines["97110"][0].expected


def test_percent_of_medicare_payer(scrub: Any) -> None:
    line = scrub(payer="sample_per_code", services=[{"code": "97110", "minutes": 30}]).lines[0]
    assert line.expected == 61.64  # 2 x (28.02 x 110% = 30.822 -> 30.82)
    assert "110.0% of Medicare" in line.expected_why


def test_contracted_payer(scrub: Any) -> None:
    result = scrub(
        payer="sample_medicaid", services=[{"code": "97110", "minutes": 30}, {"code": "97760", "minutes": 15}]
    )
    lines = lines_by_code(result)
    assert lines["97110"][0].expected == 43.00 and lines["97760"][0].expected == 28.00
    other = scrub(payer="sample_medicaid", services=[{"code": "97113", "minutes": 30}]).lines[0]
    assert other.expected is None and "no contracted amount" in other.expected_why


def test_mppr_percent_by_date() -> None:
    policy = medicare_payment()
    assert policy.mppr_percent(date(2013, 3, 31)) == 25
    assert policy.mppr_percent(date(2013, 4, 1)) == 50


def test_conversion_factor_by_date_of_service() -> None:
    policy = medicare_payment()
    assert policy.conversion_factor_on(date(2024, 3, 8), False)[0] == Decimal("32.7442")  # type: ignore[index]
    assert policy.conversion_factor_on(date(2024, 3, 9), False)[0] == Decimal("33.2875")  # type: ignore[index]
    assert policy.conversion_factor_on(date(2020, 12, 31), False) is None
