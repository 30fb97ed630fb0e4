from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from tests.conftest import BASE_VISIT

runner = CliRunner()


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def write_visits(path: Path, *visits: dict[str, Any]) -> Path:
    path.write_text("\n".join(json.dumps({**BASE_VISIT, **v}) for v in visits) + "\n")
    return path


def test_code_json() -> None:
    result = run("code", "97760", "--json")
    assert result.exit_code == 0
    facts = json.loads(result.stdout)
    assert facts["code"] == "97760" and facts["timed"] is True and facts["encounter"] == "initial"


def test_unknown_code_exits_2() -> None:
    result = run("code", "12345")
    assert result.exit_code == 2
    assert "unknown code" in result.stderr


def test_search_json_ranks() -> None:
    result = run("search", "orthotic training", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["code"] == "97760"


def test_units_json_contract() -> None:
    result = run("units", "97110=33", "97140=7", "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["method"] == "cms" and out["total_timed_minutes"] == 40 and out["total_timed_units"] == 3
    assert [(line["code"], line["units"], line["minutes"]) for line in out["lines"]] == [
        ("97110", 2, 33),
        ("97140", 1, 7),
    ]
    assert all(line["why"] for line in out["lines"])


def test_units_per_code_and_bad_arguments() -> None:
    out = json.loads(run("units", "97110=8", "97140=8", "97112=8", "--method", "per-code", "--json").stdout)
    assert out["total_timed_units"] == 3
    assert run("units", "97110=abc").exit_code == 2
    assert run("units", "97110=10", "--method", "fastest").exit_code == 2
    assert run("units", "00000=10").exit_code == 2


def test_scrub_exit_status_follows_findings(tmp_path: Path) -> None:
    clean = write_visits(tmp_path / "clean.jsonl", {"services": [{"code": "97110", "minutes": 30}]})
    dirty = write_visits(tmp_path / "dirty.json", {"services": [{"code": "97762", "minutes": 30}]})
    assert run("scrub", str(clean), "--json").exit_code == 0
    result = run("scrub", str(dirty), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"][0]["rule"] == "C001"


def test_scrub_human_output(tmp_path: Path) -> None:
    path = write_visits(tmp_path / "v.json", {"services": [{"code": "97110", "minutes": 30}]})
    result = run("scrub", str(path))
    assert result.exit_code == 0 and "97110" in result.stdout and "GP" in result.stdout


def test_scrub_reads_stdin() -> None:
    result = run(
        "scrub",
        "-",
        "--json",
        input=json.dumps({**BASE_VISIT, "services": [{"code": "97110", "minutes": 9}]}),
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["total_timed_units"] == 1


def test_scrub_batch_names_the_line_and_prints_nothing(tmp_path: Path) -> None:
    path = write_visits(
        tmp_path / "v.jsonl",
        {"services": [{"code": "97110", "minutes": 30}]},
        {"services": [{"code": "97110", "minutes": -4}]},
    )
    result = run("scrub", str(path), "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "line 2" in result.stderr and "services[0].minutes" in result.stderr


def test_scrub_unreadable_file_exits_2(tmp_path: Path) -> None:
    assert run("scrub", str(tmp_path / "missing.json")).exit_code == 2
    (tmp_path / "garbage.json").write_text("{not json")
    result = run("scrub", str(tmp_path / "garbage.json"))
    assert result.exit_code == 2 and "not valid JSON" in result.stderr


def test_demo_runs_on_bundled_visits() -> None:
    result = run("demo", "--json")
    assert result.exit_code == 1  # the demo shows error findings on purpose
    outs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outs) == 7
    assert {f["rule"] for out in outs for f in out["findings"]} >= {"O001", "C001", "D003", "M002", "K001"}
    assert all(out["total_expected"] > 0 for out in outs)


def test_rules_json_lists_every_rule() -> None:
    rules = json.loads(run("rules", "--json").stdout)
    assert {"M001", "M002", "C001", "C003", "U001", "O001", "O002", "D003"} <= {r["id"] for r in rules}
    assert all(r["doc"] and r["severity"] in ("error", "warning", "info") for r in rules)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_batch_command(tmp_path: Path, workers: str) -> None:
    source = write_visits(
        tmp_path / "in.jsonl",
        *({"id": f"v{i}", "services": [{"code": "97110", "minutes": i}]} for i in range(40)),
    )
    target = tmp_path / "out.jsonl"
    result = run("batch", str(source), "--out", str(target), "--workers", workers, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["visits"] == 40 and summary["skipped"] == []
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == [f"v{i}" for i in range(40)]
