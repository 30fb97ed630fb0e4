"""Issue 9: billing mistakes that used to pass. Each test here fails on the code before the fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rehabclaim.catalog import load_catalog
from rehabclaim.catalog.codes import _parse_code
from rehabclaim.datafiles import DataFileError, load_toml
from rehabclaim.ledger import LedgerHistory, open_ledger, post_visit
from rehabclaim.model import Finding, ScrubResult
from rehabclaim.reference import load_reference
from rehabclaim.rules.xr import age_on
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.thresholds import load_thresholds, parse_thresholds
from rehabclaim.units.methods import units_for_minutes, units_past_midpoint
from tests.conftest import visit_json

LONG_PLAN = {"certified_from": "2026-03-01", "certified_through": "2026-07-15"}  # 137 days
SERVICES = [{"code": "97110", "minutes": 30}]


def hits(result: ScrubResult, rule: str) -> list[Finding]:
    return [finding for finding in result.findings if finding.rule == rule]


def line_of(result: ScrubResult, code: str) -> Any:
    [found] = [line for line in result.lines if line.code == code]
    return found


# --- an evaluation furnished by an assistant ------------------------------------------------------------


def test_evaluation_by_a_pta_is_an_error_not_a_cq_line(scrub: Any) -> None:
    result = scrub(rendered_by="assistant", services=[{"code": "97162"}, {"code": "97110", "minutes": 30}])
    [finding] = hits(result, "E001")
    assert finding.severity == "error" and finding.code == "97162" and "CQ" in finding.message
    assert result.has_error
    assert line_of(result, "97162").modifiers == ["GP"]  # never a CQ line paid at 85%
    assert line_of(result, "97110").modifiers == ["GP", "CQ"]  # the PTA's treatment still carries CQ
    assert not [f for f in hits(result, "M002") if f.code == "97162"]


@pytest.mark.parametrize(("discipline", "code"), [("PT", "97164"), ("OT", "97168"), ("OT", "97165")])
def test_assistant_minutes_on_an_evaluation_are_an_error(scrub: Any, discipline: str, code: str) -> None:
    result = scrub(discipline=discipline, services=[{"code": code, "minutes": 40, "assistant_minutes": 10}])
    assert [f.code for f in hits(result, "E001")] == [code]
    assert "CO" not in line_of(result, code).modifiers and "CQ" not in line_of(result, code).modifiers


def test_evaluation_by_the_therapist_passes(scrub: Any) -> None:
    result = scrub(services=[{"code": "97161"}, {"code": "97110", "minutes": 30, "assistant_minutes": 30}])
    assert not hits(result, "E001")


# --- a plan of care certified for more than 90 days ---------------------------------------------------


def test_long_plan_is_certified_for_90_days_only(scrub: Any) -> None:
    day_93 = scrub(plan_of_care=LONG_PLAN, services=[{"code": "97110", "minutes": 30}])  # 2026-06-01
    [finding] = hits(day_93, "R002")
    assert finding.severity == "error"
    assert "at most 90 calendar days (through 2026-05-29)" in finding.message
    day_90 = scrub(date="2026-05-29", plan_of_care=LONG_PLAN, services=[{"code": "97110", "minutes": 30}])
    assert not hits(day_90, "R002")


def test_plan_shorter_than_90_days_keeps_its_own_end(scrub: Any) -> None:
    plan = {"certified_from": "2026-05-01", "certified_through": "2026-05-20"}
    assert hits(scrub(plan_of_care=plan, services=[{"code": "97110", "minutes": 30}]), "R002")
    inside = scrub(date="2026-05-20", plan_of_care=plan, services=[{"code": "97110", "minutes": 30}])
    assert not hits(inside, "R002")


def test_long_plan_from_the_ledger(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    try:
        engine = Scrubber(history=LedgerHistory(ledger))
        first = decode_visit(
            visit_json(
                id="first",
                date="2026-03-02",
                patient={"id": "P91"},
                plan_of_care={"certified_from": "2026-03-01", "certified_through": "2026-12-31"},
                services=[{"code": "97110", "minutes": 30}],
            )
        )
        post_visit(ledger, first, engine.scrub(first))
        later = engine.scrub(
            decode_visit(visit_json(patient={"id": "P91"}, services=[{"code": "97110", "minutes": 30}]))
        )
        [finding] = hits(later, "R002")
        assert "through 2026-05-29" in finding.message and "from the ledger" in finding.message
    finally:
        ledger.dispose()


def test_certification_days_come_from_the_thresholds_file() -> None:
    real = load_toml("thresholds.toml")
    cases: list[tuple[dict[str, Any], str]] = [
        ({**real, "plan_of_care": {"certified_days_max": 0}}, "must be 1 or more"),
        ({**real, "plan_of_care": {}}, "certified_days_max"),
        ({key: value for key, value in real.items() if key != "plan_of_care"}, "plan_of_care"),
    ]
    for raw, expected in cases:
        with pytest.raises(DataFileError, match=expected):
            parse_thresholds(raw)
    assert load_thresholds().plan_of_care_certified_days_max == 90
    # another figure reaches R002 through the Reference the scrubber is given, nothing else
    sixty = parse_thresholds({**real, "plan_of_care": {"certified_days_max": 60}})
    engine = Scrubber(replace(load_reference(), thresholds=sixty))
    day_61 = engine.scrub(decode_visit(visit_json(date="2026-04-30", plan_of_care=LONG_PLAN, services=SERVICES)))
    assert "at most 60 calendar days (through 2026-04-29)" in hits(day_61, "R002")[0].message
    day_60 = engine.scrub(decode_visit(visit_json(date="2026-04-29", plan_of_care=LONG_PLAN, services=SERVICES)))
    assert not hits(day_60, "R002")


# --- Medicare therapy telehealth: a start date and the SLP and OT codes ---------------------------------


def telehealth_visit(scrub: Any, **fields: Any) -> ScrubResult:
    base: dict[str, Any] = {
        "telehealth": True,
        "place_of_service": "10",
        "services": [{"code": "97110", "minutes": 30}],
    }
    result: ScrubResult = scrub(**{**base, **fields})
    return result


def test_medicare_telehealth_before_march_2020_is_an_error(scrub: Any) -> None:
    before = telehealth_visit(scrub, date="2020-02-28", diagnoses=["M54.5"])
    [finding] = hits(before, "P005")
    assert "2020-02-28" in finding.message and before.has_error
    first_day = telehealth_visit(scrub, date="2020-03-01", diagnoses=["M54.5"])
    assert not hits(first_day, "P005")


@pytest.mark.parametrize(
    ("discipline", "code"),
    [("SLP", "92507"), ("SLP", "92521"), ("SLP", "92522"), ("SLP", "92523"), ("SLP", "92524")]
    + [("OT", code) for code in ("97165", "97166", "97167", "97168")],
)
def test_medicare_telehealth_covers_slp_and_ot_evaluation_codes(scrub: Any, discipline: str, code: str) -> None:
    result = telehealth_visit(scrub, discipline=discipline, services=[{"code": code}])
    assert not hits(result, "P005")
    assert "95" in line_of(result, code).modifiers


# --- two evaluations of one discipline on one day -----------------------------------------------------


@pytest.mark.parametrize(
    ("discipline", "codes", "expected"),
    [
        ("PT", ["97161", "97163"], "more than one PT evaluation"),
        ("PT", ["97163", "97164"], "bill the evaluation only"),
        ("OT", ["97166", "97168"], "bill the evaluation only"),
        ("OT", ["97167", "97167"], "97167 x2"),
    ],
)
def test_two_evaluations_of_one_discipline_are_an_error(
    scrub: Any, discipline: str, codes: list[str], expected: str
) -> None:
    result = scrub(discipline=discipline, services=[{"code": code} for code in codes])
    [finding] = hits(result, "E002")
    assert finding.severity == "error" and expected in finding.message


@pytest.mark.parametrize(
    ("discipline", "codes"),
    [("PT", ["97162"]), ("PT", ["97164"]), ("PT", ["97161", "97165"]), ("SLP", ["92521", "92522", "92610"])],
)
def test_one_evaluation_per_discipline_passes(scrub: Any, discipline: str, codes: list[str]) -> None:
    assert not hits(scrub(discipline=discipline, services=[{"code": code} for code in codes]), "E002")


# --- VR procedural dissociation: age, and add-on units from minutes --------------------------------------


@pytest.mark.parametrize(
    ("birth_date", "fires"),
    [("2021-06-02", True), ("2021-06-01", False), ("2026-01-01", True), ("1950-04-12", False)],
)
def test_0771t_is_not_reported_under_5(scrub: Any, birth_date: str, fires: bool) -> None:
    result = scrub(patient={"id": "P1", "birth_date": birth_date}, services=[{"code": "0771T"}])
    assert bool(hits(result, "V001")) is fires


def reference_age(birth: date, day: date) -> int:
    """Count the birthdays up to ``day`` one year at a time; 29 February's falls on 1 March in other years."""
    age = -1
    year = birth.year
    while True:
        try:
            birthday = birth.replace(year=year)
        except ValueError:
            birthday = date(year, 3, 1)
        if birthday > day:
            return age
        age += 1
        year += 1


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)), st.integers(0, 120 * 366))
def test_age_on_counts_whole_years(birth: date, days_later: int) -> None:
    day = min(birth + timedelta(days=days_later), date(2100, 12, 31))
    assert age_on(birth, day) == reference_age(birth, day)


