"""The Imports page in a real browser (Playwright driving Debian's Chromium against ``rehabclaim serve``: the
``live_server`` fixture): a biller opens it from the navigation, uploads an EMR's FHIR Bundle and sees its
visit scrubbed (htmx swaps the outcome in, the page is not reloaded), downloads the visits as JSON Lines,
and attaches XR sessions to visits, seeing the one that fits two visits listed as ambiguous. No error
reaches the console (the Content-Security-Policy would report an inline script or style there)."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from playwright.sync_api import Page, expect

from rehabclaim.reference import load_reference
from rehabclaim.services.fhir import import_bundle
from rehabclaim.services.scrub import scrub_visit
from tests.browser_support import LiveServer
from tests.test_browser import chromium, log_in, window

__all__ = ["chromium", "window"]  # fixtures, imported to be in use here

FHIR = Path(__file__).parent / "fixtures" / "fhir"
XR = Path(str(resources.files("rehabclaim.data").joinpath("examples/xr")))


def test_biller_imports_a_bundle_and_sees_its_visit_scrubbed(
    live_server: LiveServer, window: Callable[[LiveServer], Page]
) -> None:
    page = window(live_server)
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    log_in(page, live_server)
    page.get_by_test_id("nav-imports").click()
    expect(page.get_by_role("heading", name="Imports", level=1)).to_be_visible()

    bundle = FHIR / "pt-timed.json"
    page.get_by_test_id("fhir-bundle").set_input_files(str(bundle))
    page.evaluate("document.body.dataset.marker = 'not reloaded'")
    page.get_by_role("button", name="Import and scrub").click()
    visit = page.get_by_test_id("fhir-visit")
    expect(visit).to_have_count(1)
    assert page.evaluate("document.body.dataset.marker") == "not reloaded"  # htmx swapped the outcome in

    reference = load_reference()
    (expected,) = import_bundle(reference, data=bundle.read_bytes()).visits
    assert expected.patient is not None
    expect(visit.get_by_test_id("fhir-visit-patient")).to_have_text(str(expected.patient.id))
    lines = visit.get_by_test_id("scrub-line")
    scrubbed = scrub_visit(reference, visit=expected)
    expect(lines).to_have_count(len(scrubbed.lines))
    for index, line in enumerate(scrubbed.lines):
        expect(lines.nth(index).get_by_test_id("line-units")).to_have_text(str(line.units))
    expect(page.get_by_test_id("fhir-outcome")).not_to_contain_text("Rivera")  # ids, never names

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the visits (.jsonl)").click()
    download = download_info.value
    assert download.suggested_filename == "visits-fhir.jsonl"
    saved = Path(download.path()).read_text()
    assert [json.loads(line)["id"] for line in saved.splitlines()] == [expected.id]

    page.get_by_test_id("xr-sessions").set_input_files(str(XR / "sessions-match-twice.json"))
    page.get_by_test_id("xr-visits").set_input_files(str(XR / "visits.jsonl"))
    page.get_by_role("button", name="Attach sessions").click()
    ambiguous = page.get_by_test_id("xr-ambiguous-session")
    expect(ambiguous).to_have_count(1)
    expect(ambiguous).to_contain_text("xr-visit-3")
    assert not console_errors, console_errors
