"""Every rule has fixture cases named by its id, some that fire and some that don't."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rehabclaim.ledger import LedgerHistory, open_ledger, post_visit
from rehabclaim.reference import load_reference
from rehabclaim.rules import RULES, RULES_BY_ID
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json

FIXTURES = Path(__file__).parent / "fixtures" / "rules"


RULES_DIRS = Path(__file__).parent / "fixtures" / "rules_dirs"


def _cases(kind: str) -> list[Any]:
    cases = []
    for rule in RULES:
        path = FIXTURES / f"{rule.id}.json"
        if not path.exists():
            continue
        fixture = json.loads(path.read_text())
        for case in fixture[kind]:
            case = {**case, "rules_dir": fixture.get("rules_dir")}
            cases.append(pytest.param(rule.id, case, id=f"{rule.id}-{case['name']}"))
    return cases


@pytest.fixture
def case_engine(engine: Scrubber, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The shared engine; or one whose CMS tables come from a drop-in folder named by the fixture; or one
    reading a SQLite ledger into which the fixture's earlier visits were posted first."""

    def pick(case: dict[str, Any]) -> Scrubber:
        reference = engine.reference
        if case.get("rules_dir"):
            monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(RULES_DIRS / case["rules_dir"]))
            reference = load_reference()  # read again: the CMS tables now come from that folder
        if not case.get("ledger"):
            return Scrubber(reference)
        ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
        with_history = Scrubber(reference, LedgerHistory(ledger))
        for earlier in case["ledger"]:
            visit = decode_visit(visit_json(**earlier))
            post_visit(ledger, visit, with_history.scrub(visit))
        return with_history

    return pick


def _check_lines(result: Any, expected: list[dict[str, Any]]) -> None:
    got = [{"code": line.code, "units": line.units, "modifiers": line.modifiers} for line in result.lines]
    assert got == expected


def _scrub(engine: Scrubber, rule_id: str, case: dict[str, Any]) -> Any:
    """Scrub the case's visit; claim-data rules run only when a claim is built, so ask for that."""
    return engine.scrub(decode_visit(visit_json(**case["visit"])), for_claim=RULES_BY_ID[rule_id].stage == "claim")


@pytest.mark.parametrize("rule_id", sorted(RULES_BY_ID))
def test_every_rule_has_fixtures_that_fire_and_that_do_not(rule_id: str) -> None:
    path = FIXTURES / f"{rule_id}.json"
    assert path.exists(), f"missing fixture file {path.name}"
    cases = json.loads(path.read_text())
    assert cases["fires"] and cases["passes"]


@pytest.mark.parametrize(("rule_id", "case"), _cases("fires"))
def test_rule_fires(case_engine: Any, rule_id: str, case: dict[str, Any]) -> None:
    result = _scrub(case_engine(case), rule_id, case)
    hits = [f for f in result.findings if f.rule == rule_id]
    assert hits, f"{rule_id} did not fire; findings: {result.findings}"
    assert all(f.severity == RULES_BY_ID[rule_id].severity for f in hits)
    if "message_contains" in case:
        assert any(case["message_contains"] in f.message for f in hits)
    if "lines" in case:
        _check_lines(result, case["lines"])


@pytest.mark.parametrize(("rule_id", "case"), _cases("passes"))
def test_rule_does_not_fire(case_engine: Any, rule_id: str, case: dict[str, Any]) -> None:
    result = _scrub(case_engine(case), rule_id, case)
    assert not [f for f in result.findings if f.rule == rule_id], result.findings
    if "lines" in case:
        _check_lines(result, case["lines"])
