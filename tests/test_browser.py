"""The billers' web page in a real browser: Playwright driving Debian's Chromium headless against the real
server (``rehabclaim serve`` in a subprocess: the ``live_server`` fixtures), on SQLite and on PostgreSQL.

A biller logs in, enters a visit and sees its units and findings appear as they type (each finding's rule id
linking to the rule's documentation), posts it, builds a claim, downloads the 837P, uploads the 835 a payer
would send for that very claim (denying one line) and finds the denial with its next step on the worklist.
The visit form is also filled in and posted with the keyboard alone, and every form control on the pages met
has an accessible name a label gives.

Screenshots of the main pages (1280x800) are taken on every run; with REHABCLAIM_UPDATE_SCREENSHOTS=1 the
SQLite run's replace the ones in docs/screenshots/ that the README shows. Without /usr/bin/chromium the tests
are skipped, except under CI, where that fails them (``apt-get install chromium``; never ``playwright install``).
"""

from __future__ import annotations

import json
import os
import re
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from rehabclaim.x12.synthetic import PaidClaim, PaidLine, remittance_835
from tests.browser_support import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1280, 800
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
UPDATE_SCREENSHOTS = os.environ.get("REHABCLAIM_UPDATE_SCREENSHOTS") == "1"
WAIT_MS = 20_000  # a live scrub on a busy 2-core CI machine
DENIED_CODE, DENIAL_REASON = "97140", "50"  # CO-50, not medically necessary: the next step is an appeal
CONTROLS = "main input:not([type=hidden]), main select, main textarea"
# an aria snapshot's first line: `- textbox "Name": value` (YAML-quoted when the name holds ": ")
NAMED = re.compile("- '?[a-z]+ " + r'"((?:[^"\\]|\\.)+)"')


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def window(chromium: Browser) -> Iterator[Callable[[LiveServer], Page]]:
    """Opens a fresh browser window (its own cookies) on a live server: 1280x800, US English, no animation."""
    contexts: list[BrowserContext] = []

    def open_on(server: LiveServer) -> Page:
        context = chromium.new_context(
            base_url=server.base_url,
            viewport={"width": WIDTH, "height": HEIGHT},
            locale="en-US",
            timezone_id="UTC",
            reduced_motion="reduce",  # charts drawn at once (app.js), not caught half-grown in a screenshot
            accept_downloads=True,
        )
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    expect.set_options(timeout=WAIT_MS)
    yield open_on
    for context in contexts:
        context.close()


@dataclass(frozen=True)
class E2EVisit:
    """A visit of a made-up patient (never a demo patient), unique per run: the session's server is shared."""

    id: str
    patient: str
    date: str = "2026-06-01"

    @classmethod
    def new(cls) -> E2EVisit:
        tag = uuid.uuid4().hex[:8]
        return cls(id=f"e2e-{tag}", patient=f"PE2E{tag}")

    def with_claim_data(self) -> str:
        """The visit as the claims page takes it: one JSON line with the patient's claim data."""
        visit = {
            "id": self.id,
            "date": self.date,
            "payer": "medicare",
            "discipline": "PT",
            "diagnoses": ["M54.50"],
            "patient": {
                "id": self.patient,
                "first_name": "Robin",
                "last_name": "Example",
                "birth_date": "1948-07-09",
                "sex": "F",
                "member_id": "9ZZ9ZZ9ZZ99",
                "address": {"line1": "1 Test Way", "city": "Raleigh", "state": "NC", "zip": "27601"},
            },
            "rendering_provider": {"npi": "1987654328", "first_name": "Lee", "last_name": "Park"},
            "plan_of_care": {"certified_from": self.date, "certified_through": "2026-08-29"},
            "services": [
                {"code": "97110", "minutes": 33, "assistant_minutes": 20},
                {"code": DENIED_CODE, "minutes": 7},
            ],
        }
        return json.dumps(visit)


# --- helpers ----------------------------------------------------------------------------------------------------


