"""The scrub as a whole: the JSON contract, merging, orthotic minutes, order independence."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rehabclaim.errors import InputError
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result
from tests.conftest import visit_json

ISSUE_EXAMPLE = {
    "id": "v1",
    "date": "2026-03-02",
    "payer": "medicare",
    "discipline": "PT",
    "rendered_by": "therapist",
    "initial_orthotic_encounter": True,
    "diagnoses": ["M21.371"],
    "patient": {"id": "P100"},
    "services": [
        {"code": "97110", "minutes": 33},
        {"code": "97760", "minutes": 20, "training_minutes": 12, "body_region": "lower"},
        {"code": "L1906", "units": 1},
        {"code": "97010"},
    ],
}


def test_output_contract_fields(engine: Scrubber) -> None:
    out = json.loads(engine.scrub_json(json.dumps(ISSUE_EXAMPLE)))
    assert {"id", "method", "total_timed_minutes", "total_timed_units", "lines", "findings"} <= out.keys()
    assert out["id"] == "v1" and out["method"] == "cms"
    for line in out["lines"]:
        assert {"code", "units", "modifiers", "minutes", "why"} <= line.keys()
    for finding in out["findings"]:
        assert {"rule", "severity", "code", "message"} <= finding.keys()


def test_issue_example_counts_training_minutes_only_beside_the_device(engine: Scrubber) -> None:
    out = json.loads(engine.scrub_json(json.dumps(ISSUE_EXAMPLE)))
    lines = {line["code"]: line for line in out["lines"]}
    assert out["total_timed_minutes"] == 33 + 12
    assert out["total_timed_units"] == 3
    assert lines["97110"]["units"] == 2 and lines["97760"]["units"] == 1
    assert "training" in lines["97760"]["why"]
    assert lines["L1906"]["modifiers"] == [] and lines["97010"]["modifiers"] == ["GP"]
    # the one error: a Medicare practitioner claim does not carry the orthosis (issue 9, B001)
    assert [f["rule"] for f in out["findings"] if f["severity"] == "error"] == ["B001"]


def test_same_code_twice_is_one_line_with_the_minutes_added(scrub: Any) -> None:
    result = scrub(
        services=[
            {"code": "97110", "minutes": 10},
            {"code": "97140", "minutes": 20},
            {"code": "97110", "minutes": 13},
        ]
    )
    assert [(line.code, line.units, line.minutes) for line in result.lines] == [
        ("97110", 2, 23),
        ("97140", 1, 20),
    ]


def test_per_code_payer_and_unknown_payer(scrub: Any) -> None:
    services = [
        {"code": "97110", "minutes": 8},
        {"code": "97140", "minutes": 8},
        {"code": "97112", "minutes": 8},
    ]
    assert scrub(payer="sample_per_code", services=services).total_timed_units == 3
    unknown = scrub(payer="Some Local Plan", services=services)
    assert unknown.method == "cms" and unknown.total_timed_units == 2


@pytest.mark.parametrize(
    ("fields", "field_named"),
    [
        ({"date": "2026-02-30"}, "date"),
        ({"date": None}, "date"),
        ({"discipline": "PX"}, "discipline"),
        ({"services": [{"code": "97110", "minutes": -1}]}, "services[0].minutes"),
        ({"services": [{"code": "97110", "minutes": "ten"}]}, "services[0].minutes"),
        ({"services": [{"minutes": 10}]}, "services[0].code"),
        ({"services": []}, "services"),
        ({"rendered_by": "aide"}, "rendered_by"),
    ],
)
def test_bad_input_names_the_field(fields: dict[str, Any], field_named: str) -> None:
    with pytest.raises(InputError) as caught:
        decode_visit(visit_json(**fields))
    assert caught.value.field == field_named


def test_missing_required_field_is_named() -> None:
    with pytest.raises(InputError) as caught:
        decode_visit(b'{"id": "x", "date": "2026-06-01", "discipline": "PT", "services": [{"code": "97110"}]}')
    assert caught.value.field == "payer"
    assert "missing" in caught.value.reason


@pytest.mark.parametrize(
    ("service", "field_named"),
    [
        ({"code": "99999", "minutes": 10}, "services[1].code"),
        ({"code": "97110", "minutes": 10, "modifiers": ["ZZ"]}, "services[1].modifiers[0]"),
        ({"code": "97110", "minutes": 10, "assistant_minutes": 11}, "services[1].assistant_minutes"),
    ],
)
def test_unknown_code_or_modifier_is_an_input_error(
    engine: Scrubber, service: dict[str, Any], field_named: str
) -> None:
    visit = decode_visit(visit_json(services=[{"code": "97140", "minutes": 10}, service]))
    with pytest.raises(InputError) as caught:
        engine.scrub(visit)
    assert caught.value.field == field_named


def test_malformed_json_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        decode_visit(b'{"id": ')


codes = st.sampled_from(["97110", "97112", "97116", "97140", "97530", "97010", "97162", "L1906", "97760"])
services = st.lists(
    st.fixed_dictionaries(
        {"code": codes, "minutes": st.integers(0, 90)}, optional={"assistant_minutes": st.integers(0, 0)}
    ),
    min_size=1,
    max_size=7,
    unique_by=lambda s: s["code"],
)


@settings(max_examples=150)
@given(services, st.sampled_from(["medicare", "sample_per_code"]), st.randoms())
def test_scrub_does_not_change_with_the_order_of_services(
    engine: Scrubber, svcs: list[dict[str, Any]], payer: str, rng: Any
) -> None:
    shuffled = svcs[:]
    rng.shuffle(shuffled)
    first = engine.scrub(decode_visit(visit_json(payer=payer, services=svcs)))
    second = engine.scrub(decode_visit(visit_json(payer=payer, services=shuffled)))
    key = sorted((line.code, line.units, tuple(line.modifiers)) for line in first.lines)
    assert key == sorted((line.code, line.units, tuple(line.modifiers)) for line in second.lines)
    assert first.total_timed_units == second.total_timed_units
    assert sorted(f.rule for f in first.findings) == sorted(f.rule for f in second.findings)


def test_encode_round_trip(engine: Scrubber) -> None:
    result = engine.scrub(decode_visit(json.dumps(ISSUE_EXAMPLE)))
    assert msgspec.json.decode(encode_result(result), type=type(result)) == result


def test_split_assistant_line_divides_the_minutes(scrub: Any) -> None:
    result = scrub(
        services=[{"code": "97110", "minutes": 36, "assistant_minutes": 23}, {"code": "97140", "minutes": 30}]
    )
    assert [(line.code, line.units, line.modifiers, line.minutes) for line in result.lines] == [
        ("97110", 1, ["GP", "CQ"], 23),
        ("97110", 1, ["GP"], 13),
        ("97140", 2, ["GP"], 30),
    ]
    assert "CQ on 1 of 2 unit(s)" in result.lines[0].why
