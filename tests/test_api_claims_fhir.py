"""``GET /v1/claims/{n}/fhir`` and the web page's download: a batch kept in the ledger keeps its FHIR R4
Bundle of Claims, the one ``claim --fhir`` writes for the same visits (dated the batch's day), valid for the
``fhir.resources`` R4B models; none for secondary claims or for a batch kept before ledger revision 0007
(404, named). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import create_engine, inspect, text, update
from typer.testing import CliRunner

from rehabclaim.cli.main import app as cli
from rehabclaim.ledger import open_ledger
from rehabclaim.ledger.models import Base, InterchangeRecord
from rehabclaim.services.claims import claim_batch, claim_fhir
from rehabclaim.services.errors import NotFound
from tests.api_support import Api, api, assert_clean_problem, cheap_passwords, example, signed_in
from tests.test_api_secondary_claims import NDJSON, _secondary_batch
from tests.test_ledger_0006 import _alembic

__all__ = ["api", "cheap_passwords"]  # fixtures (cheap_passwords: autouse), imported to be in use here

FHIR_JSON = "application/fhir+json"


def cli_fhir(visits: Path, folder: Path) -> dict[str, Any]:
    """The Bundle ``claim --fhir`` writes for ``visits`` (its own new ledger and 837P)."""
    bundle = folder / "claims-fhir.json"
    args = ["claim", str(visits), "--837", str(folder / "claims.x12"), "--fhir", str(bundle)]
    result = CliRunner().invoke(cli, [*args, "--database-url", f"sqlite:///{folder / 'cli.sqlite3'}", "--json"])
    assert result.exit_code in (0, 1), result.output
    loaded: dict[str, Any] = json.loads(bundle.read_bytes())
    return loaded


def undated(bundle: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The Bundle without its Claims' ``created`` (the day each was made), and those days."""
    days = {entry["resource"].pop("created") for entry in bundle["entry"]}
    return bundle, days


def test_a_batch_keeps_the_bundle_claim_fhir_writes(api: Api, tmp_path: Path) -> None:
    visits = tmp_path / "claims.jsonl"
    visits.write_bytes(example("claims.jsonl"))
    built = api.post("/v1/claims", content=visits.read_bytes(), headers=NDJSON)
    assert built.status_code == 201, built.text
    number, report = built.json()["control_number"], built.json()["report"]
    assert report["claims"], "the demo visits built no claim"

    answer = api.get(f"/v1/claims/{number}/fhir")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == FHIR_JSON
    assert answer.headers["cache-control"] == "no-store"  # patient data
    bundle = Bundle.model_validate_json(answer.content)  # the independent R4B models accept it whole
    assert bundle.type == "collection"
    claims = [entry.resource for entry in bundle.entry or []]
    assert {claim.get_resource_type() for claim in claims} == {"Claim"}
    assert len(claims) == len(report["claims"])

    batch_day = api.get("/v1/claims").json()["items"][0]["created_at"][:10]
    kept, days = undated(json.loads(answer.content))
    expected, _ = undated(cli_fhir(visits, tmp_path / "cli"))
    assert days == {batch_day}, "the Claims are not dated the day the batch was built"
    assert kept == expected, "the kept Bundle differs from what claim --fhir writes for the same visits"


def test_a_batch_with_visits_sent_before_keeps_only_the_claims_it_sends(api: Api) -> None:
    lines = [line for line in example("claims.jsonl").split(b"\n") if line.strip()]
    first = api.post("/v1/claims", content=lines[0] + b"\n", headers=NDJSON).json()
    assert first["control_number"] is not None and len(first["report"]["claims"]) == 1, first
    second = api.post("/v1/claims", content=b"\n".join(lines) + b"\n", headers=NDJSON).json()
    sent_now = [claim["id"] for claim in second["report"]["claims"]]
    assert second["report"]["already_sent"] == [first["report"]["claims"][0]["id"]] and sent_now
    bundle = api.get(f"/v1/claims/{second['control_number']}/fhir").json()
    assert [entry["resource"]["id"] for entry in bundle["entry"]] == sent_now