def screenshot(page: Page, name: str, folder: Path, top: Locator | None = None) -> Path:
    """``folder``/``name``.png of what the window shows (1280x800), scrolled to put ``top`` at the top."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.evaluate("document.activeElement instanceof HTMLElement && document.activeElement.blur()")
    if top is not None:
        top.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    assert png_size(path) == (WIDTH, HEIGHT)
    return path


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def log_in(page: Page, server: LiveServer) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(server.user)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("signed-in-user")).to_contain_text(server.user)


def assert_every_control_named(page: Page) -> int:
    """Every visible form control in the page's main part has an accessible name, and ``get_by_label`` with that
    name finds it; how many there were."""
    controls = page.locator(CONTROLS)
    checked = 0
    for index in range(controls.count()):
        control = controls.nth(index)
        if not control.is_visible():
            continue
        snapshot = control.aria_snapshot().splitlines()[0]
        named = NAMED.match(snapshot)
        assert named, f"a control without an accessible name on {page.url}: {snapshot!r}"
        found = page.get_by_label(named.group(1), exact=True)
        own_id = control.get_attribute("id")
        assert own_id in [found.nth(i).get_attribute("id") for i in range(found.count())], named.group(1)
        checked += 1
    return checked


def tab_to(page: Page, element_id: str, limit: int = 40) -> None:
    """Press Tab until the element ``element_id`` has the focus (it must be reachable in at most ``limit``)."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} was not reached with Tab in {limit} presses")


@dataclass(frozen=True)
class ServiceLine:
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    units: int


def read_837p(text: str) -> tuple[str, str, list[ServiceLine]]:
    """The ISA13, the CLM01 and the service lines (SV1) of a one-claim 837P."""
    element, component, terminator = text[3], text[104], text[105]
    segments = [segment.strip().split(element) for segment in text.split(terminator) if segment.strip()]
    isa13 = segments[0][13]
    clm01 = next(segment[1] for segment in segments if segment[0] == "CLM")
    lines = []
    for segment in segments:
        if segment[0] == "SV1":
            _, code, *modifiers = segment[1].split(component)
            lines.append(ServiceLine(code, tuple(modifiers), Decimal(segment[2]), int(segment[4])))
    return isa13, clm01, lines


def remittance_denying(claim_id: str, lines: list[ServiceLine], denied_code: str, reason: str) -> str:
    """The 835 a payer would send for the claim: ``denied_code`` denied under CO-``reason``, the rest paid."""
    paid = []
    for line in lines:
        if line.code == denied_code:
            paid.append(PaidLine(line.code, line.modifiers, line.charge, line.units, denied=reason))
        else:
            contractual = (line.charge * Decimal("0.6")).quantize(Decimal("0.01"))
            patient = ((line.charge - contractual) * Decimal("0.2")).quantize(Decimal("0.01"))
            paid.append(PaidLine(line.code, line.modifiers, line.charge, line.units, contractual, patient))
    trace = f"E2E{uuid.uuid4().hex[:10].upper()}"
    return remittance_835([PaidClaim(claim_id, tuple(paid), payer_claim_id=f"PCN{claim_id[-8:].upper()}")], trace=trace)


# --- the tests --------------------------------------------------------------------------------------------------


