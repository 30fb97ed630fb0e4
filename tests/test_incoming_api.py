"""`POST /v1/claims/incoming`: an incoming 837P scrubbed through the API answers the bytes `rehabclaim scrub
claims.837 --json` prints; `corrected=true` adds the corrected 837P (pyx12-valid, a biller's or admin's);
an unreadable file is a 422 naming the segment; too many claims or bytes, a 413."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app as cli
from rehabclaim.x12.read837 import read_837
from tests.api_support import Api, assert_clean_problem, cheap_passwords, running_api
from tests.fuzzing import validate_837
from tests.test_incoming_837 import SAMPLES, incoming
from tests.test_incoming_more import other_npi, two_clinics

__all__ = ["cheap_passwords"]  # an autouse fixture, imported to be in use here
ROUTE = "/v1/claims/incoming"
EDI = {"Content-Type": "application/edi-x12"}


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHABCLAIM_RULES_DIR", raising=False)
    with running_api(f"sqlite:///{tmp_path / 'api.sqlite3'}", tmp_path) as running:
        yield running


def test_the_report_is_the_cli_json_byte_for_byte(api: Api, tmp_path: Path) -> None:
    source, text = incoming(tmp_path)
    printed = CliRunner().invoke(cli, ["scrub", str(source), "--json"])
    assert printed.exit_code == 1  # clm-2 held back
    answered = api.post(ROUTE, content=text.encode(), headers=EDI)
    assert answered.status_code == 200, answered.text
    assert answered.content == printed.stdout_bytes
    assert answered.json()["held_back"] == ["clm-2"] and answered.json()["corrected_837"] is None
    as_text = api.post(ROUTE, content=text.encode(), headers={"Content-Type": "text/plain"}, role="viewer")
    assert as_text.content == printed.stdout_bytes


def test_corrected_returns_a_valid_837_with_both_billing_providers(api: Api, tmp_path: Path) -> None:
    source = two_clinics(tmp_path)
    answered = api.post(ROUTE, content=source.read_bytes(), params={"corrected": "true"}, headers=EDI)
    assert answered.status_code == 200, answered.text
    report = answered.json()
    assert report["written"] == 2 and report["out"] is None and report["interchange_control_number"] == 1
    fixed = tmp_path / "fixed.837"
    fixed.write_text(report["corrected_837"])
    ok, ack = validate_837(fixed)
    assert ok, ack
    providers = {claim.id: claim.billing_provider.id for claim in read_837(fixed.read_bytes()).claims}
    assert providers == {"clm-1": "1234567893", "clm-2": other_npi()}
    again = api.post(ROUTE, content=source.read_bytes(), params={"corrected": "true"}, headers=EDI)
    assert again.json()["interchange_control_number"] == 2  # the ledger's next number, as `claim` takes them


def test_corrected_takes_control_numbers_so_a_viewer_may_not(api: Api, tmp_path: Path) -> None:
    _, text = incoming(tmp_path)
    refused = api.post(ROUTE, content=text.encode(), params={"corrected": "true"}, role="viewer")
    assert_clean_problem(refused, 403)
    assert api.rows()["control_numbers"] == 0


def test_an_unreadable_file_is_a_422_naming_the_segment(api: Api) -> None:
    broken = (SAMPLES / "x12-parser__x12_segment_errors.837").read_bytes()
    problem = assert_clean_problem(api.post(ROUTE, content=broken, headers=EDI), 422)
    assert "segment 25: SE01 says 25 segments" in problem["detail"]
    empty = assert_clean_problem(api.post(ROUTE, content=b"", headers=EDI), 422)
    assert "not a readable 837P" in empty["detail"]


def test_more_claims_or_bytes_than_the_server_takes_is_a_413(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    _, text = incoming(tmp_path)
    with running_api(f"sqlite:///{tmp_path / 'small.sqlite3'}", tmp_path, max_visits_per_request=1) as small:
        problem = assert_clean_problem(small.post(ROUTE, content=text.encode(), headers=EDI), 413)
        assert "2 claims; at most 1" in problem["detail"]
    with running_api(f"sqlite:///{tmp_path / 'tiny.sqlite3'}", tmp_path, max_upload_bytes=1000) as tiny:
        assert_clean_problem(tiny.post(ROUTE, content=text.encode(), headers=EDI), 413)


def test_the_route_is_documented(api: Api) -> None:
    document = json.loads(api.get("/openapi.json").content)
    operation = document["paths"][ROUTE]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/edi-x12", "text/plain"}
    assert any(parameter["name"] == "corrected" for parameter in operation["parameters"])
