"""The line-changing work is done by named pipeline stages (``rehabclaim.pipeline``); the rules only report.

- Every rule, run over every rule-fixture visit and a sample of generated visits after the stages, leaves
  the lines and the stages' decisions exactly as they were, and finds what the scrub finds.
- The stages run in the documented order: the README's pipeline sentence names ``STAGES``, the Scrubber's
  code calls them in that order, and a visit that every modifier stage and KX touch shows it in its modifiers
  (discipline, assistant, distinct, telehealth, KX) and in its fee (the estimate reads the assistant stage's
  CQ).
"""

from __future__ import annotations

import ast
import copy
import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rehabclaim.context import ScrubContext
from rehabclaim.documentation import RULE_FAMILY, holds_a_note
from rehabclaim.errors import InputError
from rehabclaim.ledger import LedgerHistory, open_ledger, post_visit
from rehabclaim.model import Finding, Visit
from rehabclaim.pipeline import MODIFIER_STAGES, STAGES
from rehabclaim.reference import load_reference
from rehabclaim.rules import RULES
from rehabclaim.rules.base import CheckFunction
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json
from tests.fuzzing import bench_module

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "rehabclaim"
RULE_FIXTURES = Path(__file__).parent / "fixtures" / "rules"
RULES_DIRS = Path(__file__).parent / "fixtures" / "rules_dirs"
GENERATED = 400


def _fixture_cases() -> Iterator[Any]:
    for path in sorted(RULE_FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text())
        for kind in ("fires", "passes"):
            for index, case in enumerate(fixture[kind]):
                yield pytest.param({**case, "rules_dir": fixture.get("rules_dir")}, id=f"{path.stem}-{kind}-{index}")


def _state(ctx: ScrubContext) -> object:
    """Everything a stage changes or decides: the lines and the visit-level decisions (a deep copy)."""
    return copy.deepcopy((ctx.lines, ctx.distinct_missing, ctx.telehealth, ctx.kx))


def _report(ctx: ScrubContext, checks: list[tuple[str, CheckFunction]]) -> list[tuple[str, str | None, str]]:
    return [(rule_id, code, message) for rule_id, check in checks for code, message in check(ctx)]


def _checks(visit: Visit) -> list[tuple[str, CheckFunction]]:
    """Every rule the scrub may run on the visit, claim rules included, in the scrub's order."""
    documented = holds_a_note(visit.documentation)
    return [(rule.id, rule.check) for rule in RULES if documented or rule.family != RULE_FAMILY]


def _assert_rules_only_report(engine: Scrubber, visit: Visit) -> None:
    expected = [(f.rule, f.code, f.message) for f in engine.scrub(visit, for_claim=True).findings]
    ctx = engine.run_stages(visit)
    before = _state(ctx)
    found = _report(ctx, _checks(visit))
    assert _state(ctx) == before, "a rule changed a line or a stage's decision"
    assert found == expected  # the rules run this way are the scrub's: every rule had its say


def _engine_for(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Scrubber:
    """As tests/test_rule_fixtures.py builds it: a drop-in CMS folder, or a ledger with the earlier visits."""
    reference = None
    if case.get("rules_dir"):
        monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(RULES_DIRS / case["rules_dir"]))
        reference = load_reference()
    if not case.get("ledger"):
        return Scrubber(reference)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    engine = Scrubber(reference, LedgerHistory(ledger))
    for earlier in case["ledger"]:
        visit = decode_visit(visit_json(**earlier))
        post_visit(ledger, visit, engine.scrub(visit))
    return engine


@pytest.mark.parametrize("case", list(_fixture_cases()))
def test_no_rule_changes_a_line_of_a_fixture_visit(
    case: dict[str, Any], engine: Scrubber, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    try:
        visit = decode_visit(visit_json(**case["visit"]))
    except InputError:
        pytest.skip("a visit the engine refuses: no lines")
    shared = not (case.get("rules_dir") or case.get("ledger"))
    _assert_rules_only_report(engine if shared else _engine_for(case, monkeypatch, tmp_path), visit)


def test_no_rule_changes_a_line_of_generated_visits(engine: Scrubber) -> None:
    generator = bench_module("generate")
    rng = random.Random(5)
    for number in range(1, GENERATED + 1):
        visit = decode_visit(json.dumps(generator.visit(rng, number, date(2026, 4, 1))).encode())
        _assert_rules_only_report(engine, visit)


def test_the_check_sees_a_rule_that_changes_a_line(engine: Scrubber) -> None:
    """The comparison above is not blind: a check that adds a modifier is caught."""

    def meddling(ctx: ScrubContext) -> Iterator[tuple[str | None, str]]:
        ctx.lines[0].added_modifiers.append("KX")
        yield None, "changed a line"

    ctx = engine.run_stages(decode_visit(visit_json(services=[{"code": "97110", "minutes": 30}])))
    before = _state(ctx)
    assert _report(ctx, [("Z999", meddling)])
    assert _state(ctx) != before


# the README's pipeline sentence: the bullet on scrubber.py, continued on its indented lines
def _readme_pipeline_sentence() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("- `scrubber.py` runs the pipeline in order:")
    end = text.index("\n- ", start + 1)
    return " ".join(text[start:end].split())


def test_the_readme_names_the_stages_in_order() -> None:
    sentence = _readme_pipeline_sentence()
    assert " -> ".join(STAGES) in sentence
    assert f"(modifiers: {', '.join(MODIFIER_STAGES)})" in sentence
    assert STAGES == ("lines", "units", "modifiers", "fees", "KX", "checks", "claim")


def _calls(path: Path, function: str) -> list[str]:
    """The names of the functions ``function`` (a method of Scrubber or a module function) calls, in order;
    a call of ``_run`` is named by its argument."""
    tree = ast.parse(path.read_text())
    found = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function)
    names = []
    for node in ast.walk(found):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "_run" and isinstance(node.args[0], ast.Name):
            name = f"_run({node.args[0].id})"
        names.append((node.lineno, node.col_offset, name))
    return [name for _, _, name in sorted(names)]


