"""The coding assistant on the web page (rehabclaim.web.assistant): the visit entry page's "From the note" box
fills the service rows from a therapist's note (and the date of service from the note when the form has none),
marks the phrase each service came from, lists the assistant's questions and scrubs the filled form; the /ask
page answers with ranked sources, rule ids linked to their pages, and the engine's result for a concrete case.
Bad input is a message on the form, never a 500. Pages are read with the HTML parser of test_web_core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rehabclaim.services.assistant import MAX_NOTE_CHARS
from tests.test_web_core import VISIT_FORM, Node, _unlabelled, log_in, parse, token_of
from tests.test_web_core import app as app  # fixtures, used by name
from tests.test_web_core import reference as reference

NOTE = "TE 25', MT 10 min, HP, gait trng 12 min, AFO fit + training 14 min"
EXPECTED_ROWS = [("97110", "25"), ("97140", "10"), ("97010", ""), ("97116", "12"), ("97760", "14")]


@pytest.fixture(params=["sqlite"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """One backend: the pages read the ledger only for the scrub's history (test_web_core runs both)."""
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
def biller(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as client:
        assert log_in(client).status_code == 303
        yield client


def suggest(client: TestClient, note: str, *, htmx: bool = False, **fields: Any) -> Any:
    token = token_of(client.get("/visits/new").text)
    form = {**VISIT_FORM, "code": ["", "", ""], "minutes": ["", "", ""], **fields, "note": note}
    if htmx:
        return client.post("/visits/suggest", data=form, headers={"HX-Request": "true", "X-CSRF-Token": token})
    return client.post("/visits/suggest", data={**form, "csrf_token": token})


def rows_of(page: Node) -> list[tuple[str, str]]:
    """The visit form's filled service rows: (code, minutes)."""
    form = page.one("form", id="visit-form")
    codes = [node.attrs.get("value", "") for node in form.find_all("input", name="code")]
    minutes = [node.attrs.get("value", "") for node in form.find_all("input", name="minutes")]
    return [(code, typed) for code, typed in zip(codes, minutes, strict=True) if code or typed]


def raw_text(node: Node) -> str:
    """The text as written (``Node.text`` joins pieces with spaces)."""
    return "".join(child if isinstance(child, str) else raw_text(child) for child in node.children)


def value_of(page: Node, input_id: str) -> str:
    return page.one("input", id=input_id).attrs.get("value", "")


# --- the note box ---------------------------------------------------------------------------------------------


def test_the_visit_page_has_the_note_box_in_the_visit_form(biller: TestClient) -> None:
    page = parse(biller.get("/visits/new").text)
    note = page.one("textarea", id="visit-note")
    button = page.one("button", id="suggest-codes")
    assert note.attrs["form"] == "visit-form" and note.attrs["name"] == "note"
    assert button.attrs["form"] == "visit-form" and button.attrs["formaction"] == "/visits/suggest"
    assert "formnovalidate" in button.attrs  # the date may come from the note
    assert page.one("a", data_testid="nav-ask").attrs["href"] == "/ask"


def test_a_note_fills_the_rows_with_codes_and_minutes_and_the_form_is_scrubbed(biller: TestClient) -> None:
    answer = suggest(biller, NOTE, patient="P1", diagnoses="M54.50")
    assert answer.status_code == 200
    page = parse(answer.text)
    assert rows_of(page) == EXPECTED_ROWS
    # the rest of the form is kept as typed, and a blank row is there to add one more
    assert value_of(page, "visit-date") == "2026-06-01" and value_of(page, "visit-patient") == "P1"
    assert value_of(page, "visit-diagnoses") == "M54.50"
    assert value_of(page, f"code-{len(EXPECTED_ROWS)}") == ""
    # the suggested services, with their why and confidence
    services = page.find_all(data_testid="suggested-service")
    assert [(s.attrs["data-code"], s.attrs["data-minutes"]) for s in services] == EXPECTED_ROWS
    assert all("Why:" in s.one(data_testid="service-why").text for s in services)
    assert all(re.fullmatch(r"[0-9]{1,3}%", s.one(data_testid="service-confidence").text) for s in services)
    # the filled form is scrubbed as the live scrub would: a claim line per code, with its units
    lines = {line.attrs["data-code"]: line.attrs["data-units"] for line in page.find_all(data_testid="scrub-line")}
    assert lines["97110"] == "2" and set(lines) >= {"97110", "97140", "97116", "97760"}
    assert page.one("textarea", id="visit-note").text == NOTE


def test_each_marked_phrase_is_the_text_at_the_services_offsets(biller: TestClient) -> None:
    page = parse(suggest(biller, NOTE).text)
    services = page.find_all(data_testid="suggested-service")
    marks = page.one(data_testid="note-marked").find_all("mark", data_testid="note-phrase")
    assert len(marks) == len(services) == len(EXPECTED_ROWS)
    for number, (mark, service) in enumerate(zip(marks, services, strict=True), 1):
        start, end = int(service.attrs["data-start"]), int(service.attrs["data-end"])
        assert mark.attrs["data-service"] == str(number)
        assert mark.text == NOTE[start:end] == service.one(data_testid="service-phrase").text
    assert marks[3].text == "gait trng 12 min"
    assert raw_text(page.one(data_testid="note-marked")) == NOTE  # the whole note, nothing lost or added


def test_the_date_comes_from_the_note_when_the_form_has_none_and_never_from_today(biller: TestClient) -> None:
    dated = parse(suggest(biller, "DOS 05/12/2026. TE 25 min, MT 10 min", date="").text)
    assert value_of(dated, "visit-date") == "2026-05-12"
    assert dated.find_all(data_testid="scrub-line")
    undated = parse(suggest(biller, "TE 25 min, MT 10 min", date="").text)
    assert value_of(undated, "visit-date") == ""
    questions = [q.text for q in undated.find_all(data_testid="suggest-question")]
    assert any("date of service" in question and "--date" not in question for question in questions)
    assert undated.find_all(data_testid="scrub-problem") and not undated.find_all(data_testid="scrub-line")
    # the form's date wins over the note's
    assert value_of(parse(suggest(biller, "DOS 05/12/2026. TE 25 min").text), "visit-date") == "2026-06-01"


def test_what_the_assistant_cannot_decide_is_asked_above_the_form(biller: TestClient) -> None:
    page = parse(suggest(biller, "TA 15 min, TE 20 min").text)
    questions = page.one(data_testid="suggest-questions")
    assert questions.find_all(data_testid="suggest-question")
    assert "TA" in questions.text
    box = page.one(data_testid="note-box")
    assert questions in list(box.walk())  # in the note box, which sits above the visit form


def test_the_note_is_shown_escaped(biller: TestClient) -> None:
    note = '<script>alert("x")</script> <b>TE</b> 25 min'
    answer = suggest(biller, note)
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text and "<b>TE" not in answer.text
    assert "&lt;script&gt;alert" in answer.text
    page = parse(answer.text)
    assert page.one("textarea", id="visit-note").text == " ".join(note.split())
    assert all("src" in script.attrs for script in page.find_all("script"))


def test_htmx_gets_the_same_page_without_out_of_band_copies(biller: TestClient) -> None:
    answer = suggest(biller, NOTE, htmx=True)
    assert answer.status_code == 200
    page = parse(answer.text)
    for wanted in ("suggestion", "visit-form", "scrub-result", "scrub-status"):  # what the button selects
        assert len(page.find_all(id=wanted)) == 1, wanted
    assert "hx-swap-oob" not in answer.text
    assert rows_of(page) == EXPECTED_ROWS


@pytest.mark.parametrize(
    ("note", "fields", "status", "label", "input_id"),
    [
        ("   ", {}, 422, "note", "visit-note"),
        ("x" * (MAX_NOTE_CHARS + 1), {}, 413, "note", "visit-note"),
        (NOTE, {"date": "2026-13-45"}, 422, "date", "visit-date"),
        (NOTE, {"discipline": "XX"}, 422, "discipline", "visit-discipline"),
    ],
)
def test_bad_input_is_a_message_on_the_form(
    biller: TestClient, note: str, fields: dict[str, str], status: int, label: str, input_id: str
) -> None:
    answer = suggest(biller, note, **fields)
    assert answer.status_code == status
    page = parse(answer.text)
    problem = page.one(data_testid="suggest-problem")
    assert problem.one("a").attrs["href"] == f"#{input_id}" and problem.one("a").text == label
    assert page.find_all("form", id="visit-form")  # the page, not an error page
    assert "x" * 100 not in problem.text  # the note is not echoed in the message


def test_the_pages_controls_are_labelled_and_ids_unique(biller: TestClient) -> None:
    for html in (suggest(biller, NOTE).text, biller.get("/ask?q=can+I+bill+97760+with+an+L-code%3F").text):
        page = parse(html)
        assert _unlabelled(page) == []
        ids = [
            node.attrs["id"]
            for node in page.walk()
            if "id" in node.attrs and not any(a.tag == "template" for a in node.ancestors())
        ]
        assert len(ids) == len(set(ids))


def test_suggest_needs_the_csrf_token(biller: TestClient) -> None:
    answer = biller.post("/visits/suggest", data={**VISIT_FORM, "note": NOTE})
    assert answer.status_code == 403


# --- the question page -----------------------------------------------------------------------------------------


def test_ask_cites_ranked_sources_with_rule_ids_linked(biller: TestClient) -> None:
    answer = biller.get("/ask", params={"q": "can I bill 97760 with an L-code?"})
    assert answer.status_code == 200
    page = parse(answer.text)
    assert page.one("input", id="ask-question").attrs["value"] == "can I bill 97760 with an L-code?"
    citations = page.find_all(data_testid="ask-citation")
    assert citations
    rules = [c for c in citations if c.attrs["data-kind"] == "rule"]
    assert "O002" in [c.attrs["data-id"] for c in rules]
    for rule in rules:
        assert rule.one("a", data_testid="ask-citation-link").attrs["href"] == f"/rules/{rule.attrs['data-id']}"
    notes = [c for c in citations if c.attrs["data-kind"] == "note"]
    assert any("orthotics.md" in note.text for note in notes)  # a reference note, with its source
    assert biller.get("/rules/O002").status_code == 200  # the link leads to the rule's page


def test_ask_computes_a_concrete_case(biller: TestClient) -> None:
    page = parse(biller.get("/ask", params={"q": "units for 97110 33 min and 97140 7 min?"}).text)
    computed = page.one(data_testid="ask-computed")
    assert computed.attrs["data-kind"] == "units"
    assert "97110 2 units" in page.one(data_testid="ask-headline").text
    assert len(computed.find_all(data_testid="ask-reason")) == 2


def test_ask_under_htmx_is_the_answer_alone(biller: TestClient) -> None:
    answer = biller.get("/ask", params={"q": "can I bill 97760 with an L-code?"}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "<html" not in answer.text
    assert parse(answer.text).one(id="ask-answer").find_all(data_testid="ask-citation")


def test_ask_without_a_question_is_the_form_and_a_bad_question_a_message(biller: TestClient) -> None:
    empty = parse(biller.get("/ask").text)
    assert empty.find_all("form", data_testid="ask-form") and not empty.find_all(data_testid="ask-headline")
    answer = biller.get("/ask", params={"q": "why " * 400})
    assert answer.status_code == 422
    problem = parse(answer.text).one(data_testid="ask-problem")
    assert problem.one("a").attrs["href"] == "#ask-question" and "at most 1000 characters" in problem.text
    escaped = biller.get("/ask", params={"q": "<script>alert(1)</script> 97110"})
    assert escaped.status_code == 200 and "<script>alert" not in escaped.text
