"""XR and VR code rules (issue 11): 0770T and 0771T-0774T as the XR platform sees them.

The rule fixtures (tests/fixtures/rules/V0*.json) show each rule firing and not firing; these tests prove
what the engine does around them: 0771T-0774T are not therapy codes (no GP/GO/GN, their minutes never reach
the 8-minute total), 0770T's minutes are not pooled either, the add-on pairs come from codes.toml, the
existing rules (C003, C004, U002, P006) are not duplicated, and the rules run only for visits with the codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rehabclaim.catalog import load_catalog
from rehabclaim.datafiles import DataFileError
from rehabclaim.model import Finding, ScrubResult
from rehabclaim.payers.policy import parse_policy
from rehabclaim.reference import load_reference
from rehabclaim.rules import RULES_BY_ID
from rehabclaim.rules.xr import xr_facts
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json

VR_CODES = ("0771T", "0772T", "0773T", "0774T")
XR_RULES = ("V003", "V004", "V005", "V006", "V007", "V008", "V009", "V010", "V011")
# CPT 2023 designated primaries of 0770T that are in our therapy catalog (reference xr-vr-codes.md s. 1)
DESIGNATED_THERAPY_PRIMARIES = {
    "92507",
    "92508",
    "97110",
    "97112",
    "97129",
    "97150",
    "97530",
    "97533",
    "97535",
    "97537",
}
OBSERVER = {"name": "Observer A", "qualification": "RN, trained in the VR system", "other_duties": False}


def rules_hit(result: ScrubResult) -> list[str]:
    return [finding.rule for finding in result.findings]


def hits(result: ScrubResult, rule: str) -> list[Finding]:
    return [finding for finding in result.findings if finding.rule == rule]


def line_units(result: ScrubResult) -> dict[str, int]:
    return {line.code: line.units for line in result.lines}


# --- 0771T-0774T are not therapy codes -----------------------------------------------------------------------


def test_catalog_marks_vr_dissociation_as_not_therapy_and_untimed() -> None:
    catalog = load_catalog()
    for code in VR_CODES:
        info = catalog.codes[code]
        assert (info.therapy, info.timed, info.category) == (False, False, "vr_dissociation"), code
        assert info.min_age_years == 5


@pytest.mark.parametrize("code", VR_CODES)
def test_vr_dissociation_lines_carry_no_discipline_modifier(scrub: Any, code: str) -> None:
    """Medicare requires GP/GO/GN on therapy lines: the therapy line gets GP, the VR line nothing."""
    first = {"0772T": "0771T", "0774T": "0773T"}.get(code)
    services = [{"code": "97110", "minutes": 30}, *([{"code": first, "minutes": 15}] if first else [])]
    result = scrub(services=[*services, {"code": code, "minutes": 15}])
    modifiers = {line.code: line.modifiers for line in result.lines}
    assert modifiers["97110"] == ["GP"]
    assert modifiers[code] == []
    assert not hits(result, "V011")


def test_vr_dissociation_minutes_are_not_pooled_into_the_timed_total(scrub: Any) -> None:
    """7 minutes of 97110 alone earn no unit under the CMS method; pooled with 0771T's 15 they would earn one."""
    result = scrub(services=[{"code": "97110", "minutes": 7}, {"code": "0771T", "minutes": 15}])
    assert result.total_timed_minutes == 7
    assert line_units(result) == {"97110": 0, "0771T": 1}


def test_vr_add_on_units_come_from_their_own_minutes_not_the_timed_total(scrub: Any) -> None:
    result = scrub(
        services=[
            {"code": "97110", "minutes": 20},
            {"code": "0771T", "minutes": 15},
            {"code": "0772T", "minutes": 23},
        ]
    )
    assert result.total_timed_minutes == 20 and result.total_timed_units == 1
    assert line_units(result) == {"97110": 1, "0771T": 1, "0772T": 2}


def test_caller_supplied_gp_on_vr_dissociation_is_reported(scrub: Any) -> None:
    result = scrub(services=[{"code": "0773T", "minutes": 15, "modifiers": ["GO"]}], discipline="OT")
    [finding] = hits(result, "V011")
    assert finding.severity == "error" and "0773T is not a therapy code: remove GO" in finding.message


# --- 0771T-0774T: pairs, age, observer, procedure ------------------------------------------------------------


