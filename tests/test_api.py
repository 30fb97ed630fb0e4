"""The REST API (rehabclaim.api): every endpoint's success, authentication (tokens and the web session),
roles, RFC 9457 problems for bad input, limits (body size, visits per request, timeout, pages), idempotent
posting, nothing written on any error, no traceback and no patient data in problems or logs; on SQLite and
PostgreSQL wherever the ledger is involved."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehabclaim.api import settings as api_settings
from rehabclaim.api.routes import scrub as scrub_routes
from rehabclaim.api.settings import SecretKeyError, ServerSettings, session_secret, stored_secret
from rehabclaim.services import accounts, rules
from rehabclaim.services.accounts import SYSTEM, set_disabled
from tests.api_support import (
    PATIENT_DATA,
    Api,
    assert_clean_problem,
    cheap_passwords,
    example,
    example_lines,
    running_api,
    signed_in,
    use_cheap_passwords,
)
from tests.conftest import BASE_VISIT, drop

__all__ = ["cheap_passwords"]  # an autouse fixture, imported to be in use here

GOOD_VISIT = {
    **BASE_VISIT,
    "id": "api-1",
    "patient": {"id": "P900"},
    "services": [{"code": "97110", "minutes": 33}, {"code": "97140", "minutes": 12}],
}
JSON = {"Content-Type": "application/json"}


def visit(**fields: Any) -> bytes:
    return json.dumps({**GOOD_VISIT, **fields}).encode()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(folder))
    monkeypatch.delenv("REHABCLAIM_RULES_DIR", raising=False)
    monkeypatch.delenv("REHABCLAIM_SECRET_KEY", raising=False)
    return folder


@pytest.fixture
def api(ledger_url: str, tmp_path: Path, data_dir: Path) -> Iterator[Api]:
    """On SQLite and on PostgreSQL."""
    with running_api(ledger_url, tmp_path) as running:
        yield running


@pytest.fixture
def sqlite_api(tmp_path: Path, data_dir: Path) -> Iterator[Api]:
    """For what reads only the reference data, or changes the server: the ledger is not involved."""
    with running_api(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for the tests that only read reference data or are refused before any service runs."""
    folder = tmp_path_factory.mktemp("reader")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REHABCLAIM_DATA_DIR", str(folder / "data"))
        patch.delenv("REHABCLAIM_RULES_DIR", raising=False)
        use_cheap_passwords(patch)
        with running_api(f"sqlite:///{folder / 'ledger.sqlite3'}", folder) as running:
            yield running


def posted_claims_and_835(api: Api) -> dict[str, Any]:
    """The example claims built (kept in the ledger), their visits posted, and the example 835 posted."""
    for line in example_lines("claims.jsonl"):
        api.post("/v1/visits", content=line, headers=JSON)
    built = api.post("/v1/claims", content=example("claims.jsonl"), headers={"Content-Type": "application/x-ndjson"})
    assert built.status_code == 201, built.text
    posted = api.post("/v1/remittances", content=example("remit.835"), headers={"Content-Type": "text/plain"})
    assert posted.status_code == 201, posted.text
    return {"batch": built.json(), "remittance": posted.json()}


# --- health, authentication, roles ------------------------------------------------------------------------


def test_health_needs_no_credentials_and_says_the_version(reader: Api) -> None:
    response = reader.client.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0"}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    ["/v1/codes/97110", "/v1/payers", "/v1/rules", "/v1/claims", "/v1/denials", "/v1/audit", "/openapi.json", "/docs"],
)
def test_every_other_route_needs_credentials(reader: Api, path: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer rc_not-a-token"},
        {"Authorization": "Bearer x"},
        {"Authorization": "Basic eDp5"},
    ):
        response = reader.client.get(path, headers=headers)
        problem = assert_clean_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert problem["title"] == "Not authenticated"


def test_posting_needs_credentials_and_writes_nothing_without(api: Api) -> None:
    before = api.rows()
    response = api.client.post("/v1/visits", content=visit(), headers=JSON)
    assert_clean_problem(response, 401)
    assert api.rows() == before


