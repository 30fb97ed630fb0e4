"""The Imports page (rehabclaim.web.imports) through the whole application, logged in through the login form:
a FHIR Bundle's visits shown with their scrub (the same as the scrub service's) and its unmapped items; XR
sessions attached, not attached and ambiguous with their reasons; the downloads equal to what the CLI
writes; bad files refused with a message naming the input; no patient name on the page; CSRF required.
Imports touch no ledger: SQLite only."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rehabclaim.api.app import create_app
from rehabclaim.api.settings import ServerSettings
from rehabclaim.cli.main import app as cli
from rehabclaim.services.accounts import SYSTEM, add_user
from rehabclaim.services.fhir import import_bundle
from rehabclaim.services.scrub import scrub_visit
from tests.api_support import SECRET, cheap_passwords

__all__ = ["cheap_passwords"]  # an autouse fixture, imported to be in use here

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FHIR = Path(__file__).parent / "fixtures" / "fhir"
XR = Path(str(resources.files("rehabclaim.data").joinpath("examples/xr")))
# The fixture bundles' patients and practitioners by name, and their member ids: never on the page.
Answer = Any  # the Response of httpx or httpx2, whichever Starlette's TestClient uses
NAMES = ("Rivera", "Maria", "Williams", "Garcia", "Johnson", "Nguyen", "Okafor", "Daniel", "1EG4TE5MK73")


def token(page: Answer) -> str:
    found = CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return unescape(found.group(1))


def tagged(page: Answer, name: str) -> list[str]:
    """The opening tags that carry ``data-testid="name"``."""
    return re.findall(rf'<[^>]*data-testid="{re.escape(name)}"[^>]*>', page.text)


def attribute(tag: str, name: str) -> str:
    found = re.search(rf'{re.escape(name)}="([^"]*)"', tag)
    assert found, (name, tag)
    return unescape(found.group(1))


class Site:
    def __init__(self, app: Any, client: TestClient) -> None:
        self.app = app
        self.client = client

    def post(self, path: str, files: dict[str, Any], *, csrf: bool = True, **kwargs: Any) -> Answer:
        data = {"csrf_token": token(self.client.get("/imports"))} if csrf else {}
        answer: Answer = self.client.post(path, data=data, files=files, **kwargs)
        return answer

    def bundle(self, name: str, path: str = "/imports/fhir", **kwargs: Any) -> Answer:
        return self.post(path, {"bundle_file": (name, (FHIR / name).read_bytes(), "application/json")}, **kwargs)

    def xr(self, sessions: str, path: str = "/imports/xr", visits: bytes | None = None, **kwargs: Any) -> Answer:
        files = {
            "sessions_file": (sessions, (XR / sessions).read_bytes(), "application/json"),
            "visits_file": ("visits.jsonl", visits or (XR / "visits.jsonl").read_bytes(), "application/x-ndjson"),
        }
        return self.post(path, files, **kwargs)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHABCLAIM_RULES_DIR", raising=False)
    app = create_app(ServerSettings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}", secret_key=SECRET))
    add_user(app.state.database, name="biller", role="biller", password=PASSWORD, actor=SYSTEM)
    with TestClient(app, raise_server_exceptions=False) as client:
        login = client.post(
            "/login",
            data={"name": "biller", "password": PASSWORD, "next": "/", "csrf_token": token(client.get("/login"))},
        )
        assert login.status_code == 200 and login.url.path == "/", login.text
        yield Site(app, client)


def cli_out(*args: str) -> bytes:
    """What ``rehabclaim <args>`` writes to stdout (the visits, JSON Lines)."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code in (0, 1), result.output
    return result.stdout_bytes


# --- the page -----------------------------------------------------------------------------------------------


