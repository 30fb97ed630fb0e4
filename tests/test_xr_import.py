"""XR session import (issue 11): the session format and its JSON Schema, matching sessions to visits, the
`rehabclaim import xr` command, the session as FHIR R4, and an enriched visit scrubbed with 0770T."""

from __future__ import annotations

import importlib.util
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.errors import InputError
from rehabclaim.model import Visit
from rehabclaim.reference import load_reference
from rehabclaim.rules import RULES
from rehabclaim.scrubber import Scrubber
from rehabclaim.services.errors import BadInput
from rehabclaim.services.imports import attach_xr_sessions
from rehabclaim.xr import XrSession, match_sessions, read_sessions, session_to_fhir

EXAMPLES = Path(str(resources.files("rehabclaim.data").joinpath("examples/xr")))
SCHEMA = Path(str(resources.files("rehabclaim.data").joinpath("schemas/xr-session.schema.json")))
runner = CliRunner()
reference = load_reference()

SESSION: dict[str, Any] = {
    "vendor": "Example XR Vendor",
    "system_name": "Example XR Rehab System",
    "software_version": "4.2.0",
    "patient_id": "P300",
    "session_id": "S-1",
    "session_start": "2026-03-10T10:07:00-05:00",
    "session_end": "2026-03-10T10:27:00-05:00",
    "setting": "clinic",
    "supervised": True,
    "clinician_id": "PT-7",
}
VISIT: dict[str, Any] = {
    "id": "v-1",
    "date": "2026-03-10",
    "payer": "medicare",
    "discipline": "PT",
    "diagnoses": ["M17.11"],
    "patient": {"id": "P300"},
    "services": [{"code": "97110", "minutes": 25}, {"code": "0770T"}],
    "documentation": {"services": [{"code": "97110", "start": "10:05", "stop": "10:30"}]},
}


def session(**fields: Any) -> dict[str, Any]:
    return {**SESSION, **fields}


def visit(**fields: Any) -> Visit:
    return msgspec.convert({**VISIT, **fields}, Visit)


def attach(sessions: list[dict[str, Any]], visits: list[Visit]) -> Any:
    data = b"\n".join(json.dumps(one).encode() for one in sessions)
    return attach_xr_sessions(reference, sessions_data=data, visits=visits, json_lines=True)


def kept(one: Visit) -> list[Any]:
    assert one.documentation is not None and one.documentation.xr is not None
    return one.documentation.xr.sessions


# ---- the format ------------------------------------------------------------------------------------------


def test_example_session_reads_every_field() -> None:
    [one] = read_sessions((EXAMPLES / "session.json").read_bytes())
    assert one.session_start.utcoffset() is not None and one.duration.total_seconds() == 20 * 60
    assert one.exercises[0].rom_max_deg == {"right_knee_extension": -3}
    assert one.exercises[0].quality_scale == "0-100" and one.exercises[1].difficulty_level == "intermediate"
    assert one.patient_reported is not None and one.patient_reported.pain_0_10 == 3


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"session_start": "2026-03-10T10:07:00"}, "session_start", "timezone"),
        ({"session_end": "2026-03-10T10:00:00-05:00"}, "session_end", "after session_start"),
        ({"session_end": "2026-03-11T00:10:00-05:00"}, "session_end", "another day"),
        ({"setting": "car"}, "setting", "Invalid enum value"),
        ({"clinican_id": "x"}, "clinican_id", "unknown field"),
        ({"active_minutes": 45}, "active_minutes", "more than the session lasted"),
        ({"exercises": [{"name": "x", "quality_score": 70}]}, "exercises[0].quality_scale", "required with"),
        ({"exercises": [{"name": "x", "rom_max_deg": {"knee": 400}}]}, "exercises[0].rom_max_deg", "<= 360"),
        ({"patient_reported": {"pain_0_10": 11}}, "patient_reported.pain_0_10", "<= 10"),
        ({"vendor": "bad\u0007"}, "vendor", "control character"),
    ],
)
def test_bad_session_names_field_and_line(change: dict[str, Any], field: str, reason: str) -> None:
    good = json.dumps(SESSION).encode()
    with pytest.raises(InputError) as caught:
        read_sessions(good + b"\n\n" + json.dumps(session(**change)).encode(), json_lines=True)
    assert caught.value.line == 3 and caught.value.field == field and reason in caught.value.reason