def test_a_revoked_token_or_a_disabled_user_is_refused(api: Api) -> None:
    assert api.get("/v1/rules", "viewer").status_code == 200
    set_disabled(api.database, name="viewer", disabled=True, actor=SYSTEM)
    assert_clean_problem(api.get("/v1/rules", "viewer"), 401)
    token_id = api.get("/v1/tokens", "biller").json()[0]["id"]
    assert api.client.delete(f"/v1/tokens/{token_id}", headers=api.headers("biller")).json()["revoked"] is True
    assert_clean_problem(api.get("/v1/rules", "biller"), 401)


def test_a_viewer_may_not_change_the_ledger(api: Api) -> None:
    before = api.rows()
    changes = [
        ("/v1/visits", visit()),
        ("/v1/claims", example("claims.jsonl")),
        ("/v1/remittances", example("remit.835")),
    ]
    for path, body in changes:
        problem = assert_clean_problem(api.post(path, "viewer", content=body), 403)
        assert "viewer" in problem["detail"], path
    assert api.rows() == before


def test_only_an_admin_reads_the_audit_trail_and_reloads(api: Api) -> None:
    for role in ("biller", "viewer"):
        assert_clean_problem(api.get("/v1/audit", role), 403)
        assert_clean_problem(api.post("/v1/admin/reload", role), 403)
    audit = api.get("/v1/audit", "admin")
    assert audit.status_code == 200
    assert {event["action"] for event in audit.json()["items"]} >= {"user.add", "token.create"}


def test_the_web_session_authenticates_and_a_disabled_users_session_is_refused(api: Api) -> None:
    with signed_in(api, {"user": "biller", "role": "biller"}):
        assert api.client.get("/v1/payers").status_code == 200
        set_disabled(api.database, name="biller", disabled=True, actor=SYSTEM)
        response = api.client.get("/v1/payers")
        assert_clean_problem(response, 401)
        assert "rehabclaim_session=null" in response.headers.get("set-cookie", "")  # the session is dropped


def test_a_forged_session_cookie_is_not_a_login(reader: Api) -> None:
    forged = {"user": "admin", "role": "admin"}
    with signed_in(reader, forged, secret="another-secret-of-forty-characters-long"):
        assert_clean_problem(reader.client.get("/v1/payers"), 401)


def test_a_change_with_the_session_needs_the_csrf_token_and_a_changed_password(api: Api) -> None:
    before = api.rows()
    session = {"user": "biller", "role": "biller", "csrf": "t0ken-of-the-page"}
    with signed_in(api, session):
        refused = api.client.post("/v1/visits", content=visit(), headers=JSON)
        assert assert_clean_problem(refused, 403)["field"] == "X-CSRF-Token"
        wrong = {**JSON, "X-CSRF-Token": "another"}
        assert_clean_problem(api.client.post("/v1/visits", content=visit(), headers=wrong), 403)
    with signed_in(api, {**session, "must_change_password": True}):
        assert_clean_problem(api.client.get("/v1/payers"), 403)
    assert api.rows() == before
    with signed_in(api, session):
        good = {**JSON, "X-CSRF-Token": "t0ken-of-the-page"}
        posted = api.client.post("/v1/visits", content=visit(), headers=good)
    assert posted.status_code == 201, posted.text
    events = api.get("/v1/audit", "admin", params={"action": "visit.post"}).json()["items"]
    assert [(event["user"], event["channel"]) for event in events] == [("biller", "web")]


def test_tokens_are_made_for_yourself_listed_without_secrets_and_revoked(api: Api) -> None:
    made = api.post("/v1/tokens", "viewer", content=b'{"name": "my integration"}', headers=JSON)
    assert made.status_code == 201
    token = made.json()
    assert token["user"] == "viewer" and token["secret"].startswith("rc_")
    assert made.headers["cache-control"] == "no-store"
    assert api.client.get("/v1/rules", headers={"Authorization": f"Bearer {token['secret']}"}).status_code == 200
    listed = api.get("/v1/tokens", "viewer").json()
    assert {entry["name"] for entry in listed} == {"tests", "my integration"}
    assert token["secret"] not in json.dumps(listed)
    assert assert_clean_problem(api.post("/v1/tokens", content=b'{"name": 5}', headers=JSON), 422)["field"] == "name"
    assert_clean_problem(api.post("/v1/tokens", content=b"{}", headers=JSON), 422)
    revoked = api.client.delete(f"/v1/tokens/{token['id']}", headers=api.headers("viewer"))
    assert revoked.json()["revoked"] is True
    assert api.client.get("/v1/rules", headers={"Authorization": f"Bearer {token['secret']}"}).status_code == 401


