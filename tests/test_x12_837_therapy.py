"""The therapy loops of the 837P writer (issue 13): 2310A referring (certifying) physician, 2300 DTP*454,
PWK and NTE, SV105 line place of service, SV107 pointers from the line's own diagnoses, DTP*472 RD8. Each
is present when its data is, absent when not, and pyx12 (an independent validator) accepts every file;
bad data is held back naming the visit field, and a visit without the new fields writes the same bytes as
before they existed (tests/fixtures/x12-therapy/legacy.837 was written by the writer before this change)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rehabclaim.claims.build import build_claim
from rehabclaim.claims.run import check_settings, claim_interchange, write_claims
from rehabclaim.errors import InputError
from rehabclaim.ledger import open_ledger
from rehabclaim.model import Visit
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.x12 import claim837
from tests.fuzzing import validate_837
from tests.test_x12_837 import claim_visit, segments

FIXTURES = Path(__file__).parent / "fixtures" / "x12-therapy"
NOW = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)
PHYSICIAN = {"npi": "1245319599", "last_name": "Rivera", "first_name": "Marta", "name": "Dr. Marta Rivera"}
PLAN = {"certified_from": "2026-05-01", "certified_through": "2026-07-29", "certifying_physician": PHYSICIAN}
DIAGNOSES = ["M54.50", "M21.371", "S72.001D", "M62.81", "R26.89"]
THERAPY = {
    "plan_of_care": PLAN,
    "diagnoses": DIAGNOSES,
    "initial_treatment_date": "2026-05-04",
    "claim_note": {"code": "DCP", "text": "Goals - independent gait 500 ft by week 8"},
    "attachments": [
        {"type": "PN", "transmission": "FX", "control": "POC-2026-0042"},
        {"type": "09", "transmission": "AA"},
    ],
    "services": [
        {"code": "97110", "minutes": 38, "diagnoses": ["S72.001D", "M62.81"]},
        {"code": "97140", "minutes": 30, "diagnoses": ["R26.89"], "place_of_service": "12"},
        {"code": "97010"},
    ],
}


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def clean(path: Path) -> tuple[bool, str]:
    """pyx12's verdict: the document passes and its 999 reports no segment or element error."""
    ok, report = validate_837(path)
    return ok and "IK3" not in report and "IK4" not in report and "AK9*A" in report, report


def claim_rows(path: Path, claim_id: str) -> list[list[str]]:
    """The segments of one claim: from its CLM up to the next CLM, or to SE."""
    found: list[list[str]] = []
    inside = False
    for row in segments(path):
        if row[0] in ("CLM", "SE"):
            inside = row[0] == "CLM" and row[1] == claim_id
        if inside:
            found.append(row)
    return found


def write(visits: list[Visit], ledger: Any, out: Path) -> Any:
    return write_claims(visits, Scrubber(), ledger, out, now=NOW)


def test_visits_without_the_new_fields_write_the_same_bytes_as_before(ledger: Any, tmp_path: Path) -> None:
    visits = [decode_visit(msgspec.json.encode(v)) for v in json.loads((FIXTURES / "legacy-visits.json").read_text())]
    out = tmp_path / "legacy.837"
    run = write(visits, ledger, out)
    assert not run.held_back
    assert out.read_bytes() == (FIXTURES / "legacy.837").read_bytes()
    text = out.read_text()  # a physician without an NPI (c5) gives no 2310A
    assert "NM1*DN" not in text and "DTP*454" not in text and "PWK*" not in text and "NTE*" not in text