def test_bad_session_in_a_list_names_index_and_line() -> None:
    text = json.dumps([SESSION, session(setting=None)], indent=2).encode()
    with pytest.raises(InputError) as caught:
        read_sessions(text)
    openings = [number for number, line in enumerate(text.decode().splitlines(), start=1) if line == "  {"]
    start_line = openings[1]  # the second session's opening brace
    assert caught.value.field == "sessions[1].setting" and caught.value.line == start_line


def test_missing_field_and_duplicate_key_are_refused() -> None:
    missing = {key: value for key, value in SESSION.items() if key != "patient_id"}
    with pytest.raises(InputError, match="patient_id: required field is missing"):
        read_sessions(json.dumps(missing).encode())
    duplicated = json.dumps(SESSION)[:-1] + ', "setting": "home"}'
    with pytest.raises(InputError, match="setting: duplicate key"):
        read_sessions(duplicated.encode())


def _without_words(node: Any) -> Any:
    """A schema without the words for people (description, title, default) msgspec does not keep."""
    if isinstance(node, dict):
        return {k: _without_words(v) for k, v in node.items() if k not in ("description", "title", "default")}
    if isinstance(node, list):
        return [_without_words(item) for item in node]
    return node


def _without_extras(node: Any) -> Any:
    """Our schema without what it says beyond msgspec's: the UTC-offset pattern on date-times (msgspec's
    ``tz=True``) and dependentRequired (the quality scale, checked after decoding)."""
    if isinstance(node, dict):
        dropped = {"dependentRequired"} | ({"pattern"} if node.get("format") == "date-time" else set())
        return {k: _without_extras(v) for k, v in node.items() if k not in dropped}
    if isinstance(node, list):
        return [_without_extras(item) for item in node]
    return node


