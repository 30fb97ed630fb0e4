"""The units engine against every worked example of Pub. 100-04 ch. 5 s. 20.2 (reference units.md s. 4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rehabclaim.units import cms_total_time, per_code
from rehabclaim.units.methods import units_for_minutes


@pytest.mark.parametrize(
    ("minutes", "units"),
    [
        (0, 0),
        (7, 0),
        (8, 1),
        (22, 1),
        (23, 2),
        (37, 2),
        (38, 3),
        (52, 3),
        (53, 4),
        (67, 4),
        (68, 5),
        (82, 5),
        (83, 6),
        (97, 6),
        (98, 7),
        (112, 7),
        (113, 8),
        (127, 8),
        (128, 9),
    ],
)
def test_time_to_units_table(minutes: int, units: int) -> None:
    assert units_for_minutes(minutes) == units


@pytest.mark.parametrize(
    ("name", "minutes", "total_units", "expected"),
    [
        ("manual example 1", [("97112", 24), ("97110", 23)], 3, {"97112": 2, "97110": 1}),
        ("manual example 3", [("97110", 33), ("97140", 7)], 3, {"97110": 2, "97140": 1}),
        (
            "manual example 4",
            [("97110", 18), ("97140", 13), ("97116", 10), ("97035", 8)],
            3,
            {"97110": 1, "97140": 1, "97116": 1, "97035": 0},
        ),
        ("A52758 example 2", [("97140", 35), ("97035", 7)], 3, {"97140": 2, "97035": 1}),
        ("workers' comp 8 + 9", [("97110", 8), ("97140", 9)], 1, {"97110": 0, "97140": 1}),
        ("derived: 22 + 8", [("97110", 22), ("97140", 8)], 2, {"97110": 1, "97140": 1}),
        (
            "derived: three of 14",
            [("97110", 14), ("97140", 14), ("97112", 14)],
            3,
            {"97110": 1, "97140": 1, "97112": 1},
        ),
        (
            "not proportional: 37/23/23",
            [("97110", 37), ("97140", 23), ("97112", 23)],
            6,
            {"97110": 2, "97140": 2, "97112": 2},
        ),
        ("single code 7 min", [("97110", 7)], 0, {"97110": 0}),
        ("single code 8 min", [("97110", 8)], 1, {"97110": 1}),
    ],
)
def test_cms_worked_examples(
    name: str, minutes: list[tuple[str, int]], total_units: int, expected: dict[str, int]
) -> None:
    plan = cms_total_time(minutes)
    assert plan.total_minutes == sum(m for _, m in minutes)
    assert plan.total_units == total_units
    assert plan.units == expected


@pytest.mark.parametrize(
    ("name", "minutes"),
    [
        ("manual example 2 (20 + 20)", [("97112", 20), ("97110", 20)]),
        ("A52758 example 1 (20 + 20)", [("97140", 20), ("97110", 20)]),
    ],
)
def test_tie_gives_two_and_one_never_three_and_says_so(name: str, minutes: list[tuple[str, int]]) -> None:
    plan = cms_total_time(minutes)
    assert plan.total_units == 3
    assert sorted(plan.units.values()) == [1, 2]
    assert all("tie" in why for why in plan.why.values())


def test_tie_break_is_documented_and_order_independent() -> None:
    forward = cms_total_time([("97112", 20), ("97110", 20)])
    backward = cms_total_time([("97110", 20), ("97112", 20)])
    assert forward.units == backward.units == {"97110": 2, "97112": 1}  # equal minutes: lower code


def test_manual_example_5_one_unit_to_one_of_three() -> None:
    plan = cms_total_time([("97112", 7), ("97110", 7), ("97140", 7)])
    assert plan.total_units == 1
    assert sorted(plan.units.values()) == [0, 0, 1]
    assert any("tie" in why for why in plan.why.values())


def test_no_tie_note_when_leftovers_differ() -> None:
    plan = cms_total_time([("97110", 33), ("97140", 7)])
    assert not any("tie" in why for why in plan.why.values())


def test_per_code_method() -> None:
    plan = per_code([("97110", 8), ("97140", 8), ("97112", 8)])
    assert plan.units == {"97110": 1, "97140": 1, "97112": 1}
    assert plan.total_units == 3  # CMS would give 2 for the same 24 minutes
    assert cms_total_time([("97110", 8), ("97140", 8), ("97112", 8)]).total_units == 2
    assert per_code([("97110", 7), ("97140", 37)]).units == {"97110": 0, "97140": 2}


codes = st.sampled_from(["97110", "97112", "97116", "97140", "97530", "97535", "97035", "97760"])
visits = st.dictionaries(codes, st.integers(min_value=0, max_value=180), min_size=1, max_size=8)


@given(visits)
def test_cms_units_never_exceed_what_the_minutes_allow(minutes: dict[str, int]) -> None:
    plan = cms_total_time(list(minutes.items()))
    assert sum(plan.units.values()) == plan.total_units == units_for_minutes(sum(minutes.values()))
    for code, units in plan.units.items():
        assert minutes[code] // 15 <= units <= minutes[code] // 15 + 1  # whole blocks, at most one more


@given(visits)
def test_per_code_units_never_exceed_each_codes_minutes(minutes: dict[str, int]) -> None:
    plan = per_code(list(minutes.items()))
    for code, units in plan.units.items():
        assert units == units_for_minutes(minutes[code])
        assert units * 15 <= minutes[code] + 7


@given(visits, st.randoms())
def test_units_do_not_change_with_the_order_of_services(minutes: dict[str, int], rng: object) -> None:
    items = list(minutes.items())
    shuffled = items[:]
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    for method in (cms_total_time, per_code):
        assert method(items).units == method(shuffled).units