def test_biller_enters_a_visit_bills_it_and_works_its_denial(
    window: Callable[[LiveServer], Page], live_server_on: LiveServer, tmp_path: Path
) -> None:
    live_server = live_server_on
    page = window(live_server)
    visit = E2EVisit.new()
    on_sqlite = live_server.database_url.startswith("sqlite")
    shots = SCREENSHOTS if UPDATE_SCREENSHOTS and on_sqlite else tmp_path  # the README's: one backend's

    # log in
    page.goto("/login")
    assert assert_every_control_named(page) == 2
    screenshot(page, "login", shots)
    log_in(page, live_server)

    # enter a visit: units and a finding appear as the biller types
    page.get_by_test_id("nav-visits").click()
    expect(page).to_have_url(re.compile("/visits/new$"))
    page.get_by_label("Visit id").fill(visit.id)
    page.get_by_label("Date of service").fill(visit.date)
    page.get_by_label("Payer").select_option("medicare")
    page.get_by_label("Discipline").select_option("PT")
    page.get_by_label("Patient id").fill(visit.patient)
    page.get_by_label("Row 1 code", exact=True).fill("97110")
    page.get_by_label("Row 1 minutes", exact=True).fill("33")
    page.get_by_label("Row 2 code", exact=True).fill(DENIED_CODE)
    page.get_by_label("Row 2 minutes", exact=True).fill("7")
    lines = page.get_by_test_id("scrub-line")
    expect(lines.and_(page.locator('[data-code="97110"]'))).to_have_attribute("data-units", "2")
    expect(lines.and_(page.locator(f'[data-code="{DENIED_CODE}"]'))).to_have_attribute("data-units", "1")
    missing_diagnosis = page.locator('[data-testid=finding][data-rule="D001"]')
    expect(missing_diagnosis).to_have_attribute("data-severity", "error")
    rule_link = missing_diagnosis.get_by_test_id("finding-rule")
    expect(rule_link).to_have_attribute("href", "/rules/D001")
    with page.context.expect_page() as opened:
        rule_link.click()
    documentation = opened.value
    expect(documentation.get_by_role("heading", level=1)).to_contain_text("D001")
    documentation.close()

    # fix it, and an assistant's minutes split 97110 into a CQ line and one without
    page.get_by_label("Diagnoses").fill("M54.50")
    page.get_by_label("Row 1 assistant minutes", exact=True).fill("20")
    expect(missing_diagnosis).to_have_count(0)
    expect(page.locator('[data-testid=finding][data-rule="M002"]')).to_contain_text("CQ")
    expect(lines.and_(page.locator('[data-code="97110"]'))).to_have_count(2)
    expect(page.get_by_test_id("line-modifiers")).to_contain_text(["GP, CQ", "GP", "GP"])
    expect(page.get_by_test_id("scrub-status")).to_contain_text("0 errors")
    assert assert_every_control_named(page) >= 6 + 4 * 3
    screenshot(page, "visit-entry", shots)
    page.get_by_role("button", name="Post to ledger").click()
    expect(page.get_by_test_id("post-outcome")).to_have_attribute("data-outcome", "posted")

    # the patient's page lists the posted visit
    page.goto(f"/patients/{visit.patient}")
    expect(page.locator(f'[data-testid=patient-visit][data-visit="{visit.id}"]')).to_be_visible()
    assert_every_control_named(page)
    screenshot(page, "patient", shots)

    # build a claim from the visit, with its claim data
    page.get_by_test_id("nav-claims").click()
    page.get_by_label("Or paste visits").fill(visit.with_claim_data())
    page.get_by_role("button", name="Build the batch").click()
    summary = page.get_by_test_id("claim-summary")
    expect(summary).to_have_attribute("data-written", "1")
    expect(summary).to_have_attribute("data-held-back", "0")
    control_number = int(summary.get_attribute("data-control-number") or "0")
    assert control_number > 0
    assert_every_control_named(page)
    screenshot(page, "claims", shots, top=page.get_by_test_id("claim-outcome"))

    # download the 837P: an X12 interchange whose ISA13 is the batch's, billing this visit
    with page.expect_download() as downloading:
        page.get_by_test_id("claim-outcome").get_by_test_id("claim-download").click()
    x837 = Path(downloading.value.path()).read_text(encoding="ascii")
    assert x837.startswith("ISA")
    isa13, clm01, service_lines = read_837p(x837)
    assert isa13 == f"{control_number:09d}"
    assert clm01 == visit.id
    assert sorted((line.code, line.modifiers, line.units) for line in service_lines) == [
        ("97110", ("GP",), 1),
        ("97110", ("GP", "CQ"), 1),
        (DENIED_CODE, ("GP",), 1),
    ]

    # upload the payer's 835 for that claim, denying 97140
    remit = tmp_path / "payer.835"
    remit.write_text(remittance_denying(clm01, service_lines, DENIED_CODE, DENIAL_REASON), encoding="ascii")
    page.get_by_test_id("nav-remittances").click()
    page.get_by_label("835 remittance file").set_input_files(remit)
    page.get_by_role("button", name="Upload and post").click()
    expect(page.get_by_test_id("remit-posted")).to_be_visible()
    expect(page.locator(f'[data-testid=remit-posting][data-visit="{visit.id}"]')).to_contain_text("posted")
    assert_every_control_named(page)
    screenshot(page, "remittance", shots)

    # the denial is on the worklist with its next step
    page.get_by_test_id("remit-to-denials").click()
    expect(page).to_have_url(re.compile("/denials$"))
    denial = page.locator(f'[data-testid=denial-item][data-visit="{visit.id}"][data-reason="CO-{DENIAL_REASON}"]')
    expect(denial).to_have_count(1)
    expect(denial).to_contain_text(DENIED_CODE)
    expect(denial.get_by_test_id("denial-next-step")).to_contain_text("appeal")
    assert_every_control_named(page)
    screenshot(page, "denials", shots)

    # the reports count it, with their charts drawn
    page.get_by_test_id("nav-reports").click()
    expect(page.locator(f'[data-testid=report-denial-row][data-reason="CO-{DENIAL_REASON}"]')).to_have_count(1)
    expect(page.get_by_test_id("chart-denials")).to_be_visible()
    assert_every_control_named(page)
    screenshot(page, "reports", shots, top=page.get_by_test_id("report-denials"))


