"""The coding assistant in a real browser (Playwright, Debian's Chromium, against ``rehabclaim serve``; the
fixtures of test_browser): a biller types a therapist's note, clicks "Suggest codes", and the visit form's
service rows fill with the codes and minutes, the phrases are marked in the note, the scrub result appears, and
the filled form goes on scrubbing as they edit it; then they ask a coding question and follow a cited rule."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser_support import LiveServer
from tests.test_browser import assert_every_control_named, log_in
from tests.test_browser import chromium as chromium  # fixtures, used by name
from tests.test_browser import window as window

NOTE = "TE 25', MT 10 min, HP, gait trng 12 min, AFO fit + training 14 min"
EXPECTED_ROWS = [("97110", "25"), ("97140", "10"), ("97010", ""), ("97116", "12"), ("97760", "14")]


def test_a_note_fills_the_visit_form_which_is_then_scrubbed(
    window: Callable[[LiveServer], Page],
    live_server: LiveServer,
) -> None:
    page = window(live_server)
    log_in(page, live_server)
    page.get_by_test_id("nav-visits").click()
    page.get_by_label("Date of service").fill("2026-06-01")
    page.get_by_label("Payer").select_option("medicare")
    page.get_by_label("Discipline").select_option("PT")
    page.get_by_label("Diagnoses").fill("M54.50")
    page.get_by_label("Therapist's note").fill(NOTE)
    page.get_by_role("button", name="Suggest codes").click()

    # the rows fill (two blank rows before: the form grows to the five services and a blank one)
    for number, (code, minutes) in enumerate(EXPECTED_ROWS, 1):
        expect(page.get_by_label(f"Row {number} code", exact=True)).to_have_value(code)
        expect(page.get_by_label(f"Row {number} minutes", exact=True)).to_have_value(minutes)
    expect(page.get_by_label(f"Row {len(EXPECTED_ROWS) + 1} code", exact=True)).to_have_value("")
    expect(page).to_have_url(re.compile("/visits/new$"))  # swapped in by htmx, not a page load
    expect(page.get_by_label("Therapist's note")).to_have_value(NOTE)

    # each service's phrase marked in the note, and the scrub of the filled form
    phrases = page.get_by_test_id("note-phrase")
    expect(phrases).to_have_count(len(EXPECTED_ROWS))
    expect(phrases.nth(3)).to_have_text("gait trng 12 min")
    lines = page.get_by_test_id("scrub-line")
    expect(lines.and_(page.locator('[data-code="97110"]'))).to_have_attribute("data-units", "2")
    expect(page.get_by_test_id("scrub-lines")).to_contain_text("61 timed minutes")
    expect(page.get_by_test_id("scrub-status")).to_contain_text("units on")

    # the filled form is the live form: editing a row scrubs again
    page.get_by_label("Row 1 minutes", exact=True).fill("40")
    expect(page.get_by_test_id("scrub-lines")).to_contain_text("76 timed minutes")
    assert assert_every_control_named(page) >= 6 + 1 + 4 * (len(EXPECTED_ROWS) + 1)

    # a coding question, answered with its sources; a cited rule opens its page
    page.get_by_test_id("nav-ask").click()
    page.get_by_label("Question").fill("can I bill 97760 with an L-code?")
    page.get_by_role("button", name="Ask").click()
    rule = page.locator('[data-testid=ask-citation][data-id="O002"]').get_by_test_id("ask-citation-link")
    expect(rule).to_have_attribute("href", "/rules/O002")
    expect(page).to_have_url(re.compile(r"/ask\?q=can"))
    assert_every_control_named(page)
    rule.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("O002")