def test_the_page_is_linked_from_the_navigation_and_holds_both_forms(site: Site) -> None:
    home = site.client.get("/")
    (link,) = tagged(home, "nav-imports")
    assert attribute(link, "href") == "/imports"
    page = site.client.get("/imports")
    assert page.status_code == 200
    assert 'aria-current="page"' in tagged(page, "nav-imports")[0]
    assert tagged(page, "fhir-form") and tagged(page, "xr-form") and tagged(page, "fhir-empty")
    assert "<script>" not in page.text and "style=" not in page.text  # the CSP allows neither
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_logged_out_the_page_sends_to_the_login(site: Site) -> None:
    site.client.cookies.clear()
    answer = site.client.get("/imports", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


# --- FHIR -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(path.name for path in FHIR.glob("*.json")))
def test_a_bundles_visits_are_shown_scrubbed_without_patient_names(site: Site, name: str) -> None:
    page = site.bundle(name)
    assert page.status_code == 200, page.text
    reference = site.app.state.reference
    imported = import_bundle(reference, data=(FHIR / name).read_bytes())
    (summary,) = tagged(page, "fhir-summary")
    assert attribute(summary, "data-visits") == str(len(imported.visits))
    assert attribute(summary, "data-unmapped") == str(len(imported.unmapped))
    assert [attribute(tag, "data-visit") for tag in tagged(page, "fhir-visit")] == [v.id for v in imported.visits]
    for visit in imported.visits:  # each visit's patient id, date, codes, and the scrub's units per line
        assert visit.patient is not None and f'data-testid="fhir-visit-patient">{visit.patient.id}<' in page.text
        assert f'data-testid="fhir-visit-date">{visit.date.isoformat()}<' in page.text
        for service in visit.services:
            assert f'data-testid="import-service" data-code="{service.code}"' in page.text
        for line in scrub_visit(reference, visit=visit).lines:
            assert f'data-testid="scrub-line" data-code="{line.code}" data-units="{line.units}"' in page.text
    shown = [
        (attribute(tag, "data-resource"), attribute(tag, "data-path")) for tag in tagged(page, "fhir-unmapped-item")
    ]
    assert shown == [(item.resource_type, item.path) for item in imported.unmapped]
    for item in imported.unmapped:
        assert item.reason in unescape(page.text)
    for value in NAMES:
        assert value not in page.text, value


def test_the_messy_bundle_lists_what_was_not_mapped(site: Site) -> None:
    page = site.bundle("messy.json")
    assert len(tagged(page, "fhir-unmapped-item")) >= 3
    assert "period.start" in page.text and "performedDateTime" in page.text


def test_htmx_import_answers_the_outcome_alone(site: Site) -> None:
    page = site.bundle("pt-timed.json", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "<html" not in page.text and tagged(page, "fhir-summary") and tagged(page, "scrub-line")
    assert "hx-swap-oob" not in page.text  # the scrub partial's status line is the visit page's, not this one's


def test_the_bundles_visits_download_as_the_cli_writes_them(site: Site) -> None:
    download = site.bundle("pt-timed.json", "/imports/fhir/visits.jsonl")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="visits-fhir.jsonl"'
    assert download.headers["content-type"].startswith("application/x-ndjson")
    assert download.headers["cache-control"] == "no-store"
    assert download.content == cli_out("import", "fhir", str(FHIR / "pt-timed.json"))


def test_a_bad_bundle_shows_the_reason_naming_the_path(site: Site) -> None:
    bad = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Encounter"}}]}
    page = site.post("/imports/fhir", {"bundle_file": ("bad.json", json.dumps(bad).encode(), "application/json")})
    assert page.status_code == 422
    (problem,) = tagged(page, "fhir-problem")
    assert attribute(problem, "data-status") == "422"
    assert "entry[0]" in page.text and 'href="#fhir-bundle"' in page.text
    not_json = site.post("/imports/fhir", {"bundle_file": ("x.json", b"not json", "application/json")})
    assert not_json.status_code == 422 and tagged(not_json, "fhir-problem")
    download = site.post("/imports/fhir/visits.jsonl", {"bundle_file": ("x.json", b"[", "application/json")})
    assert download.status_code == 422 and "content-disposition" not in download.headers
    assert tagged(download, "fhir-problem")


def test_no_file_chosen_is_a_message(site: Site) -> None:
    page = site.post("/imports/fhir", {"bundle_file": ("", b"", "application/octet-stream")})
    assert page.status_code == 422 and "choose the FHIR R4 Bundle" in page.text


def test_without_the_csrf_token_nothing_is_read(site: Site) -> None:
    page = site.bundle("pt-timed.json", csrf=False)
    assert page.status_code == 403 and not tagged(page, "fhir-summary")


# --- XR ---------------------------------------------------------------------------------------------------------


def test_sessions_attached_and_not_attached_are_shown_with_reasons(site: Site) -> None:
    page = site.xr("sessions-match.jsonl")
    assert page.status_code == 200, page.text
    (summary,) = tagged(page, "xr-summary")
    assert int(attribute(summary, "data-attached")) >= 1
    attached = tagged(page, "xr-attached-session")
    assert attached and all(attribute(tag, "data-visit").startswith("xr-visit-") for tag in attached)

    missed = site.xr("sessions-no-match.jsonl")
    reasons = [attribute(tag, "data-reason") for tag in tagged(missed, "xr-unmatched-session")]
    assert reasons and all(reason.startswith("no-") for reason in reasons)

    twice = site.xr("sessions-match-twice.json")
    (ambiguous,) = tagged(twice, "xr-ambiguous-session")
    assert attribute(ambiguous, "data-reason") == "two-or-more-visits"
    assert "xr-visit-3" in twice.text and "xr-visit-4" in twice.text


def test_the_enriched_visits_download_as_the_cli_writes_them(site: Site) -> None:
    download = site.xr("sessions-match.jsonl", "/imports/xr/visits.jsonl")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="visits-xr.jsonl"'
    expected = cli_out("import", "xr", str(XR / "sessions-match.jsonl"), "--visits", str(XR / "visits.jsonl"))
    assert download.content == expected
    assert b'"sessions"' in download.content  # a session was attached as evidence


def test_a_bad_visits_file_names_the_input_and_the_line(site: Site) -> None:
    lines = (XR / "visits.jsonl").read_bytes().splitlines()
    bad = lines[0] + b'\n{"id": "x", "date": "2026-03-10"}\n'
    page = site.xr("sessions-match.jsonl", visits=bad)
    assert page.status_code == 422
    (problem,) = tagged(page, "xr-problem")
    assert attribute(problem, "data-status") == "422"
    assert 'href="#xr-visits"' in page.text and "line 2" in page.text
    broken = site.post(
        "/imports/xr",
        {
            "sessions_file": ("s.json", b'{"vendor": "V"}', "application/json"),
            "visits_file": ("visits.jsonl", (XR / "visits.jsonl").read_bytes(), "application/x-ndjson"),
        },
    )
    assert broken.status_code == 422 and 'href="#xr-sessions"' in broken.text


def test_one_clinician_with_two_patients_at_once_is_shown(site: Site) -> None:
    page = site.bundle("two-patients-overlap.json")
    assert page.status_code == 200, page.text
    rows = tagged(page, "fhir-overlap")
    assert [attribute(row, "data-minutes") for row in rows] == ["10", "10", "5", "5"]
    assert "09:10-09:20" in page.text and "97150" in page.text
    assert tagged(site.bundle("pt-timed.json"), "fhir-overlaps") == []
