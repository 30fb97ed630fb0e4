"""How ``rehabclaim suggest`` reads minutes (issue 12 follow-up): the time notations of coding-assistant.md
s. 2 after a colon or in parentheses, component minutes inside a service's own minutes, a service's own
total, minutes in a sentence of their own, group by discipline, co-treatment portions, an orthosis only worn,
and 97760 beside an L-code (training minutes only, over the threshold in thresholds.toml). Every snippet is
written for these tests (none is copied from the labelled set)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from rehabclaim.reference import Reference, load_reference
from rehabclaim.services.assistant import Suggestion, suggest

DAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def run(reference: Reference, note: str, discipline: str = "PT", payer: str | None = None) -> Suggestion:
    return suggest(reference, note=note, discipline=discipline, payer=payer, date=DAY)


def coded(result: Suggestion) -> dict[str, int | None]:
    return {service.code: service.minutes for service in result.services}


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("TherEx: 15 min; MT (8 min)", {"97110": 15, "97140": 8}),  # a colon; minutes in parentheses once
        ("NMR (12'), jt mob: 9 mins", {"97112": 12, "97140": 9}),
        ("Manual (10 min) to L hip, ther ex (14)", {"97140": 10, "97110": 14}),  # a bare number in parentheses
        ("Gait trng: 2:05p-2:19p", {"97116": 14}),
    ],
)
def test_minutes_after_a_colon_or_in_parentheses_count_once(
    reference: Reference, note: str, expected: dict[str, int | None]
) -> None:
    assert coded(run(reference, note)) == expected


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("Ther ex 30 min (UBE 10 min, rows 3x12, step-ups 10 min).", {"97110": 30}),  # step-ups not 97530
        ("Gait trng 18 min (stairs 6 min, curbs)", {"97116": 18}),
        ("MT 10 min (jt mobs 6 min, STM 4 min). TE 20 min.", {"97140": 10, "97110": 20}),
        ("NMR 3:10-3:32 (22 min) on foam", {"97112": 22}),  # the interval written again
    ],
)
def test_component_minutes_inside_a_service_are_not_added_again(
    reference: Reference, note: str, expected: dict[str, int | None]
) -> None:
    result = run(reference, note)
    assert coded(result) == expected
    assert result.questions == []


def test_a_service_with_more_minutes_after_its_parentheses_still_sums(reference: Reference) -> None:
    # the parentheses hold more minutes than the service's own: not components, every place is added
    assert coded(run(reference, "TE 5 min (bike 12 min)")) == {"97110": 17}


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("Balance trng on foam, 3 trials. NMR total 16 min.", {"97112": 16}),
        ("TE 10 min supine, TE 6 min standing. TE total 16 min. MT 9 min.", {"97110": 16, "97140": 9}),
    ],
)
def test_a_total_right_after_a_service_is_that_services_minutes(
    reference: Reference, note: str, expected: dict[str, int | None]
) -> None:
    result = run(reference, note)
    assert coded(result) == expected
    assert result.questions == []  # not read as the note's total, so nothing disagrees


def test_the_notes_own_total_stays_a_check(reference: Reference) -> None:
    result = run(reference, "TE 12 min. MT 9 min. Total timed 25 min.")
    assert coded(result) == {"97110": 12, "97140": 9}
    assert any("(25)" in question.question for question in result.questions)


def test_minutes_in_a_sentence_of_their_own_go_to_the_service_before(reference: Reference) -> None:
    note = "Resting hand splint issued today, wear schedule and skin checks reviewed w/ daughter. 12 min."
    assert coded(run(reference, note, discipline="OT")) == {"97760": 12}


def test_a_second_minutes_figure_in_a_clause_without_a_service_goes_to_the_service_before(
    reference: Reference,
) -> None:
    note = "WHFO issued; fitting 10 min, trained in donning/doffing 9 min."
    assert coded(run(reference, note, discipline="OT")) == {"97760": 19}  # no L-code: all the minutes


@pytest.mark.parametrize(
    ("note", "discipline", "expected"),
    [
        ("Group language tx w/ 4 pts, 50 min.", "SLP", {"92508": None}),
        ("Grp fine motor + ther ex, 3 pts, 1:00-1:40", "OT", {"97150": None}),
        ("Group balance class in gym, 6 pts, 45'", "PT", {"97150": None}),
        ("TE 12 min individually. Group ther ex 30 min w/ 3 pts.", "PT", {"97110": 12, "97150": None}),
    ],
)
def test_group_is_billed_by_discipline_and_absorbs_its_services(
    reference: Reference, note: str, discipline: str, expected: dict[str, int | None]
) -> None:
    assert coded(run(reference, note, discipline=discipline)) == expected


@pytest.mark.parametrize(
    ("note", "discipline", "expected"),
    [
        (
            "Co-treat with PT 2:00-2:45 for transfers. OT portion: ADL trng 2:00-2:25. PT to bill gait.",
            "OT",
            {"97535": 25},
        ),
        ("Co-tx w/ OT: gait trng 15 min", "PT", {"97116": 15}),  # a partner named, no portions: all ours
        ("Speech tx 40 min. Co-tx w/ OT (OT addressed self-feeding 20 min).", "SLP", {"92507": None}),
        ("Cotreatment with SLP. PT: NMR 14 min; SLP: swallow tx.", "PT", {"97112": 14}),
    ],
)
def test_co_treatment_bills_only_this_disciplines_portion(
    reference: Reference, note: str, discipline: str, expected: dict[str, int | None]
) -> None:
    result = run(reference, note, discipline=discipline)
    assert coded(result) == expected
    assert result.questions == []


def test_an_orthosis_only_worn_is_no_service(reference: Reference) -> None:
    note = "TE 14 min; pt wore R AFO throughout. Gait trng 11 min, wearing KAFO (issued last month)."
    assert coded(run(reference, note)) == {"97110": 14, "97116": 11}


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # fitting is part of the L-code; 7 training minutes are not more than 8
        ("Prefab AFO (L1906) issued; fitting 9 min; don/doff instruction 7 min", {"L1906": None}),
        ("Prefab AFO (L1906) issued; fitting 9 min; don/doff instruction 12 min", {"L1906": None, "97760": 12}),
        ("Wrist splint L3809 fitted. Training 9 min: wear schedule, skin checks.", {"L3809": None, "97760": 9}),
        ("Wrist splint L3809 fitted. Training 8 min: wear schedule, skin checks.", {"L3809": None}),
    ],
)
def test_beside_an_l_code_97760_takes_training_minutes_over_the_threshold(
    reference: Reference, note: str, expected: dict[str, int | None]
) -> None:
    result = run(reference, note, discipline="OT")
    assert coded(result) == expected
    assert result.questions == []
    training = {service.code: service.training_minutes for service in result.services}
    if "97760" in expected:
        assert training["97760"] == expected["97760"]
        assert result.scrub is not None and not any(f.rule == "O002" for f in result.scrub.findings)
    else:
        assert "97760 not proposed" in next(s.why for s in result.services if s.code.startswith("L"))


def test_the_training_threshold_is_read_from_thresholds_toml(reference: Reference) -> None:
    note = "Prefab AFO (L1906) issued; fitting 9 min; don/doff instruction 7 min"
    lower = replace(reference, thresholds=replace(reference.thresholds, orthotic_device_training_minutes_over=6))
    assert reference.thresholds.orthotic_device_training_minutes_over == 8
    assert coded(run(lower, note, discipline="OT")) == {"L1906": None, "97760": 7}


def test_fitting_and_training_minutes_written_together_beside_an_l_code_are_asked(reference: Reference) -> None:
    result = run(reference, "New AFO (L1906) fitted and trained 20 min", discipline="PT")
    assert coded(result) == {"L1906": None, "97760": None}
    assert len([q for q in result.questions if "97760" in q.codes]) == 1
    assert "training" in result.questions[0].question


def test_without_an_l_code_97760_takes_fitting_and_training(reference: Reference) -> None:
    note = "Custom WHO fabricated, fitting 20 min; trained pt in donning/doffing 6 min."
    assert coded(run(reference, note, discipline="OT")) == {"97760": 26}


def test_a_total_after_two_services_is_neither_services(reference: Reference) -> None:
    result = run(reference, "TE and MT total 30 min")
    assert coded(result) == {"97110": None, "97140": None}
    assert {code for question in result.questions for code in question.codes} == {"97110", "97140"}


def test_an_orthotic_training_total_beside_an_l_code_counts_as_training(reference: Reference) -> None:
    assert coded(run(reference, "L1906 AFO training total 12 min")) == {"L1906": None, "97760": 12}