def test_every_therapy_segment_is_written_from_its_field_and_pyx12_accepts_it(ledger: Any, tmp_path: Path) -> None:
    out = tmp_path / "therapy.837"
    run = write([claim_visit(id="t1", **THERAPY), claim_visit(id="plain")], ledger, out)
    assert [c.control_number for c in run.written] == ["t1", "plain"] and not run.held_back
    ok, report = clean(out)
    assert ok, report
    rows = claim_rows(out, "t1")
    tags = [row[0] for row in rows]
    # 2300 in the map's order (CLM 1300, DTP 1350, PWK 1550, NTE 1900, HI 2310), then 2310A before 2400
    assert tags[:6] == ["CLM", "DTP", "PWK", "PWK", "NTE", "HI"] and tags[6] == "NM1"
    assert rows[1] == ["DTP", "454", "D8", "20260504"]
    assert rows[2] == ["PWK", "PN", "FX", "", "", "AC", "POC-2026-0042"] and rows[3] == ["PWK", "09", "AA"]
    assert rows[4] == ["NTE", "DCP", "Goals - independent gait 500 ft by week 8"]
    assert rows[6] == ["NM1", "DN", "1", "RIVERA", "MARTA", "", "", "", "XX", "1245319599"]
    lines = {row[1].split(":")[1]: row for row in rows if row[0] == "SV1"}
    assert lines["97110"][7] == "3:4"  # S72.001D and M62.81 are HI positions 3 and 4
    assert lines["97140"][5] == "12" and lines["97140"][7] == "5"  # SV105: 12 differs from CLM05-1 11
    assert len(lines["97010"]) == 8 and lines["97010"][5] == "" and lines["97010"][7] == "1:2:3:4"  # as before
    plain = claim_rows(out, "plain")
    assert not {"PWK", "NTE"} & {row[0] for row in plain} and not any(r[:2] == ["NM1", "DN"] for r in plain)
    assert not any(r[:2] == ["DTP", "454"] for r in plain)


def test_note_text_is_written_as_given(ledger: Any, tmp_path: Path) -> None:
    out = tmp_path / "note.837"
    write([claim_visit(id="n1", claim_note={"text": "Plan of care sent to Dr. Núñez"})], ledger, out)
    assert ["NTE", "ADD", "Plan of care sent to Dr. Nunez"] in segments(out)  # plain ASCII, as names are
    assert clean(out)[0]


@pytest.mark.parametrize(
    ("physician", "rendering", "expected"),
    [
        (
            {"npi": "1245319599", "name": "Dr. Rivera"},
            None,
            ["NM1", "DN", "1", "DR. RIVERA", "", "", "", "", "XX", "1245319599"],
        ),
        ({"name": "Dr. Rivera", "last_name": "Rivera"}, None, None),  # no NPI: no 2310A
        (
            {"npi": "1003000126", "last_name": "Park"},
            {"npi": "1003000126", "first_name": "Lee", "last_name": "Park"},
            None,
        ),
        ({"npi": "1234567893", "last_name": "Self"}, None, None),  # the billing provider's own NPI
    ],
)
def test_referring_provider_only_with_an_npi_and_not_the_provider_itself(
    ledger: Any, tmp_path: Path, physician: dict[str, str], rendering: dict[str, str] | None, expected: list[str] | None
) -> None:
    out = tmp_path / "ref.837"
    fields: dict[str, Any] = {"plan_of_care": {**PLAN, "certifying_physician": physician}}
    if rendering is not None:
        fields["rendering_provider"] = rendering
    run = write([claim_visit(id="r1", **fields)], ledger, out)
    assert not run.held_back
    referring = [row for row in segments(out) if row[:2] == ["NM1", "DN"]]
    assert referring == ([] if expected is None else [expected[: max(i + 1 for i, v in enumerate(expected) if v)]])
    assert clean(out)[0]


def test_a_service_spanning_days_is_written_as_a_date_range(tmp_path: Path) -> None:
    """The visit model has one date (so claims from visits always carry D8); the writer's line takes an
    end day for callers that have one (secondary claims, claims read back) and writes RD8."""
    engine = Scrubber()
    visit = claim_visit(id="span")
    claim_settings = engine.fees.practice.claims
    assert claim_settings is not None
    claim = build_claim(visit, engine.scrub(visit, for_claim=True), claim_settings)
    first = msgspec.structs.replace(claim.lines[0], service_end=visit.date + timedelta(days=6))
    claim = msgspec.structs.replace(claim, lines=(first, *claim.lines[1:]))
    numbers = {"isa": 7, "gs": 7, "st": 7}
    separators = check_settings(claim_settings, "demo")
    out = tmp_path / "span.837"
    out.write_text(claim_interchange(claim_settings, separators, numbers, NOW, [claim]).render())
    dates = [row for row in segments(out) if row[:2] == ["DTP", "472"]]
    assert dates[0] == ["DTP", "472", "RD8", "20260601-20260607"] and dates[1] == ["DTP", "472", "D8", "20260601"]
    assert clean(out)[0]


