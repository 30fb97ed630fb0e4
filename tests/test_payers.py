from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.datafiles import DataFileError
from rehabclaim.payers import payer_table
from rehabclaim.payers.policy import parse_policy
from rehabclaim.reference import load_reference

GOOD = """name = "Test plan"
source = "test"

[units]
method = "per-code"
max_per_visit = 4
"""


@pytest.fixture
def drop_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(tmp_path))
    (tmp_path / "payers").mkdir()
    return tmp_path / "payers"


def test_medicare_and_three_other_profiles_differ_in_every_policy() -> None:
    policies = {p.key: p for p in load_reference().configured_payers()}
    assert "medicare" in policies and len(policies) >= 4
    facts = {
        "unit method": lambda p: p.units.method,
        "unit limits": lambda p: (p.units.max_per_visit, tuple(sorted(p.units.max_per_code.items()))),
        "discipline modifier": lambda p: p.modifiers.discipline,
        "assistant modifiers": lambda p: p.modifiers.assistant,
        "KX": lambda p: p.modifiers.kx,
        "59 or X": lambda p: p.modifiers.distinct,
        "97760 beside an L-code": lambda p: p.orthotics.pays_training_with_device,
        "prior authorization": lambda p: (p.authorization.required, p.authorization.counts),
        "telehealth": lambda p: (p.telehealth.allowed, tuple(p.telehealth.codes), tuple(p.telehealth.place_of_service)),
        "Category III": lambda p: tuple(p.category_iii.covered),
        "certification": lambda p: p.plan_of_care.certification_required,
        "progress reports": lambda p: p.plan_of_care.progress_report_every_treatment_days,
        "timely filing": lambda p: p.claims.timely_filing_days,
        "fee schedule": lambda p: p.fees.schedule,
    }
    for name, fact in facts.items():
        assert len({fact(p) for p in policies.values()}) >= 2, f"every profile has the same {name}"
    assert not policies["medicare"].sample and all(p.sample for k, p in policies.items() if k != "medicare")


def test_payer_not_configured_uses_the_default_profile() -> None:
    reference = load_reference()
    policy = reference.payer("Acme Health")
    assert not policy.configured and policy.key == "acme health" and policy.units.method == "cms"
    assert reference.payer(" MEDICARE ").configured


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("max_per_visit = 4", 'max_per_visit = "four"'),
            "payers/bad.toml line 6: units.max_per_visit: Expected int",
        ),
        (
            GOOD.replace("max_per_visit = 4", "max_per_vist = 4"),
            "line 6: units.max_per_vist: Object contains unknown field",
        ),
        (GOOD.replace('method = "per-code"', 'method = "hourly"'), "line 5: units.method: Invalid enum value"),
        (GOOD.replace('name = "Test plan"\n', ""), "payers/bad.toml: name: Object missing required field"),
        (GOOD + '[fees]\nschedule = "percent-of-medicare"\n', "fees.percent_of_medicare: required"),
        (GOOD + "[units\n", "payers/bad.toml: "),
    ],
)
def test_bad_payer_file_names_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(DataFileError) as caught:
        parse_policy("bad", text, "payers/bad.toml")
    assert expected in str(caught.value)


def test_drop_in_payer_adds_and_replaces(drop_in: Path) -> None:
    (drop_in / "acme.toml").write_text(GOOD)
    (drop_in / "medicare.toml").write_text(GOOD.replace("Test plan", "Medicare as our contract reads it"))
    reference = load_reference()
    assert reference.payer("acme").units.max_per_visit == 4
    assert reference.payer("medicare").name == "Medicare as our contract reads it"


def test_one_bad_drop_in_file_loads_nothing(drop_in: Path) -> None:
    (drop_in / "acme.toml").write_text(GOOD)
    (drop_in / "broken.toml").write_text(GOOD.replace("max_per_visit = 4", "max_per_visit = -"))
    with pytest.raises(DataFileError, match=r"broken\.toml"):
        payer_table()
    result = CliRunner().invoke(app, ["payers"])
    assert result.exit_code == 2 and "broken.toml" in result.stderr


def test_payers_and_payer_commands() -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["payers", "--json"]).stdout)
    assert {"medicare", "sample_per_code", "sample_medicaid", "sample_bundling_hmo"} <= {p["key"] for p in listed}
    shown = json.loads(runner.invoke(app, ["payer", "medicare", "--json"]).stdout)
    assert shown["units"]["method"] == "cms" and shown["plan_of_care"]["progress_report_every_treatment_days"] == 10
    assert runner.invoke(app, ["payer", "nobody"]).exit_code == 2
    assert "Medicare Part B" in runner.invoke(app, ["payer", "medicare"]).stdout