@pytest.mark.parametrize(("minutes", "units"), [(7, 0), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3), (60, 4)])
@pytest.mark.parametrize(("primary", "addon"), [("0771T", "0772T"), ("0773T", "0774T")])
def test_vr_addon_units_come_from_its_minutes(scrub: Any, primary: str, addon: str, minutes: int, units: int) -> None:
    result = scrub(services=[{"code": primary}, {"code": addon, "minutes": minutes}])
    assert line_of(result, addon).units == units
    assert not hits(result, "V002")


def test_vr_addon_units_beyond_the_minutes_are_an_error(scrub: Any) -> None:
    result = scrub(services=[{"code": "0771T"}, {"code": "0772T", "minutes": 20, "units": 3}])
    assert line_of(result, "0772T").units == 1
    [finding] = hits(result, "V002")
    assert finding.severity == "error" and "3 units stated but 20 min support 1" in finding.message


@given(st.integers(0, 24 * 60))
def test_midpoint_units_match_the_15_minute_table(minutes: int) -> None:
    assert units_past_midpoint(minutes, 15) == units_for_minutes(minutes)


# --- 97763 at the initial encounter -----------------------------------------------------------------


def test_97763_at_the_initial_encounter_is_an_error(scrub: Any) -> None:
    result = scrub(discipline="OT", initial_orthotic_encounter=True, services=[{"code": "97763", "minutes": 20}])
    [finding] = hits(result, "O006")
    assert finding.severity == "error" and "bill 97760 or 97761" in finding.message
    later = scrub(discipline="OT", initial_orthotic_encounter=False, services=[{"code": "97763", "minutes": 20}])
    assert not hits(later, "O006")


