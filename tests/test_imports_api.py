"""``POST /v1/imports/fhir`` and ``POST /v1/imports/xr``: the same bytes as ``rehabclaim import fhir --json``
and ``import xr --json`` for the fixture bundles and the bundled XR examples; sessions attached nowhere and
items not mapped are a 200 listing them; a bad bundle, session or visit is a 422 naming where; too large is
a 413; credentials are required as on every route. Imports touch no ledger: SQLite only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app as cli
from tests.api_support import Api, assert_clean_problem, running_api, use_cheap_passwords

FHIR = Path(__file__).parent / "fixtures" / "fhir"
XR = Path(str(resources.files("rehabclaim.data").joinpath("examples/xr")))
BUNDLES = sorted(path.name for path in FHIR.glob("*.json"))
MAX_UPLOAD = 200_000  # the server's body limit in these tests: every fixture is below it


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("imports-api")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REHABCLAIM_DATA_DIR", str(folder / "data"))
        patch.delenv("REHABCLAIM_RULES_DIR", raising=False)
        use_cheap_passwords(patch)
        with running_api(f"sqlite:///{folder / 'ledger.sqlite3'}", folder, max_upload_bytes=MAX_UPLOAD) as running:
            yield running


def cli_json(*args: str) -> bytes:
    """What ``rehabclaim <args> --json`` writes to stdout (exit 0, or 1 when something was left undone)."""
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.stdout_bytes


def xr_body(sessions: str, visits: str = "visits.jsonl") -> dict[str, Any]:
    """The request for the example files: the sessions as they are (one, a list, or JSON Lines as a list)."""
    text = (XR / sessions).read_text()
    parsed = [json.loads(line) for line in text.splitlines() if line.strip()] if sessions.endswith(".jsonl") else None
    lines = [json.loads(line) for line in (XR / visits).read_text().splitlines() if line.strip()]
    return {"sessions": parsed if parsed is not None else json.loads(text), "visits": lines}


# --- FHIR ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLES)
def test_fhir_import_is_the_cli_json(api: Api, name: str) -> None:
    response = api.post("/v1/imports/fhir", content=(FHIR / name).read_bytes())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == cli_json("import", "fhir", str(FHIR / name))


def test_unmapped_items_are_a_200_listing_each_with_path_and_reason(api: Api) -> None:
    answer = api.post("/v1/imports/fhir", content=(FHIR / "messy.json").read_bytes())
    assert answer.status_code == 200
    unmapped = answer.json()["unmapped"]
    assert len(unmapped) >= 3
    assert {"resource_type": "Encounter", "path": "period.start"}.items() <= unmapped[0].items()
    assert all(item["reason"] for item in unmapped)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Encounter"}}]}',
            "entry[0]",
        ),
        (b'{"resourceType": "Patient"}', ""),
        (b"not json", ""),
    ],
)
def test_a_bad_bundle_is_a_422_naming_where(api: Api, body: bytes, where: str) -> None:
    problem = assert_clean_problem(api.post("/v1/imports/fhir", content=body), 422)
    assert where in problem["detail"]
    if where:
        assert where in problem["field"]


# --- XR --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sessions", ["session.json", "sessions-match.jsonl", "sessions-no-match.jsonl", "sessions-match-twice.json"]
)
def test_xr_import_is_the_cli_json(api: Api, sessions: str) -> None:
    response = api.post("/v1/imports/xr", json=xr_body(sessions))
    assert response.status_code == 200, response.text
    expected = cli_json("import", "xr", str(XR / sessions), "--visits", str(XR / "visits.jsonl"))
    assert response.content == expected


def test_sessions_attached_nowhere_are_a_200_listing_each_with_its_reason(api: Api) -> None:
    missed = api.post("/v1/imports/xr", json=xr_body("sessions-no-match.jsonl")).json()
    assert missed["unmatched"] and not missed["attached"]
    assert all(item["reason"].startswith("no-") and item["message"] for item in missed["unmatched"])
    twice = api.post("/v1/imports/xr", json=xr_body("sessions-match-twice.json")).json()
    (ambiguous,) = twice["ambiguous"]
    assert ambiguous["reason"] == "two-or-more-visits" and ambiguous["visit_ids"] == ["xr-visit-3", "xr-visit-4"]
    assert len(twice["visits"]) == len(xr_body("session.json")["visits"])  # every visit, none dropped


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda body: body["visits"][1].pop("date"), "visits[1].date"),
        (lambda body: body["visits"][0]["services"][0].update(code="99999"), "visits[0].services[0].code"),
        (lambda body: body.update(sessions={**body["sessions"], "session_end": "noon"}), "sessions.session_end"),
        (lambda body: body.update(sessions=[body["sessions"], {"vendor": "V"}]), "sessions[1]"),
        (lambda body: body.pop("visits"), "visits"),
        (lambda body: body.update(extra=1), "extra"),
    ],
)
def test_a_bad_session_or_visit_is_a_422_naming_the_field(api: Api, change: Any, field: str) -> None:
    body = xr_body("session.json")
    change(body)
    problem = assert_clean_problem(api.post("/v1/imports/xr", json=body), 422)
    assert problem["field"].startswith(field), problem
    assert problem["line"] is None  # a line of a part would say nothing about the request's body


def test_too_large_is_a_413(api: Api) -> None:
    bundle = json.loads((FHIR / "pt-timed.json").read_text())
    bundle["padding"] = "x" * MAX_UPLOAD
    problem = assert_clean_problem(api.post("/v1/imports/fhir", content=json.dumps(bundle).encode()), 413)
    assert "limit" in problem["detail"]
    body = xr_body("session.json")
    body["visits"] *= 1 + api.app.state.settings.max_visits_per_request // len(body["visits"])
    answer = api.post("/v1/imports/xr", json=body)
    assert answer.status_code == 413  # the body limit or the visit count: refused either way


def test_credentials_are_required(api: Api) -> None:
    for path, body in (("/v1/imports/fhir", (FHIR / "pt-timed.json").read_bytes()), ("/v1/imports/xr", b"{}")):
        assert_clean_problem(api.client.post(path, content=body), 401)
        assert_clean_problem(api.client.post(path, content=body, headers={"Authorization": "Bearer nope"}), 401)
    assert api.post("/v1/imports/fhir", "viewer", content=(FHIR / "pt-timed.json").read_bytes()).status_code == 200


def test_the_openapi_document_describes_both(api: Api) -> None:
    document = api.get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/v1/imports/fhir", "/v1/imports/xr"):
        post = paths[path]["post"]
        assert post["requestBody"]["required"] and "200" in post["responses"] and "422" in post["responses"]
    xr = paths["/v1/imports/xr"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    named = document["components"]["schemas"][xr["$ref"].rsplit("/", 1)[1]]
    assert set(named["properties"]) == {"sessions", "visits"} and set(named["required"]) == {"sessions", "visits"}
