"""``POST /v1/claims?secondary=true``: the secondary claims of ``claim --secondary`` over HTTP, kept in the
ledger. The report is the CLI's ``--json`` byte for byte and the 837P what the CLI writes (dates and times
masked), valid for pyx12; held-back visits named (finding COB); no CMS-1500 data for such a batch (404,
named). On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from typer.testing import CliRunner

from rehabclaim.cli.main import app as cli
from rehabclaim.ledger import open_ledger
from tests.api_support import Api, api, assert_clean_problem, cheap_passwords, signed_in
from tests.fuzzing import x12_segments
from tests.test_secondary_claims import SECONDARY, ok_999, partly_paid, post, primary_sent, remit_835
from tests.test_x12_837 import claim_visit

__all__ = ["api", "cheap_passwords"]  # fixtures (cheap_passwords: autouse), imported to be in use here

NDJSON = {"Content-Type": "application/x-ndjson"}
DATES_AND_TIMES = {"ISA": (9, 10), "GS": (4, 5), "BHT": (4, 5)}  # the interchange's, taken when it is built


def visits_file(tmp_path: Path, visits: list[Any]) -> Path:
    """The visits as JSON Lines: the body of the POST and the CLI's input."""
    path = tmp_path / "visits.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(visit) + b"\n" for visit in visits))
    return path


def primary_paid_in_part(database: Any, folder: Path, visit: Any) -> None:
    """The visit's primary claim written (to a file in ``folder``) and its 835 posted, leaving coinsurance
    and a deductible to the patient."""
    folder.mkdir(exist_ok=True)
    post(database, remit_835(visit.id, partly_paid(primary_sent(database, folder, visit))))