def test_visit_form_is_filled_and_posted_with_the_keyboard_alone(
    window: Callable[[LiveServer], Page], live_server: LiveServer
) -> None:
    page = window(live_server)
    visit = E2EVisit.new()
    log_in(page, live_server)
    page.goto("/visits/new")
    typed: list[tuple[str, str]] = [
        ("visit-id", visit.id),
        ("visit-date", "06012026"),  # the date input's month, day and year, as typed (en-US)
        ("visit-payer", "Medicare"),  # a closed select picks the option whose name starts with what is typed
        ("visit-discipline", "OT"),
        ("visit-patient", visit.patient),
        ("visit-diagnoses", "M54.50"),
        ("code-0", "97110"),
        ("minutes-0", "33"),
        ("code-1", DENIED_CODE),
        ("minutes-1", "7"),
    ]
    for element_id, keys in typed:
        tab_to(page, element_id)
        page.keyboard.type(keys)
    expect(page.get_by_label("Date of service")).to_have_value(visit.date)
    expect(page.get_by_label("Payer")).to_have_value("medicare")
    expect(page.get_by_label("Discipline")).to_have_value("OT")
    expect(page.get_by_test_id("scrub-status")).to_contain_text("3 units on 2 lines")
    expect(page.get_by_test_id("line-modifiers")).to_have_text(["GO", "GO"])  # OT's therapy modifier
    tab_to(page, "post-visit")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("post-outcome")).to_have_attribute("data-outcome", "posted")
    expect(page.get_by_test_id("post-outcome")).to_contain_text(visit.id)


def test_read_837p_and_the_835_written_from_it_agree() -> None:
    """The helpers the browser test trusts: the 835 made from a parsed 837P pays and denies what it should."""
    from rehabclaim.x12.remit835 import read_835

    segments = (
        "ISA*00*          *00*          *ZZ*A              *ZZ*B              *260601*1200*^*00501*000000042*0*T*:~"
    )
    x837 = segments + "CLM*v9*131***11:B:1*Y*A*Y*Y~SV1*HC:97110:GP*65*UN*1***1~SV1*HC:97140:GP:59*66*UN*1***1~"
    isa13, clm01, lines = read_837p(x837)
    assert (isa13, clm01) == ("000000042", "v9")
    assert lines[1] == ServiceLine("97140", ("GP", "59"), Decimal(66), 1)
    remittance = read_835(remittance_denying(clm01, lines, "97140", "50").encode())
    claim: Any = remittance.claims[0]
    assert not remittance.imbalances and claim.id == "v9"
    assert claim.paid == Decimal("20.80")  # 65 less 60% contractual, less 20% of the rest to the patient
