"""The CLI's ``--json`` and the API print the same bytes for the same input: both encode the same service's
typed result (the bundled examples, src/rehabclaim/data/examples). The ledger-backed ones run on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app as cli
from tests.api_support import (
    EXAMPLES,
    Api,
    api,
    cheap_passwords,
    example,
    example_lines,
    running_api,
    use_cheap_passwords,
)

__all__ = ["api", "cheap_passwords"]  # fixtures (cheap_passwords: autouse), imported to be in use here


def cli_json(*args: str) -> bytes:
    """What ``rehabclaim <args> --json`` writes to stdout (exit 0, or 1 for error findings)."""
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.stdout_bytes


def example_path(name: str) -> str:
    return str(EXAMPLES.joinpath(name))


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("same-bytes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REHABCLAIM_DATA_DIR", str(folder / "data"))
        patch.delenv("REHABCLAIM_RULES_DIR", raising=False)
        use_cheap_passwords(patch)
        with running_api(f"sqlite:///{folder / 'ledger.sqlite3'}", folder) as running:
            yield running


@pytest.mark.parametrize(
    ("cli_args", "path", "params"),
    [
        (("code", "97760"), "/v1/codes/97760", {}),
        (("code", "L1906"), "/v1/codes/L1906", {}),
        (("search", "orthotic training", "--limit", "5"), "/v1/codes", {"q": "orthotic training", "limit": 5}),
        (("search", "therex"), "/v1/codes", {"q": "therex"}),
        (("units", "97110=33", "97140=7"), "/v1/units", {"codes": ["97110:33", "97140:7"]}),
        (
            ("units", "97110=33", "97140=7", "--method", "per-code"),
            "/v1/units",
            {"codes": ["97110=33", "97140=7"], "method": "per-code"},
        ),
        (("fee", "97110", "--year", "2026", "--units", "3"), "/v1/fees/97110", {"year": 2026, "units": 3}),
        (
            ("fee", "97140", "--date", "2026-06-01", "--locality", "11502:00"),
            "/v1/fees/97140",
            {"date": "2026-06-01", "locality": "11502:00"},
        ),
        (("payers",), "/v1/payers", {}),
        (("payer", "medicare"), "/v1/payers/medicare", {}),
        (("payer", "sample_per_code"), "/v1/payers/sample_per_code", {}),
        (("rules",), "/v1/rules", {}),
    ],
)
def test_reference_answers_are_the_cli_json(
    reader: Api, cli_args: tuple[str, ...], path: str, params: dict[str, Any]
) -> None:
    response = reader.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.content == cli_json(*cli_args)


def test_scrub_each_example_visit_is_the_cli_json(reader: Api) -> None:
    printed = cli_json("scrub", example_path("visits.jsonl")).splitlines(keepends=True)
    answered = [reader.post("/v1/scrub", content=line).content for line in example_lines("visits.jsonl")]
    assert len(answered) == 7 and answered == printed


def test_batch_scrub_is_the_cli_json(reader: Api) -> None:
    for name in ("visits.jsonl", "claims.jsonl"):
        response = reader.post("/v1/scrub/batch", content=example(name))
        assert response.content == cli_json("scrub", example_path(name))


def test_an_835_read_is_the_cli_json(reader: Api) -> None:
    response = reader.post("/v1/remittances/check", content=example("remit.835"))
    assert response.content == cli_json("remit", example_path("remit.835"))


def test_claims_posting_patients_and_denials_are_the_cli_json(api: Api, ledger_url: str, tmp_path: Path) -> None:
    """The claim run's report (on a fresh ledger each), then, on the API's ledger: the posted 835 as read, a
    patient's state and the denials worklist."""
    built = api.post("/v1/claims", content=example("claims.jsonl"))
    assert built.status_code == 201
    fresh = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    report = cli_json("claim", example_path("claims.jsonl"), "--837", str(tmp_path / "c.x12"), "--database-url", fresh)
    number = built.json()["control_number"]
    assert built.content == b'{"report":' + report.rstrip(b"\n") + b',"control_number":%d}\n' % number
    assert api.get(f"/v1/claims/{number}/cms1500").content == _cms1500_file(tmp_path, fresh)

    for line in example_lines("claims.jsonl"):
        api.post("/v1/visits", content=line)
    posted = api.post("/v1/remittances", content=example("remit.835"))
    assert posted.status_code == 201
    read = cli_json("remit", example_path("remit.835")).rstrip(b"\n")
    assert posted.content.endswith(b',"remittance":' + read + b"}\n")

    assert api.get("/v1/patients/P100").content == cli_json("ledger", "show", "P100", "--database-url", ledger_url)
    items = cli_json("denials", "--database-url", ledger_url).rstrip(b"\n")
    worklist = api.get("/v1/denials", params={"limit": 500}).content
    assert items != b"[]" and worklist.startswith(b'{"items":' + items + b',"total":')


def _cms1500_file(tmp_path: Path, fresh_ledger: str) -> bytes:
    """The CMS-1500 file ``claim --cms1500`` writes for the example claims, on another fresh ledger."""
    other = f"{fresh_ledger.removesuffix('.sqlite3')}-2.sqlite3"
    out = tmp_path / "forms.json"
    args = ("claim", example_path("claims.jsonl"), "--837", str(tmp_path / "d.x12"), "--cms1500", str(out))
    cli_json(*args, "--database-url", other)
    return out.read_bytes()
