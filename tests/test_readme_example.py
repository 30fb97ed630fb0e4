"""The README's complete example (an EMR's FHIR bundle and an XR session in, a clean claim out), run as
written: each command of the block under ``<!-- example: emr-xr-claim -->``, and what the text says of it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from tests.fuzzing import validate_837

ROOT = Path(__file__).parent.parent
MARKER = "<!-- example: emr-xr-claim -->"


def _commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(re.escape(MARKER) + r"\n```bash\n(.*?)```", readme, re.S)
    assert block is not None, "the README lost its complete example"
    lines = block.group(1).strip().splitlines()
    variables = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z]+=", line))
    commands = []
    for line in lines:
        if line.startswith("rehabclaim "):
            for name, value in variables.items():
                line = line.replace(f"${name}", str(ROOT / value))
            commands.append(shlex.split(line)[1:])
    return commands


def _findings(output: str) -> list[tuple[str, str]]:
    (result,) = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [(f["severity"], f["rule"]) for f in result["findings"]]


def test_the_readme_example_runs_and_ends_in_a_clean_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))  # a ledger of its own: nothing sent yet
    monkeypatch.delenv("REHABCLAIM_DATABASE_URL", raising=False)
    runner = CliRunner()
    commands = _commands()
    assert [command[:2] for command in commands] == [
        ["import", "fhir"],
        ["scrub", "visits.jsonl"],
        ["import", "xr"],
        ["scrub", "enriched.jsonl"],
        ["claim", "enriched.jsonl"],
    ]
    outputs: list[Any] = []
    for command in commands:
        result = runner.invoke(app, command)
        outputs.append(result)
        assert result.exit_code == 0, (command, result.output)

    (visit,) = [json.loads(line) for line in (tmp_path / "visits.jsonl").read_text().splitlines()]
    services = {s["code"]: s.get("minutes") for s in visit["services"]}
    assert visit["id"] == "enc-pt-1" and services == {"97110": 25, "0770T": None, "97140": 15}
    assert visit["diagnoses"] == ["M17.11", "R26.89"] and visit["payer"] == "medicare"

    before = _findings(runner.invoke(app, ["scrub", "visits.jsonl", "--json"]).output)
    after_result = runner.invoke(app, ["scrub", "enriched.jsonl", "--json"])
    after = _findings(after_result.output)
    assert ("warning", "V005") in before and ("warning", "V005") not in after
    assert not [f for f in after if f[0] == "error"]
    assert {rule for _, rule in after if _ == "warning"} == {"P006", "R003"}
    (scrubbed,) = [json.loads(line) for line in after_result.output.splitlines() if line.startswith("{")]
    billed = [(line["code"], line["units"], line["modifiers"]) for line in scrubbed["lines"]]
    assert billed == [("97110", 2, ["GP"]), ("0770T", 1, ["GP"]), ("97140", 1, ["GP"])]
    assert scrubbed["documentation"] is None  # an attached session is evidence, not a note to check

    (enriched,) = [json.loads(line) for line in (tmp_path / "enriched.jsonl").read_text().splitlines()]
    (session,) = enriched["documentation"]["xr"]["sessions"]
    assert session["session_id"] == "S-2026-03-10-0907" and session["setting"] == "clinic"

    valid, report = validate_837(tmp_path / "claim.x12")
    assert valid, report
    claim = json.loads((tmp_path / "claim.fhir.json").read_text())
    (entry,) = claim["entry"]
    assert [item["productOrService"]["coding"][0]["code"] for item in entry["resource"]["item"]] == [
        "97110",
        "0770T",
        "97140",
    ]