def test_no_bundle_for_secondary_claims_or_batches_kept_before_0007(api: Api, tmp_path: Path) -> None:
    secondary = _secondary_batch(api, tmp_path, "f2")
    problem = assert_clean_problem(api.get(f"/v1/claims/{secondary}/fhir"), 404)
    assert f"claim batch {secondary} holds secondary claims: no FHIR Bundle is kept" in problem["detail"]

    built = api.post("/v1/claims", content=example("claims.jsonl"), headers=NDJSON)
    number = built.json()["control_number"]
    with api.database.begin() as connection:  # as a batch kept before revision 0007 left it
        connection.execute(
            update(InterchangeRecord).where(InterchangeRecord.control_number == number).values(fhir=None)
        )
    problem = assert_clean_problem(api.get(f"/v1/claims/{number}/fhir"), 404)
    assert f"claim batch {number} was kept before FHIR Bundles were (ledger revision 0007)" in problem["detail"]
    assert api.get(f"/v1/claims/{number}/cms1500").status_code == 200  # the rest of it is still there
    assert_clean_problem(api.get("/v1/claims/999/fhir"), 404)


def test_the_web_page_offers_the_bundle_when_kept(api: Api, tmp_path: Path) -> None:
    number = api.post("/v1/claims", content=example("claims.jsonl"), headers=NDJSON).json()["control_number"]
    secondary = _secondary_batch(api, tmp_path, "w2")
    with signed_in(api, {"user": "biller", "role": "biller"}):
        page = api.client.get(f"/claims/{number}")
        download = api.client.get(f"/claims/{number}/fhir")
        secondary_page = api.client.get(f"/claims/{secondary}")
        refused = api.client.get(f"/claims/{secondary}/fhir")
    assert 'data-testid="claim-download-fhir"' in page.text and f'href="/claims/{number}/fhir"' in page.text
    assert download.status_code == 200 and download.headers["content-type"] == FHIR_JSON
    assert f'filename="claims-{number:09d}-fhir.json"' in download.headers["content-disposition"]
    assert download.content == api.get(f"/v1/claims/{number}/fhir").content
    assert "claim-download-fhir" not in secondary_page.text and "no CMS-1500 data or FHIR Bundle" in secondary_page.text
    assert refused.status_code == 404 and "no FHIR Bundle is kept" in refused.text


def test_the_route_and_its_404_are_documented(api: Api) -> None:
    spec = api.get("/openapi.json").json()["paths"]["/v1/claims/{control_number}/fhir"]["get"]
    assert FHIR_JSON in spec["responses"]["200"]["content"]
    assert "secondary claims" in spec["responses"]["404"]["description"]


def test_upgrade_from_0006_keeps_stored_batches_without_a_bundle_and_downgrades(ledger_url: str) -> None:
    engine = create_engine(ledger_url)
    with engine.begin() as connection:
        command.upgrade(_alembic(connection), "0006")
        connection.execute(
            text(
                "INSERT INTO interchanges (control_number, path, status, host, pid, created_at, content, cms1500, "
                "created_by) VALUES (7, 'ledger', 'sent', 'h', 1, :at, 'ISA*00~', '[]', 'biller')"
            ),
            {"at": datetime(2026, 6, 20, 8, 0, tzinfo=UTC)},
        )
    engine.dispose()
    ledger = open_ledger(ledger_url)  # migrates to head
    try:
        with ledger.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        stored = claim_batch(ledger, control_number=7)
        assert (stored.x837, stored.fhir, stored.secondary) == ("ISA*00~", None, False)
        with pytest.raises(NotFound, match="kept before FHIR Bundles were"):
            claim_fhir(ledger, control_number=7)
        with ledger.begin() as connection:
            command.downgrade(_alembic(connection), "0006")
        with ledger.connect() as connection:
            assert "fhir" not in {column["name"] for column in inspect(connection).get_columns("interchanges")}
            assert connection.execute(text("SELECT content FROM interchanges")).scalar_one() == "ISA*00~"
        with ledger.begin() as connection:
            command.upgrade(_alembic(connection), "head")  # and up again
        assert claim_batch(ledger, control_number=7).fhir is None
    finally:
        ledger.dispose()
