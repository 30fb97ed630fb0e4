"""The billing pages (rehabclaim.web.billing) through the whole application, logged in through the login form:
claims (build from the bundled examples, held-back visits, the 837P download), remittances (postings, the
second upload refused with its message), the denials filters, the reports' data blocks against the report
service, the audit trail for admins only, and what a viewer may see and do; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from rehabclaim.api.app import create_app
from rehabclaim.api.settings import ServerSettings
from rehabclaim.services import claims, reports, visits
from rehabclaim.services.accounts import SYSTEM, add_user
from rehabclaim.services.actor import Actor
from rehabclaim.services.scrub import read_visits
from tests.api_support import PATIENT_DATA, ROLES, SECRET, cheap_passwords, example

__all__ = ["cheap_passwords"]  # an autouse fixture, imported to be in use here

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
AS_OF = "2026-07-01"  # after every example's date of service


@dataclass
class Site:
    """The application and one browser-like client per role, each logged in through the login form."""

    app: Any
    clients: dict[str, TestClient]

    @property
    def database(self) -> Any:
        return self.app.state.database

    @property
    def reference(self) -> Any:
        return self.app.state.reference

    def get(self, path: str, role: str = "biller", **kwargs: Any) -> httpx.Response:
        answer: httpx.Response = self.clients[role].get(path, **kwargs)
        return answer

    def post(self, path: str, role: str = "biller", *, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        """A form post as the page makes it: with the session's CSRF token (read from the page) unless ``csrf``
        is False."""
        data = dict(kwargs.pop("data", {}))
        if csrf:
            data["csrf_token"] = token(self.get("/", role))
        answer: httpx.Response = self.clients[role].post(path, data=data, **kwargs)
        return answer

    def build_examples(self) -> httpx.Response:
        upload = {"visits_file": ("claims.jsonl", example("claims.jsonl"), "application/x-ndjson")}
        return self.post("/claims", files=upload)

    def post_example_visits(self) -> None:
        """The examples posted to the ledger (as the visit page posts them), so reports know their dates."""
        actor = Actor(user="biller", role="biller", channel="web")
        for visit in read_visits(example("claims.jsonl"), reference=self.reference):
            visits.post_visit(self.database, reference=self.reference, visit=visit, actor=actor)

    def upload_835(self, role: str = "biller", **kwargs: Any) -> httpx.Response:
        upload = {"remittance_file": ("remit.835", example("remit.835"), "text/plain")}
        return self.post("/remittances", role, files=upload, **kwargs)


def token(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return unescape(found.group(1))


def tagged(page: httpx.Response, name: str) -> list[str]:
    """The opening tags that carry ``data-testid="name"``."""
    return re.findall(rf'<[^>]*data-testid="{re.escape(name)}"[^>]*>', page.text)


def attribute(tag: str, name: str) -> str:
    found = re.search(rf'{re.escape(name)}="([^"]*)"', tag)
    assert found, (name, tag)
    return unescape(found.group(1))


def json_block(page: httpx.Response, block_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{block_id}"[^>]*>(.*?)</script>', page.text, re.S)
    assert found, f"no data block {block_id}"
    return json.loads(found.group(1), parse_float=Decimal)


@pytest.fixture
def site(ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    app = create_app(ServerSettings(database_url=ledger_url, secret_key=SECRET))
    clients: dict[str, TestClient] = {}
    for role in ROLES:
        add_user(app.state.database, name=role, role=role, password=PASSWORD, actor=SYSTEM)
    try:
        for role in ROLES:
            client = TestClient(app, raise_server_exceptions=False).__enter__()
            clients[role] = client
            login = client.post(
                "/login",
                data={"name": role, "password": PASSWORD, "next": "/", "csrf_token": token(client.get("/login"))},
            )
            assert login.status_code == 200 and login.url.path == "/", login.text
        yield Site(app, clients)
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)


# --- claims ---------------------------------------------------------------------------------------------------------


def test_building_the_examples_shows_held_back_visits_and_a_download(site: Site) -> None:
    page = site.build_examples()
    assert page.status_code == 200, page.text
    (summary,) = tagged(page, "claim-summary")
    assert attribute(summary, "data-written") == "2" and attribute(summary, "data-held-back") == "1"
    held = [attribute(tag, "data-visit") for tag in tagged(page, "claim-held-visit")]
    assert held == ["clm-3"]  # no claim data: held back by X001
    assert '<a href="/rules/X001" data-testid="finding-rule">X001' in page.text

    (link,) = tagged(page, "claim-download")
    control_number = int(attribute(summary, "data-control-number"))
    assert attribute(link, "href") == f"/claims/{control_number}/837p"
    download = site.get(attribute(link, "href"))
    assert download.status_code == 200
    assert download.text.startswith("ISA*")
    assert download.headers["content-disposition"] == f'attachment; filename="claims-{control_number:09d}.x12"'
    assert download.headers["cache-control"] == "no-store"
    assert download.text == claims.claim_batch(site.database, control_number=control_number).x837

    listed = site.get("/claims")  # the earlier batches, with the same link, for every role
    for role in ROLES:
        rows = tagged(site.get("/claims", role), "claim-batch-row")
        assert [attribute(row, "data-control-number") for row in rows] == [str(control_number)]
    assert f'href="/claims/{control_number}/837p"' in listed.text
    stored = site.get(f"/claims/{control_number}", "viewer")
    assert stored.status_code == 200 and tagged(stored, "claim-download")


def test_pasted_visits_build_and_a_bad_line_builds_nothing(site: Site) -> None:
    lines = example("claims.jsonl").decode().splitlines()
    bad = site.post("/claims", data={"visits_text": lines[0] + "\n" + '{"id": "x", "services": "no"}\n'})
    assert bad.status_code == 422
    (problem,) = tagged(bad, "claim-problem")
    assert "line 2:" in bad.text and attribute(problem, "data-status") == "422"
    assert lines[0] in unescape(bad.text)  # what was pasted is kept in the form
    assert claims.list_claim_batches(site.database, limit=10, offset=0) == []

    pasted = site.post("/claims", data={"visits_text": lines[1]})
    (summary,) = tagged(pasted, "claim-summary")
    assert attribute(summary, "data-written") == "1" and attribute(summary, "data-held-back") == "0"
    empty = site.post("/claims", data={"visits_text": "  "})
    assert empty.status_code == 422 and tagged(empty, "claim-problem")


def test_htmx_build_answers_the_outcome_and_the_list_out_of_band(site: Site) -> None:
    upload = {"visits_file": ("claims.jsonl", example("claims.jsonl"), "application/x-ndjson")}
    page = site.post("/claims", files=upload, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "<html" not in page.text
    assert tagged(page, "claim-summary") and tagged(page, "claim-download")
    (batches,) = tagged(page, "claim-batches")
    assert 'hx-swap-oob="true"' in batches and len(tagged(page, "claim-batch-row")) == 1


# --- remittances ----------------------------------------------------------------------------------------------------


def test_uploading_an_835_shows_postings_and_the_second_upload_the_refusal(site: Site) -> None:
    site.build_examples()  # clm-1 was sent: the 835 pays it
    first = site.upload_835()
    assert first.status_code == 200, first.text
    assert len(tagged(first, "remit-posted")) == 1
    rows = tagged(first, "remit-posting")
    assert [attribute(row, "data-visit") for row in rows] == ["clm-1"]
    assert "$147.53" in first.text and "$36.87" in first.text  # paid, and the patient's responsibility
    assert "posted</span>" in first.text and tagged(first, "remit-balanced")

    second = site.upload_835()
    assert second.status_code == 409
    assert "<h1>Remittances</h1>" in second.text  # the page, not an error page
    (refused,) = tagged(second, "remit-refused")
    assert attribute(refused, "data-status") == "409"
    assert "posted before" in second.text and not tagged(second, "remit-posted")
    assert len(tagged(site.get("/remittances", "viewer"), "remit-list-row")) == 1

    htmx = site.upload_835(headers={"HX-Request": "true"})
    assert htmx.status_code == 409 and "<html" not in htmx.text and tagged(htmx, "remit-refused")


def test_an_unreadable_835_is_named_and_nothing_is_posted(site: Site) -> None:
    upload = {"remittance_file": ("remit.835", b"ISA*00*garbled", "text/plain")}
    page = site.post("/remittances", files=upload)
    assert page.status_code == 422
    assert tagged(page, "remit-problem") and not tagged(page, "remit-list-row")
    missing = site.post("/remittances", files={"remittance_file": ("", b"", "application/octet-stream")})
    assert missing.status_code == 422 and "choose an 835 file" in missing.text


# --- denials --------------------------------------------------------------------------------------------------------


def test_denials_filters_narrow_the_worklist(site: Site) -> None:
    site.post_example_visits()
    site.build_examples()
    site.upload_835()

    def items(query: str) -> list[str]:
        page = site.get(f"/denials{query}", "viewer")
        assert page.status_code == 200, page.text
        (count,) = tagged(page, "denials-count")
        found = [attribute(tag, "data-reason") for tag in tagged(page, "denial-item")]
        assert int(attribute(count, "data-total")) == len(found)
        return found

    everything = items("")
    assert len(everything) == 5 and set(everything) == {"PR-2", "CO-97"}
    assert items("?reason=97") == ["CO-97"]
    assert items("?status=denial") == ["CO-97"]
    assert items("?payer=medicare&status=patient") == ["PR-2"] * 4
    assert items("?payer=another+payer") == []
    assert items("?since=2026-06-01&until=2026-06-01") == everything  # clm-1's date of service
    assert items("?since=2026-06-02") == []
    page = site.get("/denials?reason=97&status=denial")
    assert "correct and resubmit" in page.text  # the next step
    assert 'value="97"' in page.text  # the filters are shown back

    bad = site.get("/denials?since=June")
    assert bad.status_code == 422
    assert len(tagged(bad, "denials-problem")) == 1
    assert 'href="#denials-since"' in bad.text and "since" in unescape(bad.text)


def test_denials_pages(site: Site) -> None:
    site.build_examples()
    site.upload_835()
    site.app.state.settings = dataclasses.replace(site.app.state.settings, page_size_default=2)
    first = site.get("/denials")
    assert len(tagged(first, "denial-item")) == 2
    (following,) = tagged(first, "denials-pager-next")
    last = site.get(unescape(attribute(following, "href")))
    assert len(tagged(last, "denial-item")) == 2 and tagged(last, "denials-pager-previous")
    third = site.get("/denials?page=3")
    assert len(tagged(third, "denial-item")) == 1 and not tagged(third, "denials-pager-next")


# --- reports --------------------------------------------------------------------------------------------------------


def test_reports_hold_the_figures_the_report_service_gives(site: Site) -> None:
    site.post_example_visits()
    site.build_examples()
    site.upload_835()

    page = site.get(f"/reports?as_of={AS_OF}&within_days=400", "viewer")
    assert page.status_code == 200, page.text
    charts = json_block(page, "report-charts")
    denied = reports.denials_by_reason_and_payer(site.database, reference=site.reference)
    assert charts["denials"]["labels"] == [f"{row.group}-{row.reason}" for row in denied.rows]
    for dataset in charts["denials"]["datasets"]:
        expected = {f"{row.group}-{row.reason}": row.amount for row in denied.rows if row.payer == dataset["label"]}
        assert dict(zip(charts["denials"]["labels"], dataset["data"], strict=True)) == {
            label: expected.get(label, Decimal(0)) for label in charts["denials"]["labels"]
        }
    aging = reports.ar_aging(site.database, as_of=date.fromisoformat(AS_OF))
    assert aging.rows, "clm-2 was sent and not paid: it is open"
    assert charts["aging"]["labels"] == [row.payer for row in aging.rows]
    for index, dataset in enumerate(charts["aging"]["datasets"]):
        assert dataset["data"] == [row.buckets[index].balance for row in aging.rows]
    assert f"{aging.total.balance:,.2f}" in page.text  # the same figure in text beside the chart

    paid = reports.paid_against_expected(site.database, reference=site.reference)
    assert paid.rows
    shown = {
        (attribute(tag, "data-payer"), attribute(tag, "data-code")): attribute(tag, "data-average-paid")
        for tag in tagged(page, "report-paid-row")
    }
    assert shown == {(row.payer, row.code): str(row.average_paid_per_unit) for row in paid.rows}
    timely = [attribute(tag, "data-visit") for tag in tagged(page, "report-timely-row")]
    assert "clm-3" in timely  # posted, never sent
    for chart in ("chart-denials", "chart-aging"):
        assert tagged(page, chart)
    assert '<script src="/static/reports.js" defer></script>' in page.text
    assert site.get("/static/reports.js").status_code == 200
    for value in PATIENT_DATA[:3]:  # ids only: no patient's name in a report
        assert value not in page.text


def test_reports_refuse_bad_dates_on_the_page(site: Site) -> None:
    page = site.get("/reports?since=2026-06-10&until=2026-06-01&as_of=2026-07-01")
    assert page.status_code == 422
    assert tagged(page, "reports-problem") and 'id="report-charts"' not in page.text
    assert site.get("/reports?as_of=soon").status_code == 422


# --- audit and roles ------------------------------------------------------------------------------------------------


def test_audit_is_for_admins(site: Site) -> None:
    site.build_examples()
    assert site.get("/audit", "biller").status_code == 403
    assert site.get("/audit", "viewer").status_code == 403
    page = site.get("/audit", "admin")
    assert page.status_code == 200
    events = tagged(page, "audit-event")
    newest = events[0]
    assert (attribute(newest, "data-action"), attribute(newest, "data-user")) == ("claims.build", "biller")
    site.upload_835()
    site.app.state.settings = dataclasses.replace(site.app.state.settings, page_size_default=1)
    first = site.get("/audit", "admin")
    assert [attribute(tag, "data-action") for tag in tagged(first, "audit-event")] == ["remittance.post"]
    (following,) = tagged(first, "audit-pager-next")
    second = site.get(unescape(attribute(following, "href")), "admin")
    assert [attribute(tag, "data-action") for tag in tagged(second, "audit-event")] == ["claims.build"]


def test_a_viewer_sees_no_forms_and_cannot_post(site: Site) -> None:
    for path, form in (("/claims", "claim-build-form"), ("/remittances", "remit-upload-form")):
        viewer = site.get(path, "viewer")
        assert viewer.status_code == 200 and not tagged(viewer, form) and tagged(viewer, "read-only-note")
        assert tagged(site.get(path, "biller"), form)
    upload = {"visits_file": ("claims.jsonl", example("claims.jsonl"), "application/x-ndjson")}
    assert site.post("/claims", "viewer", files=upload).status_code == 403
    assert site.upload_835("viewer").status_code == 403
    assert claims.list_claim_batches(site.database, limit=10, offset=0) == []


def test_every_form_post_needs_the_csrf_token(site: Site) -> None:
    upload = {"visits_file": ("claims.jsonl", example("claims.jsonl"), "application/x-ndjson")}
    assert site.post("/claims", csrf=False, files=upload).status_code == 403
    assert site.upload_835(csrf=False).status_code == 403
    assert claims.list_claim_batches(site.database, limit=10, offset=0) == []
    for path in ("/claims", "/remittances"):
        page = site.get(path)
        forms = re.findall(r'<form[^>]*method="post"', page.text)
        assert len(forms) == len(re.findall(r'name="csrf_token"', page.text))


def test_pages_need_a_login(site: Site) -> None:
    with TestClient(site.app) as anonymous:
        for path in ("/claims", "/remittances", "/denials", "/reports", "/audit", "/claims/1/837p"):
            answer = anonymous.get(path, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
    assert site.get("/claims/999/837p").status_code == 404
