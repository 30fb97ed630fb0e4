"""`rehabclaim scrub claims.837 --json --out fixed.837`: an incoming 837P scrubbed claim by claim, written back
corrected (our modifiers added, held-back claims left out) and validated by pyx12."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rehabclaim.claims.run import write_claims
from rehabclaim.cli.main import app
from rehabclaim.ledger import open_ledger
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.x12.read837 import read_837
from tests.fuzzing import validate_837

EXAMPLES = Path(__file__).parents[1] / "src" / "rehabclaim" / "data" / "examples" / "claims.jsonl"
SAMPLES = Path(__file__).parent / "fixtures" / "x12" / "837p"


def incoming(tmp_path: Path) -> tuple[Path, str]:
    """Our own 837P of the example claims, then edited as an EMR might send it: GP dropped from clm-1's
    97140 line, and clm-2's diagnosis made unknown (same segment count)."""
    visits = [decode_visit(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    out = tmp_path / "emr.837"
    write_claims(visits, Scrubber(), open_ledger(f"sqlite:///{tmp_path / 'emr.sqlite3'}"), out)
    text = out.read_text()
    assert "SV1*HC:97140:GP*" in text and "HI*ABK:M21331" in text
    text = text.replace("SV1*HC:97140:GP*", "SV1*HC:97140*", 1).replace("HI*ABK:M21331", "HI*ABK:Q99999")
    out.write_text(text)
    return out, text


def run_scrub(tmp_path: Path, *args: str) -> Any:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return CliRunner().invoke(app, ["scrub", *args, "--database-url", database], catch_exceptions=False)


def test_scrub_837_reports_per_claim_holds_back_and_writes_a_corrected_file(tmp_path: Path) -> None:
    source, _ = incoming(tmp_path)
    fixed = tmp_path / "fixed.837"
    result = run_scrub(tmp_path, str(source), "--json", "--out", str(fixed))
    assert result.exit_code == 1, result.output  # a claim was held back
    report = json.loads(result.stdout)
    by_id = {claim["id"]: claim for claim in report["claims"]}
    assert set(by_id) == {"clm-1", "clm-2"}
    assert not by_id["clm-1"]["held_back"] and by_id["clm-2"]["held_back"]
    assert any(reason.startswith("D002") for reason in by_id["clm-2"]["reasons"])
    assert report["held_back"] == ["clm-2"] and report["written"] == 1
    assert {"U001", "U002", "M002"} <= {gap["rule"] for gap in report["not_checked"]}
    assert "U002" in by_id["clm-1"]["not_checked"]
    lines = {line["code"]: line for line in by_id["clm-1"]["result"]["lines"]}
    assert lines["97140"]["units"] == 2 and "units not computed" in lines["97140"]["why"]
    ok, ack = validate_837(fixed)
    assert ok, ack
    written = read_837(fixed.read_bytes())
    assert [claim.id for claim in written.claims] == ["clm-1"]
    modifiers = {line.code: line.modifiers for line in written.claims[0].lines}
    assert modifiers["97140"][0] == "GP"  # added back by rule M001


def test_scrub_837_refuses_a_broken_file_naming_the_segment(tmp_path: Path) -> None:
    result = run_scrub(tmp_path, str(SAMPLES / "x12-parser__x12_segment_errors.837"))
    assert result.exit_code == 2
    assert "segment 25: SE01 says 25 segments" in result.output


def test_unknown_payer_is_reported_and_scrubbed_under_the_fallback_key(tmp_path: Path) -> None:
    source, text = incoming(tmp_path)
    source.write_text(text.replace("*PI*11502~", "*PI*99999~"))
    result = run_scrub(tmp_path, str(source), "--json")
    report = json.loads(result.stdout)
    assert report["unknown_payers"] == [{"payer_id": "99999", "name": "MEDICARE PART B", "key": "payer-99999"}]
    assert {claim["payer"] for claim in report["claims"] if claim["payer_id"] == "99999"} == {"payer-99999"}


def test_claims_of_other_professions_are_held_back_with_a_reason(tmp_path: Path) -> None:
    result = run_scrub(tmp_path, str(SAMPLES / "x12__demo.example1.837"), "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["held_back"]
    assert all(claim["reasons"] for claim in report["claims"])
