"""Documentation checks (rule family T): the checklists file, the per-visit score, the payer's elements, the
evaluation levels, and a visit without documentation being scrubbed exactly as before."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rehabclaim.datafiles import DataFileError, load_toml
from rehabclaim.documentation import (
    FILE,
    Interval,
    documented_minutes,
    element_ids,
    load_checklists,
    parse_checklists,
    union_minutes,
)
from rehabclaim.model import Device, Documentation, EvaluationNote, ServiceNote
from rehabclaim.payers.policy import parse_policy
from rehabclaim.rules import RULES
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result
from tests.conftest import visit_json

README = Path(__file__).parent.parent / "README.md"
BUNDLED = (Path(__file__).parent.parent / "src" / "rehabclaim" / "data" / FILE).read_text()

ORTHOTIC_NOTE: dict[str, Any] = {
    "code": "97760",
    "minutes": 20,
    "activities": ["donning/doffing", "skin inspection", "wearing schedule"],
    "device": {"type": "custom", "body_region": "wrist"},
    "patient_response": "donned independently after two trials",
}


def _scrub(engine: Scrubber, **fields: Any) -> Any:
    return engine.scrub(decode_visit(visit_json(**fields)))


def _family(result: Any) -> list[str]:
    return [finding.rule for finding in result.findings if finding.rule.startswith("T")]


# --- a visit without documentation -------------------------------------------------------------------------


def test_visit_without_documentation_prints_null_and_runs_no_documentation_rule(engine: Scrubber) -> None:
    visit = decode_visit(visit_json(services=[{"code": "97760", "minutes": 20}, {"code": "97110", "minutes": 9}]))
    result = engine.scrub(visit)
    assert result.documentation is None
    assert b'"documentation":null' in encode_result(result)
    assert not _family(result)
    # the same findings and lines as an engine without the family at all
    plain = Scrubber(engine.reference, rules=tuple(r for r in RULES if r.family != "documentation")).scrub(visit)
    assert encode_result(plain) == encode_result(result)


def test_documentation_object_turns_the_family_on(engine: Scrubber) -> None:
    result = _scrub(engine, services=[{"code": "97110", "minutes": 30}], documentation={})
    assert _family(result) == ["T001"]
    assert result.documentation is not None
    assert json.loads(encode_result(result))["documentation"] == {
        "present": 0,
        "required": 1,
        "score": 0.0,
        "missing": [{"code": "97110", "element": "minutes"}],
    }


# --- the score -----------------------------------------------------------------------------------------------


def test_score_counts_elements_present_over_required(engine: Scrubber) -> None:
    note = {**ORTHOTIC_NOTE, "patient_response": None, "device": {"body_region": "wrist"}}
    result = _scrub(
        engine,
        services=[{"code": "97760", "minutes": 20}],
        documentation={"services": [note], "diagnosis_and_limitation": "distal radius fracture; cannot grip"},
    )
    score = result.documentation
    assert (score.present, score.required, score.score) == (4, 8, 0.5)
    assert [(m.code, m.element) for m in score.missing] == [
        ("97760", "device_type"),
        ("97760", "patient_response"),
        ("97760", "plan_of_care"),
        ("97760", "certifying_physician"),
    ]
    # each missing element is a finding naming the element and the code, at its severity
    by_rule = {(f.rule, f.message) for f in result.findings if f.rule in ("T001", "T002")}
    assert ("T002", "97760: the note does not document the device type (custom or prefabricated)") in by_rule
    assert ("T001", "97760: the note does not document the plan-of-care reference") in by_rule
    assert len(by_rule) == 4


def test_complete_note_scores_one_and_draws_no_finding(engine: Scrubber) -> None:
    result = _scrub(
        engine,
        services=[{"code": "97760", "minutes": 20}, {"code": "97110", "minutes": 15}],
        documentation={
            "services": [ORTHOTIC_NOTE, {"code": "97110", "start": "09:20", "stop": "09:35"}],
            "diagnosis_and_limitation": "distal radius fracture; cannot grip",
            "plan_of_care_reference": "POC 2026-05-20",
            "certifying_physician": "Dr. Rivera",
            "total_timed_minutes": 35,
        },
    )
    assert _family(result) == []
    assert (result.documentation.present, result.documentation.required, result.documentation.score) == (9, 9, 1.0)


def test_nothing_to_check_scores_one(engine: Scrubber) -> None:
    result = _scrub(engine, services=[{"code": "97010"}], documentation={})
    assert (result.documentation.required, result.documentation.score, result.documentation.missing) == (0, 1.0, [])


def test_payer_elements_count_in_the_score_and_name_the_payer(engine: Scrubber) -> None:
    result = _scrub(
        engine,
        payer="sample_medicaid",
        services=[{"code": "97110", "minutes": 20}],
        documentation={"services": [{"code": "97110", "minutes": 20}]},
    )
    assert [(m.code, m.element) for m in result.documentation.missing] == [
        ("97110", "start_stop"),
        (None, "session_times"),
    ]
    assert result.documentation.required == 3
    messages = [f.message for f in result.findings if f.rule == "T011"]
    assert messages == [
        "97110: the note does not document the start and stop times, which Sample Medicaid plan (sample) requires",
        "the note does not document the session's start and end times, which Sample Medicaid plan (sample) requires",
    ]


def test_no_note_text_in_any_message(engine: Scrubber) -> None:
    secret = "Patient Jane Doe-SECRET"
    result = _scrub(
        engine,
        services=[{"code": "97760", "minutes": 30}, {"code": "97163"}],
        documentation={
            "services": [{**ORTHOTIC_NOTE, "minutes": 5, "activities": [secret], "patient_response": secret}],
            "diagnosis_and_limitation": secret,
            "evaluation": {"personal_factors_comorbidities": 0, "exam_elements": 1, "clinical_presentation": "stable"},
        },
    )
    assert _family(result)
    assert all("SECRET" not in f.message for f in result.findings)


# --- the checklists file -----------------------------------------------------------------------------------------


def test_bundled_checklists_load_with_a_source_per_element_and_catalog_codes(engine: Scrubber) -> None:
    checklists = load_checklists()
    assert all(element.source and element.label for element in checklists.elements.values())
    for code in (*checklists.by_code, *checklists.evaluations, *checklists.group_codes, *checklists.fitting_only_codes):
        assert engine.catalog.get(code) is not None, code
    # XR and VR codes are the XR rules' (rules/xr.py)
    assert not any(code.startswith("077") for code in checklists.by_code)
    assert element_ids() == frozenset(checklists.elements)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('"97150" = ["group_size"]', '"97150" = ["group_sise"]', "checklist.97150: 'group_sise' is not an [element.*]"),
        ('"97150" = ["group_size"]', '"9715" = ["group_size"]', "checklist.9715: not a 5-character HCPCS/CPT code"),
        ('field = "diagnosis_and_limitation"', 'field = "diagnosis"', "element.dx_and_limitation.field"),
        ("exam_elements = [1, 3, 4]", "exam_elements = [1, 3]", "evaluation.PT.exam_elements: one band per code"),
        ("exam_elements = [1, 3, 4]", "exam_elements = [4, 3, 1]", "evaluation.PT.exam_elements: counts must not"),
        ('scope = "visit"\ntest = "group_size"', 'scope = "room"\ntest = "group_size"', "element.group_size.scope"),
    ],
)
def test_a_bad_checklists_file_is_refused_naming_the_field(old: str, new: str, says: str) -> None:
    assert old in BUNDLED
    with pytest.raises(DataFileError, match=re.escape(says)):
        parse_checklists(BUNDLED.replace(old, new, 1))


def test_payer_requiring_an_unknown_element_is_refused_with_its_line() -> None:
    text = 'name = "Acme"\nsource = "test"\n[units]\nmethod = "cms"\n[documentation]\nrequire = ["start_stopp"]\n'
    with pytest.raises(DataFileError, match=r"payers/acme.toml line 6: documentation.require: 'start_stopp' is not"):
        parse_policy("acme", text, "payers/acme.toml")
    good = parse_policy("acme", text.replace("start_stopp", "start_stop"), "payers/acme.toml")
    assert good.documentation.require == ["start_stop"]


# --- minutes and intervals ---------------------------------------------------------------------------------------


def test_documented_minutes_takes_the_fewer_when_minutes_and_times_disagree() -> None:
    notes = [
        ServiceNote(code="97110", minutes=25, start="09:00", stop="09:10"),
        ServiceNote(code="97110", minutes=8),
        ServiceNote(code="97110", start="10:00", stop="10:30", minutes=40),
    ]
    found = documented_minutes(notes)
    assert found is not None and found.minutes == 10 + 8 + 30
    assert documented_minutes([ServiceNote(code="97110", start="10:30", stop="10:00")]) is None


def test_union_minutes_counts_overlaps_once() -> None:
    def at(start: int, stop: int) -> Interval:
        return Interval("97110", start, stop, None, None)

    assert union_minutes([at(0, 30), at(20, 40), at(60, 75), at(61, 62)]) == 55
    assert union_minutes([]) == 0


# --- evaluation levels --------------------------------------------------------------------------------------------

PT_LEVELS = ("97161", "97162", "97163")
PRESENTATION = ("stable", "evolving", "unstable")
DECISION = ("low", "moderate", "high")


def _pt_level(comorbidities: int, exam: int, presentation: str, decision: str) -> int:
    """The reference's table (documentation.md s. 2a), written out independently of the data file."""
    by_comorbidities = 0 if comorbidities == 0 else 1 if comorbidities <= 2 else 2
    by_exam = -1 if exam == 0 else 0 if exam <= 2 else 1 if exam == 3 else 2
    return min(by_comorbidities, by_exam, PRESENTATION.index(presentation), DECISION.index(decision))