def test_schema_agrees_with_the_model() -> None:
    ours = json.loads(SCHEMA.read_text())
    assert ours["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    generated = msgspec.json.schema(XrSession)["$defs"]
    top = {k: v for k, v in ours.items() if k not in ("$schema", "$id", "$defs")}
    assert _without_extras(_without_words(top)) == _without_words(generated.pop("XrSession"))
    assert _without_extras(_without_words(ours["$defs"])) == _without_words(generated)
    for definition in (top, *ours["$defs"].values()):  # every field explained to the people who export
        assert all(prop.get("description") for prop in definition["properties"].values())


def _example_sessions() -> list[Any]:
    found: list[Any] = []
    for path in sorted(EXAMPLES.glob("session*")):
        text = path.read_text()
        if path.suffix == ".jsonl":
            found += [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            loaded = json.loads(text)
            found += loaded if isinstance(loaded, list) else [loaded]
    return found


def _conforms(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """A small JSON Schema check of the keywords our schema uses (jsonschema is not installed here)."""
    if "$ref" in schema:
        return _conforms(value, root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root)
    if "anyOf" in schema:
        return any(_conforms(value, option, root) for option in schema["anyOf"])
    if "enum" in schema:
        return value in schema["enum"]
    kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list}
    kind = schema.get("type")
    if kind == "null":
        return value is None
    if not isinstance(value, kinds[kind]) or (kind in ("integer", "number") and isinstance(value, bool)):
        return False
    if kind == "string":
        ok = schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
        return ok and ("pattern" not in schema or re.search(schema["pattern"], value) is not None)
    if kind in ("integer", "number"):
        return bool(schema.get("minimum", -(10**12)) <= value <= schema.get("maximum", 10**12))
    if kind == "array":
        return len(value) <= schema.get("maxItems", 10**9) and all(_conforms(i, schema["items"], root) for i in value)
    if kind == "object" and "properties" in schema:
        if set(schema["required"]) - set(value) or set(value) - set(schema["properties"]):
            return False
        needs = schema.get("dependentRequired", {})
        if any(key in value and set(needs[key]) - set(value) for key in needs):
            return False
        return all(_conforms(v, schema["properties"][k], root) for k, v in value.items())
    if kind == "object":
        return len(value) <= schema.get("maxProperties", 10**9) and all(
            _conforms(v, schema["additionalProperties"], root) for v in value.values()
        )
    return True


def test_examples_satisfy_schema_and_model() -> None:
    schema = json.loads(SCHEMA.read_text())
    examples = _example_sessions()
    assert len(examples) >= 7
    if importlib.util.find_spec("jsonschema") is not None:  # pragma: no cover - not installed in this venv
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        for example in examples:
            validator.validate(example)
    for example in examples:
        assert _conforms(example, schema, schema), example["session_id"]
        read_sessions(json.dumps(example).encode())  # the model takes it too
    # ... and both refuse the same broken ones
    for broken in (session(setting="car"), session(extra=1), {**SESSION, "vendor": ""}, session(exercises=[{}])):
        assert not _conforms(broken, schema, schema)
        with pytest.raises(InputError):
            read_sessions(json.dumps(broken).encode())


# ---- matching --------------------------------------------------------------------------------------------


def test_overlapping_session_is_attached_as_evidence() -> None:
    original = visit()
    result = attach([SESSION], [original])
    [attached] = result.attached
    assert (attached.visit_id, attached.basis, attached.overlapping) == (
        "v-1",
        "overlapping-time",
        ["97110 10:05-10:30"],
    )
    assert not result.unmatched and not result.ambiguous and not result.has_problem
    [evidence] = kept(result.visits[0])
    assert (evidence.session_id, evidence.vendor, evidence.start, evidence.end) == (
        "S-1",
        "Example XR Vendor",
        "10:07",
        "10:27",
    )
    assert (evidence.setting, evidence.supervised, evidence.clinician, evidence.software_version) == (
        "clinic",
        True,
        "PT-7",
        "4.2.0",
    )
    assert original.documentation is not None and original.documentation.xr is None  # the input is untouched


def test_documentation_created_and_time_blocks_used() -> None:
    timed = visit(
        documentation=None,
        services=[{"code": "97112", "minutes": 30, "time_blocks": [{"start": "10:00", "end": "10:30"}]}],
    )
    result = attach([SESSION], [timed])
    assert result.attached[0].overlapping == ["97112 10:00-10:30"] and len(kept(result.visits[0])) == 1


def test_visit_without_times_matches_by_patient_and_date_and_says_so() -> None:
    result = attach([SESSION], [visit(documentation=None)])
    [attached] = result.attached
    assert attached.basis == "patient-and-date" and attached.overlapping == []
    assert "patient and date only" in attached.notes[0]
    assert kept(result.visits[0])[0].session_id == "S-1"


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ({"patient_id": "P999"}, "no-visit-for-patient", "no visit of patient P999"),
        (
            {"session_start": "2026-03-11T10:07:00-05:00", "session_end": "2026-03-11T10:27:00-05:00"},
            "no-visit-on-date",
            "no visit on 2026-03-11",
        ),
        (
            {"session_start": "2026-03-10T10:30:00-05:00", "session_end": "2026-03-10T10:50:00-05:00"},
            "no-overlapping-time",
            "none overlapping the session 10:30-10:50",
        ),  # touching 10:30 is not overlapping
        (  # 04:30 UTC on the 11th is the 10th at -05:00, but this session is logged at UTC: the 11th
            {"session_start": "2026-03-11T04:30:00Z", "session_end": "2026-03-11T04:50:00Z"},
            "no-visit-on-date",
            "no visit on 2026-03-11",
        ),
    ],
)
def test_session_without_its_visit_is_listed_with_reason(change: dict[str, Any], reason: str, words: str) -> None:
    result = attach([session(**change)], [visit(), visit(id="v-2", patient={"id": "P301"})])
    [problem] = result.unmatched
    assert problem.reason == reason and words in problem.message and problem.session_id == "S-1"
    assert not result.attached and result.has_problem
    assert all(one.documentation is None or one.documentation.xr is None for one in result.visits)


def test_local_date_is_the_sessions_own() -> None:
    late = session(session_start="2026-03-10T23:30:00-05:00", session_end="2026-03-10T23:50:00-05:00")
    result = attach([late], [visit(documentation=None)])  # 04:30 UTC on the 11th: still the 10th locally
    assert [a.visit_id for a in result.attached] == ["v-1"]


def test_session_fitting_two_visits_is_ambiguous() -> None:
    second = visit(id="v-2", discipline="OT", services=[{"code": "97535", "minutes": 30}], documentation=None)
    result = attach([SESSION], [visit(documentation=None), second])
    [problem] = result.ambiguous
    assert problem.reason == "two-or-more-visits" and problem.visit_ids == ["v-1", "v-2"]
    assert not result.attached and not result.unmatched
    # times tell them apart: the one overlapping wins
    afternoon = visit(id="v-2", documentation={"services": [{"code": "97110", "start": "14:00", "stop": "14:30"}]})
    assert [a.visit_id for a in attach([SESSION], [visit(), afternoon]).attached] == ["v-1"]