BAD = [
    ({"services": [{"code": "97110", "minutes": 30, "diagnoses": ["M25.561"]}]}, "services[0].diagnoses[0] 'M25.561'"),
    ({"attachments": [{"type": "ZZ", "transmission": "FX", "control": "A1"}]}, "attachments[0].type 'ZZ'"),
    ({"attachments": [{"type": "PN", "transmission": "XX", "control": "A1"}]}, "attachments[0].transmission 'XX'"),
    ({"attachments": [{"type": "PN", "transmission": "BM"}]}, "attachments[0].control is required"),
    ({"attachments": [{"type": "PN", "transmission": "AA", "control": "A1"}]}, "attachments[0].control is not sent"),
    ({"attachments": [{"type": "PN", "transmission": "EL", "control": "A*1"}]}, "attachments[0].control"),
    ({"claim_note": {"code": "XYZ", "text": "x"}}, "claim_note.code 'XYZ'"),
    ({"claim_note": {"text": "n" * 81}}, "claim_note.text"),
    ({"initial_treatment_date": "2026-06-02"}, "initial_treatment_date is after"),
    (
        {"plan_of_care": {**PLAN, "certifying_physician": {"npi": "1245319590", "last_name": "X"}}},
        "certifying_physician.npi",
    ),
    ({"services": [{"code": "97110", "minutes": 30, "place_of_service": "1~"}]}, "services[0].place_of_service"),
    ({"services": [{"code": "97110", "minutes": 30, "place_of_service": "1"}]}, "services[0].place_of_service '1'"),
    ({"place_of_service": "28"}, "place_of_service '28' is not a CMS place-of-service code"),
    (
        {"services": [{"code": "97110", "minutes": 15}, {"code": "97110", "minutes": 15, "place_of_service": "12"}]},
        "services[1].place_of_service differs",
    ),
]


@pytest.mark.parametrize(("fields", "named"), BAD)
def test_bad_claim_data_is_held_back_naming_the_field_and_nothing_is_written(
    ledger: Any, tmp_path: Path, fields: dict[str, Any], named: str
) -> None:
    out = tmp_path / "bad.837"
    run = write([claim_visit(id="bad", diagnoses=DIAGNOSES, **fields)], ledger, out)
    assert not run.written and not out.exists()
    messages = [f.message for f in dict(run.held_back)["bad"]]
    assert any(named in message for message in messages), messages
    good = write([claim_visit(id="bad", diagnoses=DIAGNOSES, **fields), claim_visit(id="good")], ledger, out)
    assert [c.control_number for c in good.written] == ["good"] and "CLM*bad" not in out.read_text()


def test_more_than_four_diagnoses_on_a_service_is_refused_by_the_contract() -> None:
    with pytest.raises(Exception, match=r"services\[0\]\.diagnoses"):
        claim_visit(services=[{"code": "97110", "minutes": 30, "diagnoses": DIAGNOSES}], diagnoses=DIAGNOSES)


def test_code_lists_are_the_ones_pyx12s_map_gives() -> None:
    import pyx12

    root = ET.parse(Path(pyx12.__file__).parent / "map" / "837.5010.X222.A1.xml").getroot()
    claim_loop = next(loop for loop in root.iter("loop") if loop.get("xid") == "2300")
    found = {
        str(element.get("xid")): frozenset(str(code.text) for code in element.iter("code"))
        for segment in claim_loop.findall("segment")
        if segment.get("xid") in ("PWK", "NTE")
        for element in segment.iter("element")
        if element.get("xid") in ("PWK01", "PWK02", "NTE01")
    }
    assert found == claim837.CODES


def test_places_of_service_are_the_ones_pyx12s_code_file_gives() -> None:
    import pyx12

    root = ET.parse(Path(pyx12.__file__).parent / "map" / "codes.xml").getroot()
    (codeset,) = [c for c in root.iter("codeset") if c.findtext("id") == "pos"]
    assert frozenset(str(code.text) for code in codeset.iter("code")) == claim837.PLACES_OF_SERVICE