@settings(max_examples=150, deadline=None)
@given(
    billed=st.sampled_from(PT_LEVELS),
    comorbidities=st.integers(0, 6),
    exam=st.integers(0, 7),
    presentation=st.sampled_from(PRESENTATION),
    decision=st.sampled_from(DECISION),
)
def test_pt_evaluation_level_matches_the_reference_table(
    engine: Scrubber, billed: str, comorbidities: int, exam: int, presentation: str, decision: str
) -> None:
    evaluation = {
        "personal_factors_comorbidities": comorbidities,
        "exam_elements": exam,
        "clinical_presentation": presentation,
        "decision_complexity": decision,
    }
    result = _scrub(engine, services=[{"code": billed}], documentation={"evaluation": evaluation})
    supported = _pt_level(comorbidities, exam, presentation, decision)
    hits = [f.message for f in result.findings if f.rule == "T010"]
    if supported >= PT_LEVELS.index(billed):
        assert hits == []
    elif supported >= 0:
        assert hits == [
            f"{billed}: the documented complexity elements support a lower level; bill {PT_LEVELS[supported]}"
        ]
    else:
        assert len(hits) == 1 and "they do not meet even 97161" in hits[0]


def test_bands_in_the_file_are_those_of_the_reference() -> None:
    raw = load_toml(FILE)["evaluation"]
    assert raw["PT"]["personal_factors_comorbidities"] == [0, 1, 3]
    assert raw["PT"]["exam_elements"] == [1, 3, 4]
    assert raw["OT"]["performance_deficits"] == [1, 3, 5]


# --- the README documents every field -------------------------------------------------------------------------------


def test_readme_documents_every_field_of_the_documentation_object() -> None:
    text = README.read_text()
    assert "## Documentation" in text
    section = text.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    for struct in (Documentation, ServiceNote, Device, EvaluationNote):
        for name in msgspec.structs.fields(struct):
            assert f"`{name.encode_name}`" in section or f".{name.encode_name}`" in section, (
                struct.__name__,
                name.encode_name,
            )


def test_a_fitting_only_97760_is_one_warning_not_also_a_missing_training_error(engine: Scrubber) -> None:
    note = {**ORTHOTIC_NOTE, "activities": ["fitted thermoplastic splint"]}
    result = _scrub(
        engine,
        services=[{"code": "97760", "minutes": 20}],
        documentation={
            "services": [note],
            "diagnosis_and_limitation": "distal radius fracture; cannot grip",
            "plan_of_care_reference": "POC 2026-05-20",
            "certifying_physician": "Dr. Rivera",
        },
    )
    assert _family(result) == ["T003"]
    assert [(m.code, m.element) for m in result.documentation.missing] == [("97760", "training_content")]
