"""``scrub --trace`` / ``POST /v1/scrub?trace=true`` / ``scrub_visit(trace=True)``: each line gets a ``trace``
of typed steps citing the data row or note section used; without it the output is today's, byte for byte."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app as cli
from rehabclaim.model import ScrubResult
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result
from rehabclaim.services.scrub import scrub_visit
from rehabclaim.trace import TracedLine, TraceStep
from tests.api_support import EXAMPLES, Api, cheap_passwords, example_lines, running_api
from tests.conftest import visit_json

__all__ = ["cheap_passwords"]  # an autouse fixture, imported to be in use here
VISITS = str(EXAMPLES.joinpath("visits.jsonl"))
PPRRVU = Path(str(EXAMPLES)).parent / "cms" / "PPRRVU2026_Jul_nonQPP.csv"


@pytest.fixture(scope="module")
def engine() -> Scrubber:
    return Scrubber(load_reference())


def traced(engine: Scrubber, **fields: Any) -> ScrubResult:
    return engine.scrub(decode_visit(visit_json(**fields)), trace=True)


def steps(result: ScrubResult, code: str) -> list[TraceStep]:
    line = next(line for line in result.lines if line.code == code)
    assert isinstance(line, TracedLine)
    return line.trace


def keys(result: ScrubResult, code: str, stage: str) -> list[tuple[str, str]]:
    return [(s.source.file, s.source.key) for s in steps(result, code) if s.stage == stage]


def cli_scrub(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["scrub", *args])
    assert result.exit_code in (0, 1), result.output
    return result


def test_without_trace_the_cli_prints_todays_bytes_and_the_trace_only_adds_a_field() -> None:
    plain = cli_scrub(VISITS, "--json").stdout_bytes.splitlines()
    with_trace = cli_scrub(VISITS, "--json", "--trace").stdout_bytes.splitlines()
    engine = Scrubber(load_reference())
    assert plain == [encode_result(engine.scrub(decode_visit(raw))) for raw in example_lines("visits.jsonl")]
    assert b'"trace"' not in b"".join(plain)
    for before, after in zip(plain, with_trace, strict=True):
        document = json.loads(after)
        assert all(line.pop("trace") for line in document["lines"])  # every line has steps
        assert list(document["lines"][0]) == list(json.loads(before)["lines"][0])  # the field is the last one
        assert msgspec.json.encode(document) == before


def test_a_medicare_line_cites_its_code_row_method_table_and_fee_rows(engine: Scrubber) -> None:
    result = traced(engine, services=[{"code": "97110", "minutes": 38}, {"code": "97140", "minutes": 15}])
    assert keys(result, "97110", "units") == [
        ("codes.toml", "[[code]] 97110"),
        ("payers/medicare.toml", "[units] method"),
        ("thresholds.toml", "[units]"),
        ("reference/units.md", "s. 1"),
        ("reference/units.md", "s. 2"),
        ("reference/units.md", "s. 3"),
    ]
    assert ("modifiers.toml", "[[modifier]] GP") in keys(result, "97110", "modifiers")
    fees = {s.source.key: s.source for s in steps(result, "97110") if s.stage == "fees"}
    (rvu_key,) = [key for key in fees if key.startswith("PPRRVU row 97110 2026")]
    number = int(rvu_key.rsplit("line ", 1)[1].rstrip(")"))
    assert PPRRVU.read_text(encoding="latin-1").splitlines()[number - 1].startswith("97110,")
    assert fees[rvu_key].date == date(2026, 7, 1)  # the July 2026 release in force (standing in before its date)
    assert fees["[[conversion_factor]] from 2026-01-01"].date == date(2026, 1, 1)
    assert "[[mppr]] from 2013-04-01" in fees  # three units of MULT PROC 5 codes: the MPPR applied
    assert ("reference/medicare-policy.md", "s. 4") in keys(result, "97110", "fees")


def test_the_mppr_step_is_on_exactly_the_lines_whose_estimate_took_it(engine: Scrubber) -> None:
    result = traced(engine, services=[{"code": "97110", "minutes": 38}, {"code": "97162"}])
    for line in result.lines:
        has_step = any(key.startswith("[[mppr]]") for _, key in keys(result, line.code, "fees"))
        assert has_step == ("MPPR:" in line.expected_why), line.code


def test_per_code_payer_untimed_and_contracted_lines_cite_their_own_rows(engine: Scrubber) -> None:
    per_code = traced(
        engine,
        payer="sample_per_code",
        authorization={"from": "2026-01-01", "through": "2026-12-31", "visits": 20},
        services=[{"code": "97110", "minutes": 20}, {"code": "97010"}],
    )
    assert ("reference/units.md", "s. 6") in keys(per_code, "97110", "units")
    assert ("payers/sample_per_code.toml", "[fees] percent_of_medicare") in keys(per_code, "97110", "fees")
    assert ("reference/units.md", "s. 5") in keys(per_code, "97010", "units")
    contracted = traced(engine, payer="sample_medicaid", services=[{"code": "97110", "minutes": 20}])
    assert keys(contracted, "97110", "fees") == [("payers/sample_medicaid.toml", "[fees] contracted.97110")]


def test_assistant_distinct_and_kx_steps_cite_the_rows_the_stages_used(engine: Scrubber) -> None:
    assisted = traced(engine, services=[{"code": "97110", "minutes": 30, "assistant_minutes": 30}])
    assert ("modifiers.toml", "[[modifier]] CQ") in keys(assisted, "97110", "modifiers")
    assert ("medicare-payment.toml", "[[assistant_payment]] from 2022-01-01") in keys(assisted, "97110", "fees")
    blocks = traced(
        engine,
        services=[
            {"code": "97140", "minutes": 15, "time_blocks": [{"start": "09:00", "end": "09:15"}]},
            {"code": "97530", "minutes": 15, "time_blocks": [{"start": "09:15", "end": "09:30"}]},
        ],
    )
    (ptp,) = [s for s in steps(blocks, "97530") if s.source.key.startswith("PTP ")]
    assert ptp.source.file == "cms/ptp-practitioner-sample.txt" and ptp.source.date is not None
    assert "XU" in ptp.what and not [s for s in steps(blocks, "97140") if s.source.key.startswith("PTP ")]
    kx = traced(engine, therapy_allowed_ytd={"PT_SLP": 2600.0}, services=[{"code": "97110", "minutes": 30}])
    kx_steps = [s for s in steps(kx, "97110") if s.stage == "kx"]
    assert kx_steps[0].source.key == "[[kx_threshold]] year 2026" and "$2480" in kx_steps[0].what
    assert not [s for s in steps(assisted, "97110") if s.stage == "kx"]


def test_merged_services_and_an_orthosis_visit_are_traced(engine: Scrubber) -> None:
    merged = traced(engine, services=[{"code": "97110", "minutes": 10}, {"code": "97110", "minutes": 12}])
    assert ("lines", "services 0, 1 merged into one 97110 line: 22 min") in [
        (s.stage, s.what) for s in steps(merged, "97110")
    ]
    orthosis = traced(
        engine, services=[{"code": "97760", "minutes": 30, "training_minutes": 20}, {"code": "L3809", "units": 1}]
    )
    assert ("reference/orthotics.md", "s. 2") in keys(orthosis, "97760", "units")
    assert ("codes.toml", "[[code]] L3809") in keys(orthosis, "L3809", "fees")


def test_the_service_and_the_api_give_the_cli_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHABCLAIM_RULES_DIR", raising=False)
    printed = cli_scrub(VISITS, "--json", "--trace").stdout_bytes.splitlines()
    reference = load_reference()
    for raw, line in zip(example_lines("visits.jsonl"), printed, strict=True):
        assert encode_result(scrub_visit(reference, visit=decode_visit(raw), trace=True)) == line
    with running_api(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path) as api:
        answered = [_post(api, raw, "?trace=true") for raw in example_lines("visits.jsonl")]
        plain = [_post(api, raw, "") for raw in example_lines("visits.jsonl")]
    assert answered == printed
    assert plain == cli_scrub(VISITS, "--json").stdout_bytes.splitlines()


def _post(api: Api, raw: bytes, query: str) -> bytes:
    response = api.post(f"/v1/scrub{query}", content=raw)
    assert response.status_code == 200, response.text
    content: bytes = response.content
    return content.removesuffix(b"\n")  # the API ends its JSON with a newline, as the CLI's lines do


def test_the_text_output_lists_the_steps_and_an_837_refuses_trace(tmp_path: Path) -> None:
    text = cli_scrub(VISITS, "--trace").stdout
    assert "97110 units: unit method: cms (payers/medicare.toml [units] method)" in text
    assert "codes.toml [[code]] 97110" not in cli_scrub(VISITS).stdout
    claim = tmp_path / "in.837"
    claim.write_text("ISA*00*")
    refused = CliRunner().invoke(cli, ["scrub", str(claim), "--trace"])
    assert refused.exit_code == 2 and "--trace" in refused.output