def test_import_is_idempotent_by_vendor_and_session_id() -> None:
    once = attach([SESSION], [visit()]).visits
    again = attach([session(vendor="example xr vendor ")], once)
    assert len(kept(again.visits[0])) == 1 and again.attached[0].already_attached
    twice_in_one_file = attach([SESSION, SESSION], [visit()])
    assert len(kept(twice_in_one_file.visits[0])) == 1
    assert [a.already_attached for a in twice_in_one_file.attached] == [False, True]
    other = attach([session(session_id="S-2")], once)  # a second session of the same visit is added
    assert [s.session_id for s in kept(other.visits[0])] == ["S-1", "S-2"]


def test_home_session_is_kept_with_a_note() -> None:
    result = attach([session(setting="home", supervised=False)], [visit()])
    assert "cannot back 0770T" in result.attached[0].notes[0]
    assert kept(result.visits[0])[0].setting == "home"


def test_service_refuses_bad_sessions_as_bad_input() -> None:
    with pytest.raises(BadInput) as caught:
        attach_xr_sessions(reference, sessions_data=b'{"vendor": 1}', visits=[visit()])
    assert caught.value.field == "vendor" and caught.value.exit_code == 2


def test_matching_does_not_read_names() -> None:
    named = visit(patient={"id": "P999", "first_name": "Jane", "last_name": "Doe"})
    result = match_sessions(read_sessions(json.dumps(SESSION).encode()), [named])
    assert result.unmatched[0].reason == "no-visit-for-patient" and "Jane" not in result.unmatched[0].message


# ---- the command -----------------------------------------------------------------------------------------


def run(*args: str | Path) -> Any:
    return runner.invoke(app, ["import", "xr", *map(str, args)])


def test_cli_attaches_and_writes_visits_atomically(tmp_path: Path) -> None:
    out = tmp_path / "enriched.jsonl"
    result = run(EXAMPLES / "sessions-match.jsonl", "--visits", EXAMPLES / "visits.jsonl", "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 session(s) attached" in result.stdout
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["id"] for v in written] == [f"xr-visit-{n}" for n in range(1, 6)]
    assert written[0]["documentation"]["xr"]["sessions"][0]["session_id"] == "S-2026-03-10-001"
    assert written[1]["documentation"]["xr"]["sessions"][0]["start"] == "09:15"
    assert "documentation" not in written[2] and out.stat().st_mode & 0o077 == 0  # owner-only: patient data
    again = run(EXAMPLES / "session.json", "--visits", out, "--out", tmp_path / "again.jsonl", "--json")
    report = json.loads(again.stdout)
    assert again.exit_code == 0 and report["attached"][0]["already_attached"] is True
    assert len(report["visits"][0]["documentation"]["xr"]["sessions"]) == 1


def test_cli_lists_unmatched_and_ambiguous_and_exits_1(tmp_path: Path) -> None:
    for name, kind, count in (
        ("sessions-no-match.jsonl", "unmatched", 3),
        ("sessions-match-twice.json", "ambiguous", 1),
    ):
        result = run(EXAMPLES / name, "--visits", EXAMPLES / "visits.jsonl", "--json", "--out", tmp_path / "o.jsonl")
        assert result.exit_code == 1
        report = json.loads(result.stdout)
        assert len(report[kind]) == count and not report["attached"]
        assert all(problem["message"] and problem["reason"] for problem in report[kind])
    reasons = [
        p["reason"]
        for p in json.loads(
            run(EXAMPLES / "sessions-no-match.jsonl", "--visits", EXAMPLES / "visits.jsonl", "--json").stdout
        )["unmatched"]
    ]
    assert reasons == ["no-visit-for-patient", "no-visit-on-date", "no-overlapping-time"]


def test_cli_without_out_writes_visits_to_stdout_and_summary_to_stderr() -> None:
    result = run(EXAMPLES / "session.json", "--visits", EXAMPLES / "visits.jsonl")
    assert result.exit_code == 0
    visits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(visits) == 5 and "1 session(s) attached" in result.stderr


def test_cli_bad_input_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions.jsonl"
    sessions.write_text(json.dumps(SESSION) + "\n" + json.dumps(session(session_end="noon")) + "\n")
    out = tmp_path / "out.jsonl"
    result = run(sessions, "--visits", EXAMPLES / "visits.jsonl", "--out", out)
    assert result.exit_code == 2 and not out.exists()
    assert f"{sessions}: line 2: session_end:" in result.stderr
    visits = tmp_path / "visits.jsonl"
    visits.write_text(json.dumps(VISIT) + "\n" + json.dumps({**VISIT, "date": "someday"}) + "\n")
    result = run(sessions, "--visits", visits, "--out", out)
    assert result.exit_code == 2 and f"--visits {visits}: line 2: date:" in result.stderr
    result = run(EXAMPLES / "session.json", "--visits", visits, "--out", visits)
    assert result.exit_code == 2 and "this is the input file" in result.stderr