# --- the catalog facts behind the rules -----------------------------------------------------------------


def test_catalog_holds_the_new_facts() -> None:
    codes = load_catalog().codes
    grouped = {code.code: code.evaluation_group for code in codes.values() if code.evaluation_group}
    assert grouped == {c: "PT" for c in ("97161", "97162", "97163", "97164")} | {
        c: "OT" for c in ("97165", "97166", "97167", "97168")
    }
    assert {c for c, code in codes.items() if code.evaluation == "re-evaluation"} == {"97164", "97168"}
    assert all(codes[c].evaluation == "initial" and codes[c].evaluation_group is None for c in ("92521", "92610"))
    assert {c: code.min_age_years for c, code in codes.items() if code.min_age_years} == dict.fromkeys(
        ("0771T", "0772T", "0773T", "0774T"), 5
    )
    assert {c: code.minutes_per_unit for c, code in codes.items() if code.minutes_per_unit} == {
        "0772T": 15,
        "0774T": 15,
    }


BASE_ROW: dict[str, Any] = {
    "code": "97161",
    "kind": "CPT",
    "category": "evaluation",
    "timed": False,
    "therapy": True,
    "disciplines": ["PT"],
    "description": "x",
    "source": "x",
}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("evaluation", "first", "field 'evaluation' must be one of"),
        ("evaluation_group", 3, "field 'evaluation_group' must be str"),
        ("min_age_years", -1, "field 'min_age_years' must be 0 or more"),
        ("min_age_years", True, "field 'min_age_years' must be int"),
        ("minutes_per_unit", 0, "field 'minutes_per_unit' must be 1 or more"),
        ("minutes_per_unit", "15", "field 'minutes_per_unit' must be int"),
    ],
)
def test_catalog_refuses_bad_new_fields(field: str, value: object, expected: str) -> None:
    with pytest.raises(DataFileError, match=expected):
        _parse_code({**BASE_ROW, field: value}, 0)