# --- reference data -------------------------------------------------------------------------------------------


def test_codes_search_units_fees_payers_and_rules(reader: Api) -> None:
    api = reader
    assert api.get("/v1/codes/97110").json()["timed"] is True
    hits = api.get("/v1/codes", params={"q": "orthotic training", "limit": 3}).json()
    assert hits[0]["code"] == "97760" and len(hits) <= 3
    plan = api.get("/v1/units", params={"codes": ["97110:33", "97140=7"], "method": "cms"}).json()
    assert (plan["total_timed_minutes"], plan["total_timed_units"]) == (40, 3)
    fee = api.get("/v1/fees/97110", params={"year": 2026, "locality": "11502:00", "units": 2}).json()
    assert fee["units"] == 2 and fee["total"] > fee["per_unit"] > 0
    payers = api.get("/v1/payers").json()
    assert "medicare" in {payer["key"] for payer in payers}
    assert api.get("/v1/payers/Medicare").json()["name"] == "Medicare Part B"
    listed = api.get("/v1/rules").json()
    assert len(listed) == len(rules.list_rules())
    assert api.get("/v1/rules/d004").json()["id"] == "D004"


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/codes/12345", {}, 404, "code"),
        ("/v1/codes", {}, 422, "q"),
        ("/v1/codes", {"q": "therex", "limit": 0}, 422, "limit"),
        ("/v1/codes", {"q": "therex", "limit": "many"}, 422, "limit"),
        ("/v1/units", {"codes": ["97110:33", "97140:x"]}, 422, "codes[1]"),
        ("/v1/units", {"codes": "97110:33", "method": "daily"}, 422, "method"),
        ("/v1/units", {"codes": "99999:20"}, 422, "services[0].code"),
        ("/v1/fees/97110", {"date": "2026-13-01"}, 422, "date"),
        ("/v1/fees/97110", {"units": 0}, 422, "units"),
        ("/v1/fees/97110", {"locality": "nowhere"}, 422, "locality"),
        ("/v1/fees/XYZ", {}, 422, "code"),
        ("/v1/payers/nobody", {}, 404, "payer"),
        ("/v1/rules/Z999", {}, 404, "rule"),
        ("/v1/claims", {"limit": 100000}, 422, "limit"),
        ("/v1/claims", {"offset": -1}, 422, "offset"),
        ("/v1/denials", {"since": "yesterday"}, 422, "since"),
        ("/v1/denials", {"since": "2026-06-02", "until": "2026-06-01"}, 422, "until"),
        ("/v1/reports/aging", {}, 422, "as_of"),
        ("/v1/claims/0/837p", {}, 422, "control_number"),
    ],
)
def test_bad_parameters_are_problems_naming_the_field(
    reader: Api, path: str, params: dict[str, Any], status: int, field: str
) -> None:
    problem = assert_clean_problem(reader.get(path, params=params), status)
    assert problem["field"] == field, problem
    assert not problem["detail"].startswith("--"), problem  # the parameter's name, not the CLI option's


def test_an_unknown_path_and_a_wrong_method_are_problems(reader: Api) -> None:
    assert_clean_problem(reader.get("/v1/nothing-here"), 404)
    response = reader.client.delete("/v1/health")
    assert_clean_problem(response, 405)
    assert "GET" in response.headers["allow"]


# --- scrub ------------------------------------------------------------------------------------------------------


def test_scrub_one_visit(reader: Api) -> None:
    response = reader.post("/v1/scrub", content=visit(), headers=JSON)
    assert response.status_code == 200
    result = response.json()
    assert result["id"] == "api-1" and [line["code"] for line in result["lines"]] == ["97110", "97140"]
    assert result["total_timed_units"] == 3