SCRUBBER_STAGES = {
    "build_lines": "lines",
    "assign_units": "units",
    "add_modifiers": "modifiers",
    "estimate": "fees",
    "add_kx": "KX",
    "_run(modifiers)": "checks",  # the rules, reporting in their stages' order
    "_run(payment)": "checks",
    "_run(checks)": "checks",
    "_run(claim)": "claim",
}


def test_the_scrubber_runs_the_stages_in_the_documented_order() -> None:
    scrubber = PACKAGE / "scrubber.py"
    scrub = _calls(scrubber, "scrub")
    assert scrub[0] == "run_stages"  # before any rule
    called = _calls(scrubber, "run_stages") + scrub
    order = [SCRUBBER_STAGES[name] for name in called if name in SCRUBBER_STAGES]
    assert list(dict.fromkeys(order)) == list(STAGES)
    assert order == sorted(order, key=STAGES.index)  # no stage runs again after a later one
    modifiers = _calls(PACKAGE / "pipeline" / "modifiers.py", "add_modifiers")
    assert [name.removeprefix("add_").removesuffix("s").removesuffix("_modifier") for name in modifiers] == list(
        MODIFIER_STAGES
    )


# a Medicare telehealth PT visit by an assistant, two services in separate time blocks under an indicator-1
# PTP edit (97140/97530), the year already past the KX threshold: every modifier stage and KX act on 97530
EVERY_STAGE: dict[str, Any] = {
    "date": "2026-03-02",
    "telehealth": True,
    "place_of_service": "10",
    "rendered_by": "assistant",
    "therapy_allowed_ytd": {"PT_SLP": 2600.0},
    "services": [
        {"code": "97140", "minutes": 15, "time_blocks": [{"start": "09:00", "end": "09:15"}]},
        {"code": "97530", "minutes": 15, "time_blocks": [{"start": "09:15", "end": "09:30"}]},
    ],
}


def _line(engine: Scrubber, code: str, **fields: Any) -> Any:
    result = engine.scrub(decode_visit(visit_json(**{**EVERY_STAGE, **fields})))
    return next(line for line in result.lines if line.code == code)


def test_modifiers_come_out_in_the_stages_order(engine: Scrubber) -> None:
    line = _line(engine, "97530")
    assert line.modifiers == ["GP", "CQ", "XU", "95", "KX"]  # discipline, assistant, distinct, telehealth, KX
    assert "CQ on 1 of 1 unit(s)" in line.why and "XU added: furnished in separate time blocks" in line.why


def test_the_fee_estimate_reads_the_assistant_stage(engine: Scrubber) -> None:
    assisted = _line(engine, "97530")
    by_therapist = _line(engine, "97530", rendered_by="therapist")
    assert "CQ" not in by_therapist.modifiers
    assert by_therapist.expected is not None and assisted.expected is not None
    assert assisted.expected == pytest.approx(by_therapist.expected * 0.85, abs=0.01)
    assert "85%" in assisted.expected_why


def test_the_findings_report_the_stages_decisions(engine: Scrubber) -> None:
    findings: list[Finding] = engine.scrub(decode_visit(visit_json(**EVERY_STAGE))).findings
    by_rule: dict[str, list[str]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, []).append(finding.message)
    assert [message.split(":")[0] for message in by_rule["M002"]] == ["97140", "97530"]
    assert by_rule["P005"] == ["97140 is not on Medicare Part B's telehealth list"]  # 97530 got 95
    assert len(by_rule["K001"]) == 1 and "KX on 97140, 97530" in by_rule["K001"][0]
    assert "N002" not in by_rule  # the pair was documented: XU, no finding