@pytest.mark.parametrize(
    ("services", "addon", "needs"),
    [
        ([{"code": "0772T", "minutes": 15}], "0772T", "0771T"),
        ([{"code": "0773T", "minutes": 15}, {"code": "0772T", "minutes": 15}], "0772T", "0771T"),
        ([{"code": "0771T", "minutes": 15}, {"code": "0774T", "minutes": 15}], "0774T", "0773T"),
    ],
)
def test_vr_add_on_needs_its_own_first_code(scrub: Any, services: list[Any], addon: str, needs: str) -> None:
    """0772T only with 0771T and 0774T only with 0773T: C003 reads ``addon_of`` in codes.toml."""
    [finding] = hits(scrub(services=services), "C003")
    assert finding.severity == "error" and finding.code == addon
    assert f"needs one of {needs} on the same visit" in finding.message


@pytest.mark.parametrize(("first", "addon"), [("0771T", "0772T"), ("0773T", "0774T")])
def test_vr_add_on_with_its_first_code_passes(scrub: Any, first: str, addon: str) -> None:
    result = scrub(services=[{"code": first, "minutes": 15}, {"code": addon, "minutes": 15}])
    assert not hits(result, "C003")


@pytest.mark.parametrize("code", ["0771T", "0773T"])
def test_vr_dissociation_for_a_four_year_old_is_an_error(scrub: Any, code: str) -> None:
    result = scrub(patient={"id": "P9", "birth_date": "2021-06-15"}, services=[{"code": code, "minutes": 15}])
    [finding] = hits(result, "V001")
    assert finding.message == f"{code} is not reported for a patient under 5; the patient is 4 on the date of service"


def test_a_complete_vr_dissociation_note_draws_no_xr_finding(scrub: Any) -> None:
    result = scrub(
        patient={"id": "P9", "birth_date": "2015-03-01"},
        services=[{"code": "0771T", "minutes": 15}, {"code": "0772T", "minutes": 15}],
        documentation={"supported_procedure": "burn dressing change", "observer": OBSERVER},
    )
    assert not [rule for rule in rules_hit(result) if rule.startswith("V")]


def test_observer_is_required_for_0771t_but_not_0773t(scrub: Any) -> None:
    note = {"supported_procedure": "wound debridement"}
    first = scrub(services=[{"code": "0771T", "minutes": 15}], documentation=note)
    second = scrub(services=[{"code": "0773T", "minutes": 15}], documentation=note)
    assert [f.code for f in hits(first, "V009")] == ["0771T"]
    assert not hits(second, "V009")


# --- 0770T ----------------------------------------------------------------------------------------------------


def test_designated_primaries_are_data_and_97116_is_not_one() -> None:
    xr = load_catalog().codes["0770T"]
    assert set(xr.addon_of) == DESIGNATED_THERAPY_PRIMARIES
    assert "97116" not in xr.addon_of and xr.addon_any_therapy_primary


def test_0770t_beside_97116_only_is_a_warning_not_an_error(scrub: Any) -> None:
    result = scrub(services=[{"code": "97116", "minutes": 30}, {"code": "0770T"}])
    [finding] = hits(result, "C004")
    assert finding.severity == "warning" and "97116, not a designated primary" in finding.message
    assert not hits(result, "C003")


def test_0770t_alone_is_an_error(scrub: Any) -> None:
    assert hits(scrub(services=[{"code": "0770T"}]), "C003")


def test_0770t_minutes_do_not_count_in_the_timed_total(scrub: Any) -> None:
    """7 minutes of 97110 earn no unit; 20 minutes on 0770T must not lift them to a unit."""
    result = scrub(services=[{"code": "97110", "minutes": 7}, {"code": "0770T", "minutes": 20}])
    assert result.total_timed_minutes == 7
    assert line_units(result) == {"97110": 0, "0770T": 1}
    assert [f.severity for f in hits(result, "V004")] == ["warning"]


def test_0770t_two_units_stated_is_reported_once_by_u002(scrub: Any) -> None:
    result = scrub(services=[{"code": "97110", "minutes": 30}, {"code": "0770T", "units": 2}])
    [finding] = hits(result, "U002")
    assert finding.severity == "error" and "an untimed code is billed once per session" in finding.message
    assert not hits(result, "V003")
    assert line_units(result)["0770T"] == 1


