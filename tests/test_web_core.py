"""The billers' web page, core half: login, CSRF, the live scrub, posting a visit, the calculator, code search, the
rules' documentation and the patient page, on the application ``rehabclaim serve`` runs (``create_app``) over a
fresh ledger on SQLite and PostgreSQL. Pages are read with the standard library's HTML parser, not by regex."""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from rehabclaim.api.app import create_app
from rehabclaim.api.settings import ServerSettings
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import decode_visit
from rehabclaim.services import Actor, accounts, patients, visits
from rehabclaim.web.core import safe_next

PASSWORD = "correct horse battery"
ADMIN = Actor(user="root", role="admin", channel="cli")
VISIT_FORM: dict[str, Any] = {
    "id": "",
    "date": "2026-06-01",
    "payer": "medicare",
    "discipline": "PT",
    "diagnoses": "M54.50",
    "patient": "P1",
    "code": ["97110", "97140", ""],
    "minutes": ["33", "7", ""],
    "assistant_minutes": ["", "", ""],
    "modifiers": ["", "", ""],
}


# --- a small HTML tree (html.parser) ---------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    @property
    def text(self) -> str:
        parts = [child if isinstance(child, str) else child.text for child in self.children]
        return " ".join(" ".join(parts).split())

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        return [
            node
            for node in self.walk()
            if (tag is None or node.tag == tag) and all(node.attrs.get(k) == v for k, v in wanted.items())
        ]

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag}> with {attrs}"
        return found[0]

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    return builder.root


# --- the application ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> Any:
    return load_reference()


@pytest.fixture
def app(ledger_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, reference: Any) -> Iterator[FastAPI]:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    # cheap argon2id parameters: the real ones cost ~150 ms a hash (test_accounts tests the real ones)
    monkeypatch.setattr(
        accounts, "PASSWORDS", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    )
    monkeypatch.setattr("rehabclaim.api.app.load_reference", lambda _practice=None: reference)  # loaded once
    application = create_app(ServerSettings(database_url=ledger_url, secret_key="k" * 40))
    for name, role in (("bill", "biller"), ("vera", "viewer")):
        accounts.add_user(application.state.database, name=name, role=role, password=PASSWORD, actor=ADMIN)
    yield application
    application.state.database.dispose()


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def token_of(page: str) -> str:
    """The CSRF token in a page's hidden form field."""
    fields = parse(page).find_all("input", name="csrf_token")
    assert fields, "no csrf_token field on the page"
    return fields[0].attrs["value"]


def log_in(client: TestClient, name: str = "bill", password: str = PASSWORD, next_url: str = "/") -> Any:
    token = token_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"name": name, "password": password, "next": next_url, "csrf_token": token},
        follow_redirects=False,
    )


@pytest.fixture
def biller(anonymous: TestClient) -> TestClient:
    assert log_in(anonymous).status_code == 303
    return anonymous


def session_token(client: TestClient) -> str:
    return token_of(client.get("/visits/new").text)


def live_scrub(client: TestClient, form: dict[str, Any], token: str | None) -> Any:
    headers = {"HX-Request": "true"} | ({"X-CSRF-Token": token} if token is not None else {})
    return client.post("/web/scrub", data=form, headers=headers)


# --- signing in ---------------------------------------------------------------------------------------------------