# --- property: any visit the contract accepts -> a valid 837P or a held-back visit naming a field ---------

CODE_TEXT = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*~:^ "), min_size=0, max_size=3)
WORDS = st.text(st.characters(min_codepoint=32, max_codepoint=0x17F, exclude_categories=["Cc"]), max_size=90)


@st.composite
def therapy_visits(draw: st.DrawFn) -> dict[str, Any]:
    diagnoses = draw(st.lists(st.sampled_from(DIAGNOSES), min_size=1, max_size=5, unique=True))
    line_codes = st.lists(st.sampled_from([*diagnoses, "M25.561"]), max_size=3, unique=True)
    services = [
        {
            "code": code,
            "minutes": draw(st.integers(15, 45)),
            "diagnoses": draw(line_codes),
            **(
                {"place_of_service": draw(st.sampled_from(["11", "12", "22", "1", "x~"]))}
                if draw(st.booleans())
                else {}
            ),
        }
        for code in draw(st.lists(st.sampled_from(["97110", "97140", "97010"]), min_size=1, max_size=3, unique=True))
    ]
    physician = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "npi": st.sampled_from(["1245319599", "1245319590", "1003000126"]),
                "name": WORDS.filter(lambda s: len(s) <= 128),
                "last_name": WORDS.filter(lambda s: len(s) <= 128),
                "first_name": WORDS.filter(lambda s: len(s) <= 128),
            },
        )
    )
    attachment = st.fixed_dictionaries(
        {
            "type": st.one_of(
                st.sampled_from(sorted(claim837.CODES["PWK01"])), CODE_TEXT.filter(lambda s: len(s) <= 2)
            ),
            "transmission": st.one_of(
                st.sampled_from(["AA", "BM", "EL", "EM", "FT", "FX"]), CODE_TEXT.filter(lambda s: len(s) <= 2)
            ),
        },
        optional={"control": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=64)},
    )
    fields: dict[str, Any] = {
        "diagnoses": diagnoses,
        "services": services,
        "plan_of_care": {**PLAN, "certifying_physician": physician},
        "attachments": draw(st.lists(attachment, max_size=3)),
    }
    if draw(st.booleans()):
        fields["initial_treatment_date"] = (date(2026, 6, 1) - timedelta(days=draw(st.integers(-3, 120)))).isoformat()
    if draw(st.booleans()):
        fields["claim_note"] = {
            "text": draw(WORDS.filter(lambda s: len(s) <= 128)),
            "code": draw(st.one_of(st.sampled_from(["ADD", "CER", "DCP", "DGN", "TPO"]), CODE_TEXT)),
        }
    return fields


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scrubber, Any, Path]:
    """One engine and ledger for every example (building them is most of an example's cost)."""
    folder = tmp_path_factory.mktemp("property")
    return Scrubber(), open_ledger(f"sqlite:///{folder / 'ledger.sqlite3'}"), folder


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(fields=therapy_visits())
def test_any_accepted_visit_gives_a_valid_837_or_is_held_back_naming_a_field(
    shared: tuple[Scrubber, Any, Path], fields: dict[str, Any]
) -> None:
    engine, ledger, folder = shared
    try:
        visit = claim_visit(id="p1", **fields)
    except (msgspec.ValidationError, InputError):
        event("refused by the contract")
        return  # the contract refused it, naming the field: it never reaches the writer
    out = folder / "p.837"
    out.unlink(missing_ok=True)
    run = write_claims([visit], engine, ledger, out, now=NOW, resend=True)
    event("written" if run.written else "held back")
    if run.written:
        ok, report = clean(out)
        assert ok, report
    else:
        assert not out.exists()
        messages = [f.message for f in dict(run.held_back)["p1"]]
        fields_named = (
            "services[",
            "attachments[",
            "claim_note",
            "plan_of_care",
            "initial_treatment_date",
            "diagnoses",
        )
        assert any(name in message for message in messages for name in fields_named), messages