def test_category_iii_warning_stays_single_and_payer_dependent(scrub: Any) -> None:
    services = [{"code": "97110", "minutes": 30}, {"code": "0770T"}]
    note = {"xr": {"system": "REAL y-Series"}}
    medicare = scrub(services=services, documentation=note)
    covering = scrub(services=services, documentation=note, payer="sample_per_code")
    assert [f.code for f in hits(medicare, "P006")] == ["0770T"]
    assert not hits(covering, "P006")


def test_a_clean_xr_visit_with_a_clinic_session_draws_no_xr_finding(scrub: Any) -> None:
    session = {
        "session_id": "RL-100",
        "vendor": "Penumbra",
        "system_name": "REAL y-Series",
        "software_version": "3.2",
        "start": "09:10",
        "end": "09:28",
        "setting": "clinic",
        "supervised": True,
        "clinician": "PT-1",
    }
    result = scrub(
        services=[
            {"code": "97112", "minutes": 30, "time_blocks": [{"start": "09:00", "end": "09:30"}]},
            {"code": "0770T"},
        ],
        documentation={"xr": {"skill_supported": "standing balance", "sessions": [session]}},
    )
    assert not [rule for rule in rules_hit(result) if rule.startswith("V") or rule in ("C003", "C004")]
    assert line_units(result) == {"97112": 2, "0770T": 1}


def test_home_session_is_named_and_does_not_count_as_evidence(scrub: Any) -> None:
    home = {
        "session_id": "NV-55",
        "vendor": "NeuroVirt",
        "system_name": "NeuroVirt",
        "start": "18:00",
        "end": "18:30",
        "setting": "home",
        "supervised": False,
    }
    result = scrub(
        services=[{"code": "97110", "minutes": 30}, {"code": "0770T"}], documentation={"xr": {"sessions": [home]}}
    )
    [named] = hits(result, "V006")
    assert "'NV-55'" in named.message and "at home" in named.message
    assert hits(result, "V005")  # nothing else documents the XR use


# --- data and speed ---------------------------------------------------------------------------------------------


def test_xr_facts_come_from_the_data_file_with_sources() -> None:
    facts = xr_facts()
    assert facts.addon_code == "0770T" and facts.addon_max_per_visit == 1
    assert facts.evidence_settings == {"clinic"} and facts.evidence_supervised
    assert facts.observer_codes == {"0771T", "0772T"}
    assert facts.first_codes == {"0771T", "0773T"} and facts.first_unit_least_minutes == 8


def test_xr_rules_only_run_for_visits_with_their_codes(engine: Scrubber) -> None:
    catalog, cms = engine.catalog, engine.reference.cms
    for rule_id in XR_RULES:
        triggers = RULES_BY_ID[rule_id].triggers
        assert triggers is not None, rule_id
        assert set(triggers(catalog, cms)) <= {"0770T", *VR_CODES}, rule_id


def test_therapy_visit_with_a_note_gets_no_xr_finding(scrub: Any) -> None:
    result = scrub(
        services=[{"code": "97110", "minutes": 30}, {"code": "97530", "minutes": 15}],
        documentation={"patient_response": "tolerated well", "xr": {"system": "REAL y-Series"}},
    )
    assert not [rule for rule in rules_hit(result) if rule in XR_RULES]


# --- a payer may accept 0770T beside another primary (C004 is payer-overridable) -------------------------------

ACCEPTING_PAYER = """name = "XR-friendly plan (test)"
source = "test"
[units]
method = "cms"
[category_iii]
covered = ["0770T"]
accepted_primaries = {"0770T" = ["97116"]}
"""


def test_payer_accepting_97116_silences_the_designated_primary_warning(rules: Path) -> None:
    (rules / "payers").mkdir()
    (rules / "payers" / "xrplan.toml").write_text(ACCEPTING_PAYER)
    engine = Scrubber(load_reference())
    services = [{"code": "97116", "minutes": 30}, {"code": "0770T"}]
    accepting = engine.scrub(decode_visit(visit_json(payer="xrplan", services=services)))
    medicare = engine.scrub(decode_visit(visit_json(services=services)))
    assert not hits(accepting, "C004") and not hits(accepting, "P006")
    assert hits(medicare, "C004")


def test_accepted_primaries_must_be_codes() -> None:
    bad = ACCEPTING_PAYER.replace('["97116"]', '["gait"]')
    with pytest.raises(DataFileError, match=r"category_iii\.accepted_primaries\.0770T.*'gait' is not a 5-character"):
        parse_policy("bad", bad, "payers/bad.toml")