def cli_secondary(visits: Path, out: Path, database_url: str) -> bytes:
    """What ``claim --secondary --json`` prints (exit 1 when a visit is held back)."""
    args = ["claim", str(visits), "--secondary", "--837", str(out), "--database-url", database_url, "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 1), result.output
    return result.stdout_bytes


def masked(x837: bytes) -> list[list[str]]:
    segments = x12_segments(x837.decode("latin-1"))
    for elements in segments:
        for position in DATES_AND_TIMES.get(elements[0], ()):
            elements[position] = "#"
    return segments


def batch_bytes(report: bytes, number: int | None) -> bytes:
    """The POST's body around the CLI's report."""
    kept = b"null" if number is None else b"%d" % number
    return b'{"report":' + report.rstrip(b"\n") + b',"control_number":' + kept + b"}\n"


def test_a_secondary_batch_is_the_clis_and_validates(api: Api, tmp_path: Path) -> None:
    visit = claim_visit(id="s1", secondary=SECONDARY)
    primary_paid_in_part(api.database, tmp_path / "api", visit)
    cli_url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"  # the same ledger state, for the CLI
    cli_ledger = open_ledger(cli_url)
    try:
        primary_paid_in_part(cli_ledger, tmp_path / "cli", visit)
    finally:
        cli_ledger.dispose()
    visits = visits_file(tmp_path, [visit])

    built = api.post("/v1/claims", params={"secondary": "true"}, content=visits.read_bytes(), headers=NDJSON)
    assert built.status_code == 201, built.text
    number = built.json()["control_number"]
    assert [claim["id"] for claim in built.json()["report"]["claims"]] == ["s1"]
    cli_out = tmp_path / "cli-secondary.x12"
    assert built.content == batch_bytes(cli_secondary(visits, cli_out, cli_url), number)

    x837 = api.get(f"/v1/claims/{number}/837p")
    assert x837.status_code == 200
    sent = tmp_path / "api-secondary.x12"
    sent.write_bytes(x837.content)
    ok_999(sent)
    rows = x12_segments(x837.text)
    assert next(row for row in rows if row[:2] == ["SBR", "P"])[:3] == ["SBR", "P", "18"]  # 2320: the primary
    assert masked(x837.content) == masked(cli_out.read_bytes())

    again = api.post("/v1/claims", params={"secondary": "true"}, content=visits.read_bytes(), headers=NDJSON)
    assert again.status_code == 200 and again.json()["report"]["already_sent"] == ["s1"]


def test_no_posted_primary_holds_the_visit_back_named(api: Api, tmp_path: Path, ledger_url: str) -> None:
    visit = claim_visit(id="h1", secondary=SECONDARY)
    primary_sent(api.database, tmp_path, visit)  # sent, but no 835 posted for it
    visits = visits_file(tmp_path, [visit])
    before = api.rows()

    held = api.post("/v1/claims", params={"secondary": "true"}, content=visits.read_bytes(), headers=NDJSON)
    assert held.status_code == 200, held.text
    [visit_held] = held.json()["report"]["held"]
    [finding] = visit_held["findings"]
    assert visit_held["id"] == "h1" and finding["rule"] == "COB"
    assert "no primary remittance (835) is posted for this visit" in finding["message"]
    assert held.json()["control_number"] is None
    assert api.rows() == before  # nothing kept, no control number taken
    out = tmp_path / "cli.x12"
    assert held.content == batch_bytes(cli_secondary(visits, out, ledger_url), None)  # same ledger, untouched
    assert not out.exists()


def test_a_secondary_batch_has_no_cms1500(api: Api, tmp_path: Path) -> None:
    number = _secondary_batch(api, tmp_path, "f1")
    problem = assert_clean_problem(api.get(f"/v1/claims/{number}/cms1500"), 404)
    assert f"claim batch {number} holds secondary claims" in problem["detail"]
    assert "primary payer's payment" in problem["detail"]
    assert api.get(f"/v1/claims/{number}/837p").status_code == 200
    listed = api.get("/v1/claims").json()["items"]
    assert (listed[0]["control_number"], listed[0]["stored"]) == (number, True)  # newest first


def test_the_web_page_of_a_secondary_batch_offers_no_cms1500(api: Api, tmp_path: Path) -> None:
    number = _secondary_batch(api, tmp_path, "w1")
    with signed_in(api, {"user": "biller", "role": "biller"}):
        page = api.client.get(f"/claims/{number}")
        download = api.client.get(f"/claims/{number}/cms1500")
        primary_number = _primary_batch(api, tmp_path)
        primary_page = api.client.get(f"/claims/{primary_number}")
    assert page.status_code == 200
    assert 'data-testid="claim-secondary"' in page.text and "claim-download-cms1500" not in page.text
    assert download.status_code == 404 and f"claim batch {number} holds secondary claims" in download.text
    assert "claim-download-cms1500" in primary_page.text and "claim-secondary" not in primary_page.text


def _secondary_batch(api: Api, tmp_path: Path, visit_id: str) -> int:
    """A batch of one secondary claim kept in the ledger (its primary paid in part): its number."""
    visit = claim_visit(id=visit_id, secondary=SECONDARY)
    primary_paid_in_part(api.database, tmp_path, visit)
    built = api.post(
        "/v1/claims", params={"secondary": "true"}, content=visits_file(tmp_path, [visit]).read_bytes(), headers=NDJSON
    )
    assert built.status_code == 201, built.text
    return int(built.json()["control_number"])


def _primary_batch(api: Api, tmp_path: Path) -> int:
    """A batch of ordinary (primary) claims kept in the ledger: its number."""
    built = api.post("/v1/claims", content=visits_file(tmp_path, [claim_visit(id="p1")]).read_bytes(), headers=NDJSON)
    assert built.status_code == 201, built.text
    return int(built.json()["control_number"])


def test_the_option_and_the_404_are_documented(api: Api) -> None:
    spec = api.get("/openapi.json").json()["paths"]
    parameters = {parameter["name"] for parameter in spec["/v1/claims"]["post"]["parameters"]}
    assert {"resend", "secondary"} <= parameters
    forms = spec["/v1/claims/{control_number}/cms1500"]["get"]["responses"]["404"]
    assert "secondary claims" in forms["description"] and "application/problem+json" in forms["content"]