def test_scrub_with_the_ledger_history(api: Api) -> None:
    """The plan of care posted with the first visit is in the ledger: R003 (no plan) fires only without it."""
    plan = {"certified_from": "2026-06-01", "certified_through": "2026-08-01"}
    assert api.post("/v1/visits", content=visit(plan_of_care=plan), headers=JSON).status_code == 201
    later = visit(id="api-2", date="2026-06-03")
    alone = api.post("/v1/scrub", content=later, headers=JSON).json()
    with_history = api.post("/v1/scrub", content=later, headers=JSON, params={"ledger": "true"}).json()
    assert "R003" in {finding["rule"] for finding in alone["findings"]}
    assert "R003" not in {finding["rule"] for finding in with_history["findings"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (visit(services=[{"code": "97110", "minutes": -5}]), "services[0].minutes"),
        (
            visit(services=[{"code": "97110", "minutes": 20}, {"code": "97140", "minutes": "ten"}]),
            "services[1].minutes",
        ),
        (visit(services=[{"code": "99999", "minutes": 20}]), "services[0].code"),
        (visit(date="2026-02-30"), "date"),
        (json.dumps({k: v for k, v in GOOD_VISIT.items() if k != "payer"}).encode(), "payer"),
    ],
)
def test_a_bad_visit_is_a_422_naming_the_field(reader: Api, body: bytes, field: str) -> None:
    problem = assert_clean_problem(reader.post("/v1/scrub", content=body, headers=JSON), 422)
    assert problem["field"] == field and problem["title"] == "Invalid input"


def test_text_that_is_not_a_visit_is_a_422(reader: Api) -> None:
    for body in (b"", b"not json", b"[1, 2", b'{"id": "a", "id": "b"}'):
        assert_clean_problem(reader.post("/v1/scrub", content=body, headers=JSON), 422)


def test_a_problem_never_echoes_a_whole_bad_value(reader: Api) -> None:
    """A patient's name put in a code field is quoted by its first 24 characters at most."""
    body = visit(services=[{"code": "97110", "minutes": 30, "modifiers": ["Ana Diaz, born 1950-04-12"]}])
    response = reader.post("/v1/scrub", content=body, headers=JSON)
    assert response.status_code == 422
    assert "1950-04-12" not in response.text


