"""``rehabclaim suggest`` (rehabclaim.assistant.notes, services.assistant.suggest, the CLI and POST
/v1/suggest): the issue's example, each trap of coding-assistant.md s. 2, offsets, questions instead of
guesses, the --json contract, a clinic's drop-in abbreviations, and no crash on any text."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rehabclaim.cli.main import app as cli
from rehabclaim.reference import Reference, load_reference
from rehabclaim.services.assistant import MAX_NOTE_CHARS, Suggestion, suggest
from rehabclaim.services.errors import BadInput, Refusal, TooLarge
from tests.api_support import assert_clean_problem, cheap_passwords, running_api
from tests.conftest import drop

__all__ = ["cheap_passwords"]  # an autouse fixture, imported to be in use here

EXAMPLE = "TE 25', MT 10 min, HP, gait trng 12 min, AFO fit + training 14 min"
DAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def codes(result: Suggestion) -> dict[str, int | None]:
    return {service.code: service.minutes for service in result.services}


def run(reference: Reference, note: str, discipline: str = "PT", payer: str | None = None) -> Suggestion:
    return suggest(reference, note=note, discipline=discipline, payer=payer, date=DAY)


def test_the_issue_example_is_read_and_scrubbed(reference: Reference) -> None:
    result = run(reference, EXAMPLE, payer="medicare")
    assert codes(result) == {"97110": 25, "97140": 10, "97010": None, "97116": 12, "97760": 14}
    assert result.questions == []
    assert result.scrub is not None and result.scrub.total_timed_minutes == 61
    assert result.scrub.total_timed_units == 4  # 61 minutes, CMS total-time method
    assert all("GP" in line.modifiers for line in result.scrub.lines if line.code != "97010")


def test_offsets_point_at_the_phrase(reference: Reference) -> None:
    note = "Pain 6/10.\nTE 25', MT 10 min, HP\nNMR 10:05-10:27"
    result = run(reference, note)
    for service in result.services:
        assert note[service.start : service.end] == service.phrase
        assert 0 <= service.confidence <= 1 and service.why
    phrases = {service.code: service.phrase for service in result.services}
    assert phrases == {"97110": "TE 25'", "97140": "MT 10 min", "97010": "HP", "97112": "NMR 10:05-10:27"}


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("Gait trng 12': amb 150' x3 w/ RW, min A -> CGA", {"97116": 12}),  # feet, assistance level
        ("Amb 250' w/o AD, SBA. Gait trng 10 min total", {"97116": 10}),
        ("TE 18 min: SLR 3x10, SAQ 3x15, HS curls 3x10 w/ 3#.", {"97110": 18}),  # sets x reps
        ("Pain 7/10 at start, 4/10 after. TE 20 min, MT 12 min.", {"97110": 20, "97140": 12}),
        ("BP 132/84, HR 76, SpO2 97%. Ther ex 24 min.", {"97110": 24}),  # vitals
        ("DOS 04/02/2026. Seen for visit 6/12. TE 16', MT 10'.", {"97110": 16, "97140": 10}),  # dates
        ("Pt declined HP. Gait trng 15 min.", {"97116": 15}),
        ("E-stim held 2/2 skin irritation. TE 20 min", {"97110": 20}),
        ("Pt refused paraffin. Jt mob wrist 10 min", {"97140": 10}),
        ("HEP issued (handout), reviewed w/ pt.", {}),  # HEP alone is no code
        ("HEP instruction 10 min: taught bridges, clams", {"97110": 10}),  # HEP taught: what was taught
        ("AROM R knee 5-110 deg; PROM 0-118. MMT quads 4-/5. TE 20 min.", {"97110": 20}),
        ("TA 15 min: lifting 10# box floor to waist, carrying 50'.", {"97530": 15}),  # TA = activities
        ("Strengthening B TA and peroneals w/ green band 3x15; ther ex 12 min.", {"97110": 12}),  # TA = muscle
        ("Initial AFO training 18 min: donning/doffing, wear schedule", {"97760": 18}),  # orthosis
        ("Don/doff socks and shoes w/ long-handled shoe horn, sock aid 14 min.", {"97535": 14}),  # clothing
        ("TE 10' rest 3' TE 10'", {"97110": 20}),  # rest excluded, minutes summed
        ("TE 9:00-9:23; MT 9:23-9:35", {"97110": 23, "97140": 12}),
        ("Gait trng 1410-1425, TE 1425-1450", {"97116": 15, "97110": 25}),
        ("Ther act 2:05p-2:30p; NMR 10:05–10:28", {"97530": 25, "97112": 23}),
        ("11:50-12:10 TE", {"97110": 20}),
        ("TE 8 min warm-up bike. MT 10 min. TE 12 min strengthening.", {"97110": 20, "97140": 10}),
        ("TE (30) / MT (10) / HP", {"97110": 30, "97140": 10, "97010": None}),
        ("POC: 2x/wk x 6 wks, ther ex, MT, gait trng. Today: TE 20 min.", {"97110": 20}),  # plan, frequency
        ("TE using VR headset for shoulder ROM games 18 min.", {"97110": 18, "0770T": None}),  # XR add-on
        ("therapeutic exercises for fifteen minutes", {"97110": 15}),  # dictation
    ],
)
def test_traps(reference: Reference, note: str, expected: dict[str, int | None]) -> None:
    assert codes(run(reference, note)) == expected


def test_estim_unattended_is_g0283_for_medicare_only(reference: Reference) -> None:
    note = "Premod e-stim to cervical paraspinals x 15 min, unattended"
    assert codes(run(reference, note, payer="medicare")) == {"G0283": None}
    assert codes(run(reference, note, payer="other")) == {"97014": None}
    assert codes(run(reference, "NMES to quad during quad sets, 1:1, 11 min")) == {"97032": 11}


@pytest.mark.parametrize(
    ("note", "discipline", "asked"),
    [
        ("TA 10 min.", "PT", ["97530"]),  # TA without context
        ("Transfer training 15 min", "PT", ["97530", "97535"]),
        ("Initial eval today.", "PT", ["97161", "97162", "97163"]),
        ("MT", "PT", ["97140"]),  # a timed code without minutes
    ],
)
def test_questions_instead_of_guesses(reference: Reference, note: str, discipline: str, asked: list[str]) -> None:
    result = run(reference, note, discipline)
    assert any(question.codes == asked for question in result.questions), result.questions
    for question in result.questions:
        assert note[question.start : question.end] == question.phrase


def test_ta_joined_to_another_code_is_asked_not_billed(reference: Reference) -> None:
    result = run(reference, "TA/ADL 18 min.", "OT")
    assert codes(result) == {} and result.questions


def test_total_that_disagrees_is_a_question(reference: Reference) -> None:
    agreeing = run(reference, "TE 20 min, MT 15 min. Total timed 35 min.")
    assert agreeing.questions == []
    disagreeing = run(reference, "TE 20 min, MT 15 min. Total timed 40 min.")
    assert codes(disagreeing) == {"97110": 20, "97140": 15}  # the total never changes a code's minutes
    assert any("40" in question.question for question in disagreeing.questions)


def test_the_date_comes_from_the_note_never_today(reference: Reference) -> None:
    dated = suggest(reference, note="DOS 04/02/2026. TE 16'", discipline="PT")
    assert dated.date == date(2026, 4, 2) and dated.scrub is not None
    undated = suggest(reference, note="TE 16'", discipline="PT")
    assert undated.date is None and undated.scrub is None
    assert any("date of service" in question.question for question in undated.questions)


def test_bad_input_is_refused(reference: Reference) -> None:
    with pytest.raises(BadInput, match="discipline"):
        suggest(reference, note="TE 10 min", discipline="XX")
    with pytest.raises(BadInput, match="note"):
        suggest(reference, note="  ", discipline="PT")
    with pytest.raises(TooLarge, match="note"):
        suggest(reference, note="TE 10 min " * 200_000, discipline="PT")  # 2 MB


def test_a_clinic_adds_its_own_abbreviation(rules: Path) -> None:
    drop(rules, "assistant/clinic.toml", '[[phrase]]\ncode = "97112"\nabbrev = ["BALX"]\nsource = "clinic list"\n')
    result = suggest(load_reference(), note="BALX 14 min", discipline="PT", date=DAY)
    assert codes(result) == {"97112": 14} and "clinic list" in result.services[0].why


def test_a_bad_clinic_file_is_refused_naming_the_field(rules: Path) -> None:
    drop(rules, "assistant/clinic.toml", '[[phrase]]\ncode = "99999"\nterms = ["x"]\nsource = "s"\n')
    with pytest.raises(BadInput, match="code"):
        suggest(load_reference(), note="TE 10 min", discipline="PT")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400) | st.text(alphabet="TEMN'0123456789:- ,.;/xminA\n", max_size=200))
def test_no_crash_on_any_text(reference: Reference, note: str) -> None:
    try:
        result = suggest(reference, note=note, discipline="PT", date=DAY)
    except Refusal:
        return
    for service in result.services:
        assert note[service.start : service.end] == service.phrase
        assert service.minutes is None or 0 < service.minutes <= 24 * 60


def test_big_unicode_and_control_characters(reference: Reference) -> None:
    noisy = ("TE 10 min\x00\x1b[31m é漢字🙂 \u202e MT 5' \r\n" * 1500)[: MAX_NOTE_CHARS - 1]
    result = suggest(reference, note=noisy, discipline="PT", date=DAY)
    assert {"97110", "97140"} <= set(codes(result))


def test_cli_json_contract_and_stdin() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["suggest", EXAMPLE, "--discipline", "PT", "--date", "2026-06-01", "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    assert {"services", "questions", "scrub"} <= set(payload)
    assert set(payload["services"][0]) >= {"code", "minutes", "phrase", "start", "end", "confidence", "why"}
    assert {"lines", "findings", "total_expected"} <= set(payload["scrub"])
    piped = runner.invoke(cli, ["suggest", "-", "--discipline", "PT", "--date", "2026-06-01", "--json"], input=EXAMPLE)
    assert piped.exit_code == 0 and json.loads(piped.stdout) == payload
    human = runner.invoke(cli, ["suggest", EXAMPLE, "--discipline", "PT", "--date", "2026-06-01"])
    assert human.exit_code == 0 and "97760" in human.stdout


def test_cli_refuses_in_one_line() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["suggest", "TE 10 min", "--discipline", "XX"])
    assert bad.exit_code == 2 and "discipline" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad_date = runner.invoke(cli, ["suggest", "TE 10 min", "--discipline", "PT", "--date", "June"])
    assert bad_date.exit_code == 2 and "--date" in bad_date.stderr


def test_api_route_returns_the_cli_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHABCLAIM_RULES_DIR", raising=False)
    cli_result = CliRunner().invoke(cli, ["suggest", EXAMPLE, "--discipline", "PT", "--date", "2026-06-01", "--json"])
    with running_api(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path) as api:
        body = {"note": EXAMPLE, "discipline": "PT", "date": "2026-06-01"}
        response = api.post("/v1/suggest", json=body)
        assert response.status_code == 200, response.text
        assert response.content.strip() == cli_result.stdout_bytes.strip()
        assert_clean_problem(api.post("/v1/suggest", json={**body, "discipline": "XX"}), 422)
        assert api.client.post("/v1/suggest", json=body).status_code == 401  # no token