def test_every_page_but_login_and_static_needs_a_login(anonymous: TestClient) -> None:
    for path in (
        "/",
        "/visits/new",
        "/calculator",
        "/codes?q=therex",
        "/codes/97110",
        "/rules",
        "/rules/R003",
        "/patients/P1",
    ):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        target = urlsplit(answer.headers["location"])
        assert target.path == "/login"
        assert parse_qs(target.query).get("next", ["/"]) == [path], path
    htmx = anonymous.post("/web/scrub", data=VISIT_FORM, headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == "/login"  # the whole page goes to the login
    assert anonymous.get("/login").status_code == 200
    css = anonymous.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert anonymous.get("/v1/health").status_code == 200


def test_login_goes_back_to_the_page_asked_for_and_only_on_this_site(anonymous: TestClient) -> None:
    answer = log_in(anonymous, next_url="/calculator?code=97110&minutes=33")
    assert answer.status_code == 303 and answer.headers["location"] == "/calculator?code=97110&minutes=33"
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/a\r\nb"):
        assert safe_next(elsewhere) == "/"
    anonymous.cookies.clear()
    assert log_in(anonymous, next_url="//evil.example/").headers["location"] == "/"


def test_a_wrong_password_is_refused_with_the_reason_on_the_form(anonymous: TestClient) -> None:
    refused = log_in(anonymous, password="not the password")
    assert refused.status_code == 401
    page = parse(refused.text)
    assert page.one(data_testid="login-error").text == accounts.WRONG_LOGIN
    assert page.one("input", id="login-name").attrs["value"] == "bill"  # the name stays, the password does not
    assert page.one("input", id="login-password").attrs.get("value") is None
    for _ in range(accounts.FAILURES_PER_NAME - 1):
        log_in(anonymous, password="not the password")
    locked = log_in(anonymous)  # the right password, after five failures: still refused, and it says why
    assert locked.status_code == 429
    assert "too many failed logins for this name" in parse(locked.text).one(data_testid="login-error").text
    assert anonymous.get("/", follow_redirects=False).status_code == 303  # not logged in


def test_a_post_without_the_sessions_csrf_token_is_refused(biller: TestClient) -> None:
    token = session_token(biller)
    assert live_scrub(biller, VISIT_FORM, None).status_code == 403
    assert live_scrub(biller, VISIT_FORM, "x" * len(token)).status_code == 403
    assert biller.post("/visits", data={**VISIT_FORM, "id": "v1"}).status_code == 403
    assert biller.post("/logout", follow_redirects=False).status_code == 403
    assert biller.get("/").status_code == 200  # still logged in: the refused logout did nothing
    # another client's token is not this session's
    with TestClient(biller.app) as other:
        log_in(other)
        assert live_scrub(biller, VISIT_FORM, session_token(other)).status_code == 403
    assert live_scrub(biller, VISIT_FORM, token).status_code == 200
    logout = biller.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert logout.status_code == 303 and biller.get("/", follow_redirects=False).status_code == 303


def test_login_itself_needs_the_token(anonymous: TestClient) -> None:
    anonymous.get("/login")
    answer = anonymous.post("/login", data={"name": "bill", "password": PASSWORD})
    assert answer.status_code == 403


def test_a_generated_password_must_be_changed_before_anything_else(app: FastAPI, anonymous: TestClient) -> None:
    added = accounts.add_user(app.state.database, name="nina", role="biller", actor=ADMIN)
    assert added.password is not None
    answer = log_in(anonymous, "nina", added.password, next_url="/rules")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/password")
    assert anonymous.get("/visits/new", follow_redirects=False).headers["location"] == "/password"
    page = anonymous.get("/password")
    assert parse(page.text).find_all(data_testid="must-change")
    token = token_of(page.text)
    form = {
        "current_password": added.password,
        "new_password": "a new passphrase",
        "csrf_token": token,
        "next": "/rules",
    }
    differs = anonymous.post("/password", data={**form, "confirm_password": "something else"})
    assert differs.status_code == 422 and "differ" in parse(differs.text).one(data_testid="password-error").text
    changed = anonymous.post("/password", data={**form, "confirm_password": "a new passphrase"}, follow_redirects=False)
    assert changed.status_code == 303 and changed.headers["location"] == "/rules"
    assert anonymous.get("/visits/new").status_code == 200
    assert accounts.get_user(app.state.database, name="nina").must_change_password is False


def test_a_disabled_account_loses_its_session(app: FastAPI, biller: TestClient) -> None:
    assert biller.get("/").status_code == 200
    accounts.set_disabled(app.state.database, name="bill", disabled=True, actor=ADMIN)
    assert biller.get("/", follow_redirects=False).headers["location"] == "/login"


# --- visit entry --------------------------------------------------------------------------------------------------


def test_the_live_scrub_shows_units_why_and_findings_with_their_rule(biller: TestClient) -> None:
    answer = live_scrub(biller, VISIT_FORM, session_token(biller))
    assert answer.status_code == 200
    page = parse(answer.text)
    lines = {line.attrs["data-code"]: line for line in page.find_all(data_testid="scrub-line")}
    assert {code: line.attrs["data-units"] for code, line in lines.items()} == {"97110": "2", "97140": "1"}
    assert lines["97110"].one(data_testid="line-units").text == "2"
    assert lines["97110"].one(data_testid="line-modifiers").text == "GP"
    assert "2 whole 15-min units" in lines["97110"].one(data_testid="line-why").text
    assert "+1 unit for the 7 leftover min" in lines["97140"].one(data_testid="line-why").text
    assert "Visit total 40 timed min = 3 units" in lines["97140"].one(data_testid="line-why").text
    assert lines["97110"].one(data_testid="line-expected").text.startswith("$")
    assert "CF" in lines["97110"].one(data_testid="line-expected-why").text
    finding = page.one(data_testid="finding", data_rule="R003")  # no plan of care on file for a Medicare visit
    assert finding.attrs["data-severity"] == "warning"
    assert finding.one(data_testid="severity").text == "Warning"  # written out, not colour alone
    link = finding.one("a", data_testid="finding-rule")
    assert link.attrs["href"] == "/rules/R003" and link.text.startswith("R003")
    status = page.one("p", id="scrub-status")  # the status line a screen reader announces, swapped out of band
    assert status.attrs["hx-swap-oob"] == "innerHTML"
    assert status.text.startswith("3 units on 2 lines; 0 errors, 1 warning")
    assert biller.get("/rules/R003").status_code == 200


def test_each_live_scrub_line_shows_its_steps_with_their_sources(biller: TestClient) -> None:
    page = parse(live_scrub(biller, VISIT_FORM, session_token(biller)).text)
    lines = {line.attrs["data-code"]: line for line in page.find_all(data_testid="scrub-line")}
    for code, line in lines.items():
        steps = line.one(data_testid="line-trace").find_all(data_testid="trace-step")
        stages = [step.attrs["data-stage"] for step in steps]
        assert {"units", "modifiers", "fees"} <= set(stages), (code, stages)
        sources = [step.one(data_testid="trace-source").text for step in steps]
        assert f"codes.toml [[code]] {code}" in sources, sources
        assert any(f"PPRRVU row {code} " in source and ", from 20" in source for source in sources), sources
    units = [s for s in lines["97140"].find_all(data_testid="trace-step") if s.attrs["data-stage"] == "units"]
    assert any("visit total 40 timed min = 3 units" in step.text for step in units), [s.text for s in units]


def test_the_live_scrub_names_the_input_to_fix(biller: TestClient) -> None:
    token = session_token(biller)
    bad_minutes = {**VISIT_FORM, "code": ["", "97110", "97140"], "minutes": ["", "33", "seven"]}
    problem = parse(live_scrub(biller, bad_minutes, token).text).one(data_testid="scrub-problem")
    assert "service row 3, minutes" in problem.text and "whole number" in problem.text
    assert problem.one("a").attrs["href"] == "#minutes-2"  # the third row on screen (the first is blank)
    unknown = parse(live_scrub(biller, {**VISIT_FORM, "code": ["97110", "99999", ""]}, token).text)
    assert "unknown code '99999'" in unknown.one(data_testid="scrub-problem").text
    assert unknown.one(data_testid="scrub-problem").one("a").attrs["href"] == "#code-1"
    no_date = parse(live_scrub(biller, {**VISIT_FORM, "date": ""}, token).text).one(data_testid="scrub-problem")
    assert no_date.one("a").attrs["href"] == "#visit-date"
    empty = {**VISIT_FORM, "code": ["", "", ""], "minutes": ["", "", ""]}
    assert parse(live_scrub(biller, empty, token).text).find_all(data_testid="scrub-empty")


def test_the_check_button_renders_the_same_result_without_javascript(biller: TestClient) -> None:
    answer = biller.post("/visits/new", data={**VISIT_FORM, "csrf_token": session_token(biller)})
    page = parse(answer.text)
    assert answer.status_code == 200
    assert [line.attrs["data-units"] for line in page.find_all(data_testid="scrub-line")] == ["2", "1"]
    assert page.one("input", id="code-1").attrs["value"] == "97140"  # the form comes back filled in
    assert page.one("p", id="scrub-status").text.startswith("3 units on 2 lines")


def test_post_to_ledger_posts_once_and_says_so(app: FastAPI, biller: TestClient) -> None:
    form = {**VISIT_FORM, "id": "web-1", "csrf_token": session_token(biller)}
    first = biller.post("/visits", data=form)
    outcome = parse(first.text).one(data_testid="post-outcome")
    assert first.status_code == 200 and outcome.attrs["data-outcome"] == "posted"
    assert "web-1 was posted" in outcome.text
    again = biller.post("/visits", data=form)
    outcome = parse(again.text).one(data_testid="post-outcome")
    assert again.status_code == 409 and outcome.attrs["data-outcome"] == "conflict"
    assert "already posted" in outcome.text
    state = patients.patient_state(app.state.database, reference=app.state.reference, patient_id="P1")
    assert [visit.id for visit in state.visits] == ["web-1"]
    no_id = biller.post("/visits", data={**form, "id": ""})
    assert no_id.status_code == 422 and "visit id is needed" in parse(no_id.text).one(data_testid="post-outcome").text


def test_a_viewer_sees_no_post_button_and_cannot_post(anonymous: TestClient) -> None:
    log_in(anonymous, "vera")
    page = anonymous.get("/visits/new")
    assert page.status_code == 200 and not parse(page.text).find_all(id="post-visit")
    form = {**VISIT_FORM, "id": "web-2", "csrf_token": token_of(page.text)}
    assert anonymous.post("/visits", data=form).status_code == 403
    assert anonymous.post("/visits/new", data=form).status_code == 200  # checking changes nothing: allowed


# --- calculator, codes, rules -------------------------------------------------------------------------------------


def test_the_calculator_gives_both_methods_with_the_reasoning(biller: TestClient) -> None:
    page = parse(biller.get("/calculator?code=97110&minutes=33&code=97140&minutes=7").text)
    methods = {section.attrs["data-method"]: section for section in page.find_all(data_testid="calc-method")}
    assert methods["cms"].one(data_testid="calc-total-units").text == "3 units"
    assert methods["per-code"].one(data_testid="calc-total-units").text == "2 units"
    cms_lines = {line.attrs["data-code"]: line for line in methods["cms"].find_all(data_testid="calc-line")}
    assert cms_lines["97140"].attrs["data-units"] == "1"
    assert "+1 unit for the 7 leftover min" in cms_lines["97140"].one(data_testid="calc-line-why").text
    per_code = {
        line.attrs["data-code"]: line.attrs["data-units"]
        for line in methods["per-code"].find_all(data_testid="calc-line")
    }
    assert per_code == {"97110": "2", "97140": "0"}
    bad = biller.get("/calculator?code=97110&minutes=x")
    assert bad.status_code == 422 and "row 1, minutes" in parse(bad.text).one(data_testid="calc-problem").text
    partial = biller.get("/calculator?code=97110&minutes=8", headers={"HX-Request": "true"})
    assert parse(partial.text).one(id="calc-status").text.startswith("CMS total-time method (Medicare): 1 unit;")


def test_code_search_understands_shorthand_and_shows_a_codes_facts(biller: TestClient) -> None:
    hits = parse(biller.get("/codes?q=therex").text).find_all(data_testid="code-hit")
    assert hits[0].attrs["data-code"] == "97110"
    assert "Therapeutic exercise" in hits[0].text
    partial = parse(biller.get("/codes?q=orthotic+training", headers={"HX-Request": "true"}).text)
    assert "97760" in [hit.attrs["data-code"] for hit in partial.find_all(data_testid="code-hit")]
    assert partial.one(id="code-status").attrs["hx-swap-oob"] == "innerHTML"
    facts = parse(biller.get("/codes/97110").text)
    assert facts.one(data_testid="code-code").text == "97110"
    assert facts.one(data_testid="code-timed").text.startswith("yes")
    missing = biller.get("/codes/ZZ999")
    assert missing.status_code == 404 and "unknown code 'ZZ999'" in parse(missing.text).one(data_testid="problem").text


def test_rules_have_their_documentation_pages(biller: TestClient) -> None:
    listed = parse(biller.get("/rules").text).find_all(data_testid="rule-row")
    assert "R003" in [row.attrs["data-rule"] for row in listed]
    page = parse(biller.get("/rules/r003").text)
    assert page.one(data_testid="rule-id").text == "R003"
    doc = page.one(data_testid="rule-doc")
    assert "Fix:" in doc.text and doc.find_all("code")  # paragraphs, ``code`` marked up
    assert biller.get("/rules/Z999").status_code == 404


# --- patients -----------------------------------------------------------------------------------------------------


def _post(app: FastAPI, raw: str) -> None:
    done = visits.post_visit(app.state.database, reference=app.state.reference, visit=decode_visit(raw), actor=ADMIN)
    assert done.posted


def test_the_patient_page_shows_the_kx_standing_plan_progress_and_orthotics(app: FastAPI, biller: TestClient) -> None:
    plan = '"plan_of_care": {"certified_from": "2026-06-01", "certified_through": "2026-08-29"}'
    _post(
        app,
        '{"id": "p-1", "date": "2026-06-01", "payer": "medicare", "discipline": "PT", "diagnoses": ["M54.50"], '
        f'"patient": {{"id": "P7"}}, {plan}, '
        '"services": [{"code": "97110", "minutes": 33}, {"code": "97140", "minutes": 7}]}',
    )
    _post(
        app,
        '{"id": "p-2", "date": "2026-06-04", "payer": "medicare", "discipline": "PT", "diagnoses": ["M21.371"], '
        '"initial_orthotic_encounter": true, "patient": {"id": "P7"}, '
        '"services": [{"code": "97760", "minutes": 20, "training_minutes": 12, "body_region": "lower"}]}',
    )
    state = patients.patient_state(app.state.database, reference=app.state.reference, patient_id="P7")
    kx = state.kx[0]
    assert kx.threshold is not None
    page = parse(biller.get("/patients/P7").text)
    shown = page.one(data_testid="kx", data_benefit="PT_SLP")
    meter = shown.one("meter")
    assert float(meter.attrs["value"]) == pytest.approx(kx.allowed) and float(meter.attrs["max"]) == kx.threshold
    label = page.one("label", **{"for": meter.attrs["id"]})
    assert "PT and SLP" in label.text and "2026" in label.text
    text = shown.one(data_testid="kx-text").text
    assert f"${kx.allowed:,.2f} allowed of the ${kx.threshold:,.2f} threshold" in text
    window = page.one(data_testid="plan-window", data_discipline="PT")
    assert "Jun 1, 2026 to Aug 29, 2026" in window.text and window.one(data_testid="plan-in-force").text == "in force"
    assert page.one(data_testid="progress", data_discipline="PT").one(data_testid="progress-days").text == str(
        state.progress_reports[0].treatment_days
    )
    assert [region.text for region in page.find_all(data_testid="orthotic-region")] == ["lower"]
    assert "97760" in page.one(data_testid="orthotic-encounter").text
    assert page.one(data_testid="patient-as-of-date").text == "Jun 4, 2026"
    earlier = parse(biller.get("/patients/P7?on=2026-06-02").text)
    assert earlier.one(data_testid="patient-as-of-date").text == "Jun 2, 2026"
    assert not earlier.find_all(data_testid="orthotic-encounter")  # the encounter came later


def test_the_patient_lookup_and_an_unknown_patient(biller: TestClient) -> None:
    lookup = biller.get("/patients?id=P%2042", follow_redirects=False)
    assert lookup.status_code == 303 and lookup.headers["location"] == "/patients/P%2042"
    missing = biller.get("/patients/P42")
    assert (
        missing.status_code == 404
        and "not in the ledger" in parse(missing.text).one(data_testid="patient-missing").text
    )
    assert biller.get("/patients/P42?on=June").status_code == 422


# --- every page: labels, headers, assets --------------------------------------------------------------------------


def _unlabelled(page: Node) -> list[str]:
    """Form controls a screen reader could not name: no <label for>, no wrapping <label>, no aria-label(ledby)."""
    labelled = {label.attrs.get("for") for label in page.find_all("label")}
    missing = []
    for control in page.walk():
        if control.tag not in ("input", "select", "textarea") or control.attrs.get("type") in ("hidden", "submit"):
            continue
        if any(node.tag == "template" for node in control.ancestors()):
            continue  # a row template: its clone is labelled the same way
        named = (
            control.attrs.get("id") in labelled or "aria-label" in control.attrs or "aria-labelledby" in control.attrs
        )
        if not named and not any(node.tag == "label" for node in control.ancestors()):
            missing.append(f"<{control.tag} name={control.attrs.get('name')!r}>")
    return missing


def test_every_input_has_a_label_and_every_id_is_unique(
    app: FastAPI, biller: TestClient, anonymous: TestClient
) -> None:
    _post(
        app,
        '{"id": "l-1", "date": "2026-06-01", "payer": "medicare", "discipline": "PT", "diagnoses": ["M54.50"], '
        '"patient": {"id": "P1"}, '
        '"authorization": {"from": "2026-06-01", "through": "2026-07-01", "visits": 10, "number": "A1"}, '
        '"services": [{"code": "97110", "minutes": 33}]}',
    )
    pages = [
        "/",
        "/visits/new",
        "/calculator?code=97110&minutes=33",
        "/codes?q=therex",
        "/codes/97110",
        "/rules",
        "/rules/R003",
        "/patients/P1",
        "/patients/P404",
        "/password",
    ]
    token = session_token(biller)
    rendered = {path: biller.get(path).text for path in pages}
    rendered["POST /visits/new"] = biller.post("/visits/new", data={**VISIT_FORM, "csrf_token": token}).text
    rendered["POST /web/scrub"] = live_scrub(biller, VISIT_FORM, token).text
    with TestClient(app) as stranger:
        rendered["/login"] = stranger.get("/login").text
    for where, html in rendered.items():
        page = parse(html)
        assert _unlabelled(page) == [], where
        ids = [
            node.attrs["id"]
            for node in page.walk()
            if "id" in node.attrs and not any(a.tag == "template" for a in node.ancestors())
        ]
        assert len(ids) == len(set(ids)), where
        if not where.startswith("POST /web"):
            assert page.find_all("main") and page.find_all("h1"), where  # landmarks and a heading
    auth = parse(rendered["/patients/P1"]).one(data_testid="authorization")
    assert (
        auth.one("meter").attrs["max"] == "10"
        and "1 of 10 visits used" in auth.one(data_testid="authorization-text").text
    )


def test_pages_are_not_cached_and_run_no_inline_script(biller: TestClient) -> None:
    answer = biller.get("/visits/new")
    assert answer.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page = parse(answer.text)
    assert all("src" in script.attrs for script in page.find_all("script"))
    assert not [
        node.tag for node in page.walk() if "style" in node.attrs or any(a.startswith("on") for a in node.attrs)
    ]
    body = page.one("body")
    assert re.fullmatch(r'\{"X-CSRF-Token": ?"[^"]+"\}', body.attrs["hx-headers"])  # htmx sends the token


def test_the_vendored_scripts_are_package_data_and_served(anonymous: TestClient) -> None:
    static = importlib.resources.files("rehabclaim.web") / "static"
    for folder, script, licence in (("htmx", "htmx.min.js", "LICENSE"), ("chartjs", "chart.umd.min.js", "LICENSE.md")):
        vendored = static / "vendor" / folder
        assert (vendored / script).is_file() and (vendored / licence).is_file() and (vendored / "SOURCE.md").is_file()
        served = anonymous.get(f"/static/vendor/{folder}/{script}")
        assert served.status_code == 200 and served.content == (vendored / script).read_bytes()
    assert 'version:"2.0.11"' in (static / "vendor" / "htmx" / "htmx.min.js").read_text()
    assert "Chart.js v4.6.1" in (static / "vendor" / "chartjs" / "chart.umd.min.js").read_text()[:200]
    assert (static / "app.js").is_file()