def test_batch_scrub_streams_json_lines_in_order_with_line_errors(reader: Api) -> None:
    lines = example_lines("visits.jsonl")
    body = b"\n".join([lines[0], b"", b'{"id": "broken"', *lines[1:]]) + b"\n"
    response = reader.post("/v1/scrub/batch", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    out = [json.loads(line) for line in response.content.splitlines()]
    assert len(out) == len(lines) + 1
    assert out[1] == {"line": 3, "field": "", "error": out[1]["error"]} and out[1]["error"].startswith("line 3:")
    assert [result["id"] for result in out if "id" in result] == [json.loads(line)["id"] for line in lines]


# --- visits, patients -----------------------------------------------------------------------------------------


def test_post_a_visit_then_the_same_visit_again_is_a_409(api: Api) -> None:
    first = api.post("/v1/visits", content=visit(), headers=JSON)
    assert first.status_code == 201 and first.json()["posted"] is True
    assert first.json()["result"]["id"] == "api-1"
    before = api.rows()
    again = assert_clean_problem(api.post("/v1/visits", content=visit(), headers=JSON), 409)
    assert again["title"] == "Already done"
    assert api.rows() == before
    state = api.get("/v1/patients/P900").json()
    assert state["patient"] == "P900" and [entry["id"] for entry in state["visits"]] == ["api-1"]


def test_post_an_array_of_visits_each_by_itself(api: Api) -> None:
    body = json.dumps([json.loads(visit(id=f"arr-{n}", date=f"2026-06-0{n}")) for n in (1, 2)]).encode()
    response = api.post("/v1/visits", content=body, headers=JSON)
    assert response.status_code == 201
    assert [(item["id"], item["posted"]) for item in response.json()] == [("arr-1", True), ("arr-2", True)]
    again = api.post("/v1/visits", content=body, headers=JSON)
    assert again.status_code == 200
    assert [(item["posted"], item["problem"]) for item in again.json()] == [(False, "conflict")] * 2


def test_a_visit_with_error_findings_is_answered_not_posted(api: Api) -> None:
    demo_3 = example_lines("visits.jsonl")[2]  # B001: an error finding
    before = api.rows()
    response = api.post("/v1/visits", content=demo_3, headers=JSON)
    assert response.status_code == 200
    assert response.json()["posted"] is False and response.json()["reason"]
    assert api.rows() == before


def test_a_bad_visit_in_an_array_posts_none_of_them(api: Api) -> None:
    good, bad = json.loads(visit(id="ok-1")), json.loads(visit(id="bad-1", services=[{"code": "97110", "minutes": -1}]))
    before = api.rows()
    problem = assert_clean_problem(api.post("/v1/visits", content=json.dumps([good, bad]).encode(), headers=JSON), 422)
    assert problem["field"] == "[1].services[0].minutes"
    jsonl = visit(id="ok-2") + b"\n" + json.dumps(bad).encode() + b"\n"
    problem = assert_clean_problem(api.post("/v1/visits", content=jsonl, headers=JSON), 422)
    assert (problem["field"], problem["line"]) == ("services[0].minutes", 2)
    assert api.rows() == before


def test_an_unknown_patient_is_a_404(api: Api) -> None:
    assert assert_clean_problem(api.get("/v1/patients/P404"), 404)["detail"].startswith("patient 'P404'")


# --- claims, remittances, denials, reports --------------------------------------------------------------------


def test_claims_build_list_and_fetch(api: Api) -> None:
    posted = posted_claims_and_835(api)
    batch = posted["batch"]
    number = batch["control_number"]
    assert number == batch["report"]["interchange_control_number"] and batch["report"]["written"] >= 1
    listed = api.get("/v1/claims").json()
    assert [item["control_number"] for item in listed["items"]] == [number] and listed["next"] is None
    x837 = api.get(f"/v1/claims/{number}/837p")
    assert x837.status_code == 200 and x837.headers["content-type"].startswith("text/plain")
    assert x837.headers["content-disposition"] == f'attachment; filename="claims-{number:09d}.x12"'
    assert x837.text.startswith("ISA*") and "CLM*clm-1*" in x837.text
    forms = api.get(f"/v1/claims/{number}/cms1500")
    assert forms.headers["content-type"] == "application/json" and isinstance(forms.json(), list)
    assert_clean_problem(api.get(f"/v1/claims/{number + 1}/837p"), 404)


def test_building_the_same_claims_again_sends_nothing(api: Api) -> None:
    first = api.post("/v1/claims", content=example("claims.jsonl"))
    assert first.status_code == 201
    before = api.rows()
    second = api.post("/v1/claims", content=example("claims.jsonl"))
    assert second.status_code == 200
    assert second.json()["control_number"] is None and second.json()["report"]["already_sent"]
    assert api.rows()["interchanges"] == before["interchanges"]


def test_a_remittance_posts_once_as_a_raw_body_or_a_multipart_file(api: Api) -> None:
    posted = posted_claims_and_835(api)["remittance"]
    assert "clm-1" in posted["posting"]["posted"]
    assert posted["remittance"]["total_paid"] == 147.53
    before = api.rows()
    files = {"file": ("remit.835", example("remit.835"), "application/edi-x12")}
    again = assert_clean_problem(api.post("/v1/remittances", files=files), 409)
    assert "posted before" in again["detail"]
    assert api.rows() == before
    listed = api.get("/v1/remittances").json()
    assert [item["claims"] for item in listed["items"]] == [1]


def test_a_multipart_upload_is_posted(api: Api) -> None:
    files = {"file": ("remit.835", example("remit.835"), "application/edi-x12")}
    response = api.post("/v1/remittances", files=files)
    assert response.status_code == 201, response.text
    assert_clean_problem(api.post("/v1/remittances", files={"other": ("x", b"ISA", "text/plain")}), 422)


def test_an_835_that_does_not_balance_is_not_posted_and_lists_its_imbalances(api: Api) -> None:
    unbalanced = example("remit.835").replace(b"BPR*I*147.53*", b"BPR*I*150.00*")
    before = api.rows()
    problem = assert_clean_problem(api.post("/v1/remittances", content=unbalanced), 422)
    assert problem["imbalances"] and problem["imbalances"][0]["level"] == "transaction"
    assert api.rows() == before
    checked = api.post("/v1/remittances/check", content=unbalanced, role="viewer")
    assert checked.status_code == 200 and checked.json()["imbalances"] == problem["imbalances"]


def test_an_unreadable_835_is_a_422_naming_the_segment(api: Api) -> None:
    before = api.rows()
    problem = assert_clean_problem(api.post("/v1/remittances", content=b"ISA*00*garbage~"), 422)
    assert problem["detail"]
    cut = example("remit.835")[:600]
    assert_clean_problem(api.post("/v1/remittances", content=cut), 422)
    assert api.rows() == before


def test_the_denials_worklist_filters_and_pages(api: Api) -> None:
    posted_claims_and_835(api)
    everything = api.get("/v1/denials").json()
    assert everything["total"] >= 1 and everything["items"]
    item = everything["items"][0]
    assert item["next_step"]
    assert api.get("/v1/denials", params={"payer": "nobody"}).json()["total"] == 0
    assert api.get("/v1/denials", params={"until": "2020-01-01"}).json()["total"] == 0
    assert api.get("/v1/denials", params={"reason": "CO-97"}).json()["total"] >= 1
    page = api.get("/v1/denials", params={"limit": 1, "offset": 0}).json()
    assert len(page["items"]) == 1 and page["limit"] == 1
    assert_clean_problem(api.get("/v1/denials", params={"status": "whatever"}), 422)


def test_reports(api: Api) -> None:
    posted_claims_and_835(api)
    denials = api.get("/v1/reports/denials").json()
    assert {(row["group"], row["reason"]) for row in denials["rows"]} >= {("CO", "97")}
    assert "rows" in api.get("/v1/reports/paid", params={"since": "2026-01-01"}).json()
    underpaid = api.get("/v1/reports/underpaid", params={"tolerance": "0.01", "limit": 5}).json()
    assert underpaid["limit"] == 5 and underpaid["total"] >= len(underpaid["lines"])
    aging = api.get("/v1/reports/aging", params={"as_of": "2026-07-01"}).json()
    assert aging["as_of"] == "2026-07-01" and aging["total"]["claims"] >= 1
    timely = api.get("/v1/reports/timely-filing", params={"as_of": "2026-07-01", "within_days": 400}).json()
    assert timely["within_days"] == 400
    assert_clean_problem(api.get("/v1/reports/underpaid", params={"tolerance": "-1"}), 422)
    assert_clean_problem(
        api.get("/v1/reports/timely-filing", params={"as_of": "2026-07-01", "within_days": 99999}), 422
    )


def test_lists_are_paged_with_a_next_link(api: Api) -> None:
    for n in range(3):
        api.post("/v1/tokens", content=json.dumps({"name": f"t{n}"}).encode(), headers=JSON)
    first = api.get("/v1/audit", "admin", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next"] == "/v1/audit?limit=2&offset=2"
    second = api.get(first["next"], "admin").json()
    assert second["offset"] == 2 and {e["id"] for e in second["items"]}.isdisjoint({e["id"] for e in first["items"]})
    last = api.get("/v1/audit", "admin", params={"limit": 2, "offset": 1000}).json()
    assert last["items"] == [] and last["next"] is None


# --- limits -----------------------------------------------------------------------------------------------------


@pytest.fixture
def small_api(ledger_url: str, tmp_path: Path, data_dir: Path) -> Iterator[Api]:
    with running_api(ledger_url, tmp_path, max_upload_bytes=4096, max_visits_per_request=2) as running:
        yield running


def test_an_upload_over_the_limit_is_a_413_and_nothing_is_processed(small_api: Api) -> None:
    api = small_api
    before = api.rows()
    big = visit(note="x" * 5000)
    problem = assert_clean_problem(api.post("/v1/visits", content=big, headers=JSON), 413)
    assert problem["title"] == "Too large" and "4096" in problem["detail"]
    remittance = example("remit.835") * 8
    assert_clean_problem(api.post("/v1/remittances", content=remittance), 413)
    assert_clean_problem(api.post("/v1/remittances", files={"file": ("r.835", remittance, "text/plain")}), 413)

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield big[:3000]
        yield big[3000:]

    response = api.post("/v1/visits", content=chunked(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_clean_problem(response, 413)
    assert api.rows() == before


def test_more_visits_than_the_limit_is_a_413_and_nothing_is_processed(small_api: Api) -> None:
    api = small_api
    before = api.rows()
    three = [json.loads(visit(id=f"v{n}")) for n in range(3)]
    assert_clean_problem(api.post("/v1/visits", content=json.dumps(three).encode(), headers=JSON), 413)
    jsonl = b"\n".join(json.dumps(v).encode() for v in three)
    assert assert_clean_problem(api.post("/v1/claims", content=jsonl), 413)["line"] == 3
    assert_clean_problem(api.post("/v1/scrub/batch", content=jsonl), 413)
    assert api.rows() == before
    assert api.post("/v1/visits", content=json.dumps(three[:2]).encode(), headers=JSON).status_code == 201


def test_a_slow_answer_is_a_504_but_a_stream_is_not_cut(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow() -> list[rules.RuleDoc]:
        time.sleep(0.6)
        return []

    def slow_lines(_reference: Any, *, lines: list[bytes]) -> Iterator[bytes]:
        for line in filter(None, lines):
            time.sleep(0.15)
            yield line + b"\n"

    monkeypatch.setattr(rules, "list_rules", slow)
    monkeypatch.setattr(scrub_routes, "scrub_lines", slow_lines)
    with running_api(f"sqlite:///{tmp_path / 'l.sqlite3'}", tmp_path, request_timeout_seconds=0.2) as api:
        started = time.monotonic()
        problem = assert_clean_problem(api.get("/v1/rules"), 504)
        assert "0.2 s" in problem["detail"] and time.monotonic() - started >= 0.2
        assert api.get("/v1/payers").status_code == 200  # the server goes on
        streamed = api.post("/v1/scrub/batch", content=b"{}\n{}\n{}\n")
        assert streamed.status_code == 200 and streamed.content == b"{}\n{}\n{}\n"


def test_an_unexpected_failure_is_a_generic_500_logged_without_its_message(
    sqlite_api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[rules.RuleDoc]:
        raise RuntimeError("Ana Diaz 1950-04-12 1EG4TE5MK73")

    monkeypatch.setattr(rules, "list_rules", broken)
    with caplog.at_level(logging.INFO, logger="rehabclaim"):
        response = sqlite_api.get("/v1/rules")
    problem = assert_clean_problem(response, 500)
    assert "RuntimeError" not in problem["detail"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError" in logged and "GET /v1/rules 500" in logged
    for value in PATIENT_DATA:
        assert value not in logged


def test_the_access_log_has_route_templates_not_values_or_query_strings(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="rehabclaim"):
        api.post("/v1/visits", content=visit(patient={"id": "P900"}), headers=JSON)
        api.get("/v1/patients/P900", params={"date": "2026-06-01"})
        api.get("/v1/patients/SECRET-ID")
    lines = [record.getMessage() for record in caplog.records if record.name == "rehabclaim.api.access"]
    assert lines[0].startswith("POST /v1/visits 201 ")
    assert lines[1].startswith("GET /v1/patients/{patient_id} 200 ")
    assert lines[2].startswith("GET /v1/patients/{patient_id} 404 ")
    assert not any("P900" in line or "SECRET" in line or "date=" in line for line in lines)


# --- errors write nothing ---------------------------------------------------------------------------------------


def test_no_refused_request_writes_anything(api: Api) -> None:
    assert api.post("/v1/visits", content=visit(), headers=JSON).status_code == 201
    before = api.rows()
    refused = [
        api.post("/v1/visits", content=visit(), headers=JSON),  # 409
        api.post("/v1/visits", content=visit(id="x", services=[{"code": "97110", "minutes": "x"}]), headers=JSON),
        api.post("/v1/claims", content=b'{"id": 1}'),
        api.post("/v1/claims", content=b"[]"),
        api.post("/v1/remittances", content=b"not an 835"),
        api.post("/v1/visits", "viewer", content=visit(id="y"), headers=JSON),
        api.client.post("/v1/visits", content=visit(id="z"), headers=JSON),
    ]
    assert [response.status_code for response in refused] == [409, 422, 422, 422, 422, 403, 401]
    assert api.rows() == before


# --- reload, documentation, settings -------------------------------------------------------------------------


def test_reload_reads_drop_in_files_and_a_bad_one_keeps_the_reference(
    sqlite_api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = sqlite_api
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(rules_dir))
    in_use = api.app.state.reference
    medicare = (Path(__file__).parents[1] / "src/rehabclaim/data/payers/medicare.toml").read_text()
    drop(rules_dir, "payers/acme_health.toml", medicare.replace('key = "medicare"', 'key = "acme_health"'))
    reloaded = api.post("/v1/admin/reload", "admin")
    assert reloaded.status_code == 200, reloaded.text
    assert "acme_health" in reloaded.json()["payers"]
    assert "acme_health" in {payer["key"] for payer in api.get("/v1/payers").json()}
    assert api.app.state.reference is not in_use
    current = api.app.state.reference
    drop(rules_dir, "payers/broken.toml", "this is [not toml")
    problem = assert_clean_problem(api.post("/v1/admin/reload", "admin"), 422)
    assert "broken.toml" in problem["detail"]
    assert api.app.state.reference is current
    assert "acme_health" in {payer["key"] for payer in api.get("/v1/payers").json()}


def test_openapi_and_docs_for_a_signed_in_caller(reader: Api) -> None:
    spec = reader.get("/openapi.json").json()
    assert spec["info"]["title"] == "rehabclaim" and spec["info"]["version"] == "0.1.0"
    assert {"/v1/scrub", "/v1/scrub/batch", "/v1/visits", "/v1/claims/{control_number}/837p"} <= set(spec["paths"])
    scrub_doc = spec["paths"]["/v1/scrub"]["post"]
    assert scrub_doc["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScrubResult"
    }
    assert "Visit" in spec["components"]["schemas"] and "Problem" in spec["components"]["schemas"]
    assert "HTTPBearer" in json.dumps(spec["components"]["securitySchemes"])
    assert "swagger" in reader.get("/docs").text.lower()


def test_the_session_secret_is_made_once_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHABCLAIM_SECRET_KEY", raising=False)
    first = session_secret(ServerSettings())
    path = tmp_path / "data" / "secret-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert session_secret(ServerSettings()) == first and len(first) >= api_settings.MIN_SECRET
    assert [p.name for p in path.parent.iterdir()] == ["secret-key"]  # no temporary left
    monkeypatch.setenv("REHABCLAIM_SECRET_KEY", "k" * 40)
    assert session_secret(ServerSettings()) == "k" * 40
    monkeypatch.setenv("REHABCLAIM_SECRET_KEY", "short")
    with pytest.raises(SecretKeyError):
        session_secret(ServerSettings())


def test_a_secret_key_file_written_meanwhile_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two servers starting together: the key file linked first is the one both use."""
    path = tmp_path / "secret-key"
    real_link = os.link

    def other_server_first(source: Any, target: Any) -> None:
        Path(target).write_text("theirs-" + "x" * 40 + "\n")
        real_link(source, target)

    monkeypatch.setattr(os, "link", other_server_first)
    assert stored_secret(path) == "theirs-" + "x" * 40
    assert [p.name for p in tmp_path.iterdir()] == ["secret-key"]


def test_settings_refuse_impossible_limits() -> None:
    with pytest.raises(ValueError, match="page_size"):
        ServerSettings(page_size_default=600, page_size_max=500)
    with pytest.raises(ValueError, match="max_upload_bytes"):
        ServerSettings(max_upload_bytes=0)
    assert dataclasses.replace(ServerSettings(), max_visits_per_request=5).max_visits_per_request == 5


# --- rehabclaim serve ------------------------------------------------------------------------------------------


def test_serve_prints_the_first_admin_password_once(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from rehabclaim.cli.main import app as cli

    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append({"app": app, **options}))
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    first = CliRunner().invoke(cli, ["serve", "--database-url", url, "--port", "8123"])
    assert first.exit_code == 0, first.output
    assert "first start: user admin, one-time password " in first.stdout
    password = first.stdout.split("one-time password ")[1].split()[0]
    assert served[0]["port"] == 8123 and served[0]["host"] == "127.0.0.1" and served[0]["access_log"] is False
    assert served[0]["app"].state.settings.secure_cookies is False
    admin = accounts.authenticate(served[0]["app"].state.database, name="admin", password=password, address="test")
    assert admin.role == "admin"
    second = CliRunner().invoke(cli, ["serve", "--database-url", url, "--secure-cookies", "--host", "0.0.0.0"])
    assert second.exit_code == 0 and "one-time password" not in second.stdout
    assert served[1]["app"].state.settings.secure_cookies is True


def test_serve_refuses_a_ledger_it_cannot_open(tmp_path: Path, data_dir: Path) -> None:
    from rehabclaim.cli.main import app as cli

    result = CliRunner().invoke(cli, ["serve", "--database-url", "nonsense://"])
    assert result.exit_code == 2 and "--database-url" in result.stderr and "Traceback" not in result.output