# ---- FHIR R4 ---------------------------------------------------------------------------------------------


def _resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in bundle["entry"]}


def test_session_as_fhir_r4() -> None:
    [one] = read_sessions((EXAMPLES / "session.json").read_bytes())
    bundle = session_to_fhir(one)
    assert bundle == session_to_fhir(one)  # stable ids
    found = _resources(bundle)
    assert set(found) == {"Device", "Procedure", "Observation"}
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    device, procedure, observation = found["Device"], found["Procedure"], found["Observation"]
    assert device["deviceName"][0]["name"] == "Example XR Rehab System" and device["version"] == [{"value": "4.2.0"}]
    assert procedure["code"]["coding"] == [{"system": "http://www.ama-assn.org/go/cpt", "code": "0770T"}]
    assert procedure["usedReference"][0]["reference"] in urls and procedure["status"] == "completed"
    assert observation["partOf"][0]["reference"] in urls and observation["device"]["reference"] in urls
    assert observation["category"][0]["coding"][0]["code"] == "therapy"
    assert observation["effectivePeriod"] == {"start": "2026-03-10T10:07:00-05:00", "end": "2026-03-10T10:27:00-05:00"}
    assert observation["valueQuantity"]["value"] == 18 and observation["valueQuantity"]["code"] == "min"
    codes = [c["code"]["coding"][0]["code"] for c in observation["component"]]
    assert codes.count("repetitions") == 2 and "rom-max" in codes and "movement-quality" in codes and "72514-3" in codes
    assert observation["subject"] == {
        "identifier": {"system": "https://rehabclaim.example/fhir/sid/patient-id", "value": "P300"}
    }
    home = session_to_fhir(read_sessions(json.dumps(session(setting="home", supervised=False)).encode())[0])
    assert _resources(home)["Observation"]["category"][0]["coding"][0]["code"] == "activity"
    for session_bundle in (bundle, home):  # independent validators: R4 (4.0.1) models, strict
        _validate_r4(session_bundle)


def _validate_r4(bundle: dict[str, Any]) -> None:
    """Parse with fhir.resources' R4B models and fhirclient's strict R4 models (fhir-therapy.md s. 6); when
    they are not installed, the shape checks of the caller stand alone."""
    if importlib.util.find_spec("fhir") is None or importlib.util.find_spec("fhirclient") is None:
        pytest.skip("fhir.resources / fhirclient not installed: FHIR checked by shape only")
    from fhir.resources.R4B.bundle import Bundle
    from fhirclient.models.bundle import Bundle as StrictR4Bundle

    parsed = Bundle.model_validate(bundle)
    assert [entry.resource.get_resource_type() for entry in parsed.entry] == ["Device", "Procedure", "Observation"]
    assert len(StrictR4Bundle(bundle, strict=True).entry) == 3


# ---- end to end ------------------------------------------------------------------------------------------


def test_import_then_scrub_with_0770t(tmp_path: Path) -> None:
    out = tmp_path / "enriched.jsonl"
    assert run(EXAMPLES / "session.json", "--visits", EXAMPLES / "visits.jsonl", "--out", out).exit_code == 0
    enriched = msgspec.json.decode(out.read_text().splitlines()[0], type=Visit)
    before = msgspec.json.decode((EXAMPLES / "visits.jsonl").read_text().splitlines()[0], type=Visit)
    scrubber = Scrubber(reference)
    result, without = scrubber.scrub(enriched), scrubber.scrub(before)
    assert [(line.code, line.units) for line in result.lines] == [("97110", 2), ("0770T", 1)]
    assert not result.has_error, result.findings
    # the imported session leaves no finding the visit did not have, and answers "0770T without evidence"
    assert {(f.rule, f.code) for f in result.findings} <= {(f.rule, f.code) for f in without.findings}
    undocumented = [rule.id for rule in RULES if rule.name == "xr-use-undocumented"]
    for rule_id in undocumented:  # the XR code rules (issue 11) read documentation.xr.sessions
        assert (rule_id, "0770T") in {(f.rule, f.code) for f in without.findings}
        assert rule_id not in {f.rule for f in result.findings}
    scrubbed = runner.invoke(app, ["scrub", str(out), "--json"])
    assert scrubbed.exit_code == 0, scrubbed.output
