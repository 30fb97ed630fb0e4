"""The 837P claim writer: no invalid element ever written (injection, lengths, accents), no claim sent
twice (re-runs, concurrent runs, crashes between ledger and file), outputs never over an input, files
owner-only."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from rehabclaim.claims.build import build_claim
from rehabclaim.claims.run import ClaimRunError, write_claims
from rehabclaim.cli.main import app
from rehabclaim.ledger import open_ledger
from rehabclaim.ledger.models import ClaimSent, ControlNumber, InterchangeRecord
from rehabclaim.practice import demo_practice
from rehabclaim.reference import load_reference
from rehabclaim.rules import RULES
from rehabclaim.scrubber import Scrubber
from rehabclaim.x12 import claim837
from rehabclaim.x12.core import Separators, X12WriteError, iter_segments, read_separators, render
from tests.conftest import visit_json
from tests.fuzzing import validate_837
from tests.test_x12_837 import ADDRESS, NOW, PATIENT, claim_visit, segments

ENVELOPE_SEGMENTS = ("ISA", "GS", "GE", "IEA")
BODY_SEGMENTS = ("ST", "BHT", "NM1", "PER", "HL", "PRV", "N3", "N4", "REF", "SBR", "DMG", "PAT", "CLM", "HI")
BODY_SEGMENTS += ("LX", "SV1", "DTP", "SE")
BODY_SEGMENTS += ("NTE", "PWK")  # 2300 claim note and attachments (tests/test_x12_837_therapy.py)
BODY_SEGMENTS += ("CAS", "AMT", "OI", "SVD")  # secondary claims: 2320 and 2430 (tests/test_secondary_claims.py)
ELEMENTS_FILE = Path(__file__).parents[1] / "src" / "rehabclaim" / "data" / "x12-837p-elements.toml"
HEADER = """\
# The X12 data elements of every segment the 837P writer emits, with their type and length limits, as
# pyx12's maps give them (x12.control.00501.xml for ISA/GS/GE/IEA, 837.5010.X222.A1.xml for the
# transaction, dataele.xml for types and lengths). Derived, not typed: regenerate with
#   .venv/bin/python -m tests.test_reliability_claims > src/rehabclaim/data/x12-837p-elements.toml
# (tests/test_reliability_claims.py checks this file against the maps). A reference is the segment id and
# the element's position, "-NN" for a part of a composite element. Source: reference x12.md (pyx12 map).
# Types: AN string, ID code, N0 integer, R decimal (sign and point not counted), DT date, TM time.

[elements]"""


def pyx12_element_table() -> str:
    """The data file's text, derived from pyx12's maps (pyx12 is a development dependency only)."""
    import xml.etree.ElementTree as ET

    import pyx12

    maps = Path(pyx12.__file__).parent / "map"
    dictionary = {
        e.get("ele_num"): (e.get("data_type"), int(e.get("min_len") or 0), int(e.get("max_len") or 0))
        for e in ET.parse(maps / "dataele.xml").getroot()
    }
    found: dict[str, set[str]] = {}
    for name, wanted in (("x12.control.00501.xml", ENVELOPE_SEGMENTS), ("837.5010.X222.A1.xml", BODY_SEGMENTS)):
        for segment in ET.parse(maps / name).getroot().iter("segment"):
            if segment.get("xid") in wanted:
                for element in segment.iter("element"):
                    found.setdefault(str(element.get("xid")), set()).add(str(element.findtext("data_ele")))
    lines = [HEADER]
    for reference in sorted(found):
        (number,) = found[reference]  # one data element per reference in every loop, or a table cannot hold it
        kind, low, high = dictionary[number]
        lines.append(f'{reference} = {{ element = "{number}", type = "{kind}", min = {low}, max = {high} }}')
    return "\n".join(lines) + "\n"


def test_element_table_is_the_one_pyx12s_maps_give() -> None:
    assert ELEMENTS_FILE.read_text() == pyx12_element_table()


# --- item 2: no element the file cannot hold is ever written --------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def isa13_taken(database: Any) -> int:
    """The last interchange control number used (0 when none)."""
    with database.connect() as connection:
        value = connection.execute(select(ControlNumber.value).where(ControlNumber.name == "isa")).scalar()
    return int(value or 0)


SUBSCRIBER = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "birth_date": "1980-04-12",
    "sex": "F",
    "member_id": "W123",
    "relationship": "19",
    "address": ADDRESS,
}
CHILD = {
    "id": "P2",
    "first_name": "Leo",
    "last_name": "Diaz",
    "birth_date": "2015-02-01",
    "sex": "M",
    "address": ADDRESS,
}
INJECTIONS = [
    ("patient.last_name", {"patient": {**PATIENT, "last_name": "DIAZ~NM1*IL*1*MALLORY"}}, "'~'"),
    ("patient.member_id", {"patient": {**PATIENT, "member_id": "1EG4*TE5:MK73^X"}}, "'*'"),
    ("patient.first_name", {"patient": {**PATIENT, "first_name": "ANA:MALLORY"}}, "':'"),
    ("patient.address.line1", {"patient": {**PATIENT, "address": {**ADDRESS, "line1": "12 Oak St^MALLORY"}}}, "'^'"),
    ("id", {"id": "c*MALLORY"}, "'*'"),
    (
        "authorization.number",
        {"authorization": {"number": "A~MALLORY", "from": "2026-01-01", "through": "2026-12-31"}},
        "",
    ),
    ("payer_claim_control_number", {"claim_frequency": "7", "payer_claim_control_number": "P*MALLORY"}, ""),
    ("subscriber.last_name", {"patient": CHILD, "subscriber": {**SUBSCRIBER, "last_name": "DIAZ~MALLORY"}}, ""),
    ("subscriber.relationship", {"patient": CHILD, "subscriber": {**SUBSCRIBER, "relationship": "1~"}}, ""),
    (
        "rendering_provider.last_name",
        {"rendering_provider": {"npi": "1987654328", "first_name": "Lee", "last_name": "PARK*MALLORY"}},
        "",
    ),
    ("place_of_service", {"place_of_service": "1~"}, ""),
    ("place_of_service", {"place_of_service": "1-"}, "letters and digits"),
]


@pytest.mark.parametrize(("field", "fields", "says"), INJECTIONS, ids=[f"{c[0]}-{i}" for i, c in enumerate(INJECTIONS)])
def test_separator_injection_holds_the_visit_back_naming_the_field(
    ledger: Any, tmp_path: Path, field: str, fields: dict[str, Any], says: str
) -> None:
    bad = claim_visit(**{"id": "bad", **fields})
    out = tmp_path / "claims.x12"
    run = write_claims([claim_visit(id="good"), bad], Scrubber(), ledger, out, now=NOW)
    held = dict(run.held_back)
    assert [c.control_number for c in run.written] == ["good"]
    messages = [f.message for f in held[bad.id] if f.rule == "X006"]
    assert any(m.startswith(f"{field} ") and says in m for m in messages), held[bad.id]
    assert "MALLORY" not in out.read_text()
    ok, report = validate_837(out)
    assert ok, report
    assert [r[1] for r in segments(out) if r[0] == "CLM"] == ["good"]


def test_separators_are_the_interchanges_own(ledger: Any, tmp_path: Path) -> None:
    """With | as element separator, a * in a name is plain text (valid X12) and a | is refused."""
    practice = demo_practice()
    assert practice.claims is not None
    separators = msgspec.structs.replace(practice.claims.separators, element="|", component=">")
    changed = msgspec.structs.replace(practice, claims=msgspec.structs.replace(practice.claims, separators=separators))
    star = claim_visit(id="star", patient={**PATIENT, "last_name": "O*BRIEN"})
    pipe = claim_visit(id="pipe", patient={**PATIENT, "last_name": "O|BRIEN"})
    out = tmp_path / "claims.x12"
    run = write_claims([star, pipe], Scrubber(replace(load_reference(), practice=changed)), ledger, out, now=NOW)
    assert [c.control_number for c in run.written] == ["star"]
    assert "patient.last_name contains '|'" in dict(run.held_back)["pipe"][0].message
    assert "NM1|IL|1|O*BRIEN|ANA|" in out.read_text()
    assert validate_837(out)[0]


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"id": "V" * 50}, "id", "50 characters long; at most 38 fit"),
        ({"patient": {**PATIENT, "address": {**ADDRESS, "line1": "1" * 56}}}, "patient.address.line1", "at most 55"),
        ({"patient": {**PATIENT, "first_name": "A" * 36}}, "patient.first_name", "at most 35"),
        ({"patient": {**PATIENT, "last_name": "   "}}, "patient.last_name", "is empty"),
        ({"patient": {**PATIENT, "member_id": "X"}}, "patient.member_id", "at least 2 needed"),
        ({"patient": {**PATIENT, "address": {**ADDRESS, "city": "R"}}}, "patient.address.city", "at least 2 needed"),
        ({"patient": {**PATIENT, "member_id": "1EG4 "}}, "patient.member_id", "ends with a space"),
        ({"payer_claim_control_number": "P" * 51, "claim_frequency": "7"}, "payer_claim_control_number", "at most 50"),
    ],
)
def test_lengths_out_of_the_guides_limits_hold_the_visit_back(
    ledger: Any, tmp_path: Path, fields: dict[str, Any], field: str, says: str
) -> None:
    out = tmp_path / "claims.x12"
    run = write_claims([claim_visit(**{"id": "bad", **fields})], Scrubber(), ledger, out, now=NOW)
    assert not run.written and not out.exists()
    (_, findings), *_ = run.held_back
    assert any(f.rule == "X006" and f.message.startswith(f"{field} ") and says in f.message for f in findings), findings
    assert isa13_taken(ledger) == 0  # a refused visit costs no control number


def test_accented_names_are_transliterated_and_said_so(ledger: Any, tmp_path: Path) -> None:
    accented = {**PATIENT, "first_name": "José", "last_name": "Núñez", "address": {**ADDRESS, "line1": "12 Peña St"}}
    out = tmp_path / "claims.x12"
    run = write_claims([claim_visit(id="c1", patient=accented)], Scrubber(), ledger, out, now=NOW)
    assert [c.control_number for c in run.written] == ["c1"] and not run.held_back
    rows = segments(out)
    assert ["NM1", "IL", "1", "NUNEZ", "JOSE", "", "", "", "MI", "1EG4TE5MK73"] in rows and ["N3", "12 Pena St"] in rows
    ok, report = validate_837(out)
    assert ok, report
    (visit_id, notes), *_ = run.notes
    assert visit_id == "c1" and [f.rule for f in notes] == ["X007"] and notes[0].severity == "info"
    assert "patient.last_name" in notes[0].message and "patient.first_name" in notes[0].message
    assert run.as_dict()["notes"][0]["findings"][0]["rule"] == "X007"


def test_a_name_without_a_plain_form_is_refused_before_any_control_number(ledger: Any, tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    run = write_claims([claim_visit(id="c1", patient={**PATIENT, "last_name": "Łódź"})], Scrubber(), ledger, out)
    assert not run.written and not out.exists() and isa13_taken(ledger) == 0
    finding = dict(run.held_back)["c1"][0]
    assert finding.rule == "X006" and finding.message.startswith("patient.last_name contains 'Ł'")
    run = write_claims([claim_visit(id="c2")], Scrubber(), ledger, out)
    assert run.interchange_control_number == 1


def test_practice_values_that_do_not_fit_are_refused_naming_the_field(ledger: Any, tmp_path: Path) -> None:
    practice = demo_practice()
    assert practice.claims is not None
    provider = msgspec.structs.replace(practice.claims.billing_provider, name="DEMO~CLINIC")
    for claims, field in (
        (msgspec.structs.replace(practice.claims, billing_provider=provider), "claims.billing_provider.name"),
        (msgspec.structs.replace(practice.claims, sender_id="S" * 16), "claims.sender_id"),
    ):
        engine = Scrubber(replace(load_reference(), practice=msgspec.structs.replace(practice, claims=claims)))
        with pytest.raises(ClaimRunError, match=field):
            write_claims([claim_visit(id="c1")], engine, ledger, tmp_path / "claims.x12")
    assert isa13_taken(ledger) == 0 and not (tmp_path / "claims.x12").exists()


def _interchange(*claims: claim837.Claim, sender: str = "DEMOCLINIC01") -> claim837.Interchange:
    address = claim837.Address("100 MAIN ST", "RALEIGH", "NC", "276011234")
    return claim837.Interchange(
        sender,
        "CLEARINGHOUSE",
        1,
        1,
        1,
        NOW,
        claim837.Submitter("DEMO", "DEMOCLINIC01", "BILLING", "9195550100"),
        claim837.Receiver("DEMO CH", "CLEARINGHOUSE"),
        claim837.BillingProvider("DEMO", "1234567893", "561234567", address),
        claims,
    )


def _claim(**changes: Any) -> claim837.Claim:
    person = claim837.Person(
        "DIAZ",
        "ANA",
        datetime(1950, 4, 12).date(),
        "F",
        claim837.Address("1 A ST", "RALEIGH", "NC", "27601"),
        "1EG4TE5MK73",
    )
    line = claim837.ServiceLine("97110", ("GP",), Decimal(65), 1, (1,), NOW.date(), "c1-1")
    fields: dict[str, Any] = {
        "control_number": "c1",
        "payer": claim837.PayerId("MEDICARE", "11502", "MB"),
        "subscriber": person,
        "diagnoses": ("M5450",),
        "lines": (line,),
    }
    return claim837.Claim(**{**fields, **changes})


def test_the_writer_itself_never_writes_a_bad_element() -> None:
    """The last line of defence, for a bug that lets bad data past the rules: it raises, nothing written."""
    with pytest.raises(X12WriteError, match="CLM01 is 39 characters long"):
        _claim(control_number="c" * 39)
    with pytest.raises(X12WriteError, match="SV101-03 is not a code"):
        _claim(lines=(claim837.ServiceLine("97110", ("G:",), Decimal(65), 1, (1,), NOW.date()),))
    with pytest.raises(X12WriteError, match="NM109 contains"):
        _claim(payer=claim837.PayerId("MEDICARE", "115\u00e902", "MB"))
    forged = _claim(subscriber=msgspec.structs.replace(_claim().subscriber, last_name="DIAZ~NM1*IL"))
    with pytest.raises(X12WriteError, match="a separator of this file"):
        _interchange(forged).render()  # a separator is known only to the interchange: caught when rendered
    with pytest.raises(X12WriteError, match="ISA06 is 16 characters long"):
        _interchange(_claim(), sender="S" * 16).render()  # was silently cut to 15
    with pytest.raises(X12WriteError, match="contain"):
        render([["NM1", "A*B"]], Separators())
    with pytest.raises(X12WriteError, match="cannot carry"):
        render([["NM1", "A\u00e9"]], Separators())
    assert render([["NM1", "A", "B", ""]], Separators()) == "NM1*A*B~\n"


def test_a_value_the_rule_misses_is_still_never_written(ledger: Any, tmp_path: Path) -> None:
    """Rule X006 switched off: the builder holds back what it cannot build, the renderer refuses separators,
    and in both cases nothing is written and no control number is used."""
    without_x006 = Scrubber(rules=tuple(rule for rule in RULES if rule.id != "X006"))  # the engine's rules, injected
    out = tmp_path / "claims.x12"
    too_long = claim_visit(id="V" * 40)
    run = write_claims([too_long], without_x006, ledger, out)
    assert not run.written and "CLM01 is 40 characters long" in run.held_back[0][1][0].message
    assert [finding.message.split(":")[0] for finding in run.held_back[0][1]] == ["the 837P would be invalid"]
    with pytest.raises(X12WriteError):
        write_claims([claim_visit(id="c1", patient={**PATIENT, "last_name": "DIAZ~X"})], without_x006, ledger, out)
    assert not out.exists() and isa13_taken(ledger) == 0
    with ledger.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ClaimSent)).scalar() == 0


def test_every_element_of_a_full_interchange_fits_the_table(ledger: Any, tmp_path: Path) -> None:
    """The constants around the checked values: every element of every segment, against the 837P table."""
    visits = [
        claim_visit(id="c1", diagnoses=["M54.50", "M21.371", "S72.001D", "M62.81", "R26.89"]),
        claim_visit(
            id="c2",
            patient=CHILD,
            subscriber=SUBSCRIBER,
            payer="sample_medicaid",
            claim_frequency="7",
            payer_claim_control_number="PCN-10",
            authorization={"number": "A-1", "from": "2026-01-01", "through": "2026-12-31", "units": 40},
            rendering_provider={"npi": "1987654328", "first_name": "Lee", "last_name": "Park"},
        ),
    ]
    run = write_claims(visits, Scrubber(), ledger, tmp_path / "claims.x12", now=NOW)
    interchange = _interchange(*run.written)
    assert list(claim837.segment_problems(interchange.segments(), Separators())) == []
    assert list(claim837.segment_problems([["NM1", "IL", "1", "X" * 61]])) == [
        ("NM103", "is 61 characters long; at most 60 fit")
    ]


NAME_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=70)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(last_name=NAME_TEXT)
def test_any_name_is_refused_or_read_back_as_written(engine: Scrubber, last_name: str) -> None:
    """Property: whatever the name, the visit is held back by X006 naming patient.last_name, or its claim
    renders and the 837P reads back with exactly that name, in its own element."""
    from rehabclaim.claims.text import name
    from rehabclaim.errors import InputError

    try:
        visit = claim_visit(id="c1", patient={**PATIENT, "last_name": last_name})
    except InputError:
        return  # unreadable input (control characters): exit 2 before any claim is built
    result = engine.scrub(visit, for_claim=True)
    refused = [f for f in result.findings if f.rule == "X006"]
    if refused:
        assert all(f.message.startswith("patient.last_name ") for f in refused)
        return
    if any(f.severity == "error" for f in result.findings):
        return  # held back for another reason (X001: empty name)
    settings_ = engine.fees.practice.claims
    assert settings_ is not None
    text = _interchange(build_claim(visit, result, settings_)).render()
    subscriber = next(s for s in iter_segments(text, read_separators(text)) if s[:2] == ["NM1", "IL"])
    assert subscriber[3] == name(last_name) and len(subscriber) == 10


# --- item 5: no claim sent twice; ledger and files agree after a crash ----------------------------------


def _lines(count: int) -> list[bytes]:
    base = json.loads(visit_json(id="x", patient=PATIENT, services=[{"code": "97110", "minutes": 30}]))
    base["plan_of_care"] = {"certified_from": "2026-05-01", "certified_through": "2026-07-29"}
    return [json.dumps({**base, "id": f"v{number:03d}"}).encode() for number in range(count)]


def _visits(lines: list[bytes]) -> list[Any]:
    from rehabclaim.scrubber import decode_visit

    return [decode_visit(line) for line in lines]


def _claim_ids(folder: Path) -> list[str]:
    """CLM01 of every claim in every 837P file of ``folder``."""
    ids = []
    for path in sorted(folder.glob("*.x12")):
        text = path.read_text()
        ids += [s[1] for s in iter_segments(text, read_separators(text)) if s[0] == "CLM"]
    return ids


def _ledger_state(database: Any) -> tuple[list[str], dict[int, tuple[str, str]]]:
    """Visit ids in claims_sent, and each interchange's (status, path)."""
    with database.connect() as connection:
        sent = sorted(connection.execute(select(ClaimSent.visit_id)).scalars())
        interchanges = {
            row.control_number: (row.status, row.path) for row in connection.execute(select(InterchangeRecord))
        }
    return sent, interchanges


def _assert_ledger_matches_files(database: Any, folder: Path) -> None:
    sent, interchanges = _ledger_state(database)
    assert sorted(_claim_ids(folder)) == sent
    for number, (status, path) in interchanges.items():
        assert status == "sent"
        text = Path(path).read_text()
        assert int(text[:106].split(text[3])[13]) == number
    assert sorted(str(p) for p in folder.glob("*.x12")) == sorted(path for _, path in interchanges.values())
    assert not list(folder.glob(".*.tmp"))


def test_a_rerun_sends_nothing_new_and_resend_sends_again(ledger: Any, tmp_path: Path) -> None:
    visits = _visits(_lines(3))
    first = write_claims(visits, Scrubber(), ledger, tmp_path / "first.x12")
    assert len(first.written) == 3 and first.interchange_control_number == 1
    again = write_claims(visits, Scrubber(), ledger, tmp_path / "again.x12")
    assert not again.written and again.already_sent == ["v000", "v001", "v002"]
    assert not (tmp_path / "again.x12").exists() and isa13_taken(ledger) == 1  # nothing sent, no number used
    resent = write_claims(visits, Scrubber(), ledger, tmp_path / "resent.x12", resend=True)
    assert len(resent.written) == 3 and resent.interchange_control_number == 2 and not resent.already_sent
    assert sorted(_claim_ids(tmp_path)) == sorted(["v000", "v001", "v002"] * 2)
    _assert_ledger_matches_files(ledger, tmp_path)


def test_a_recorded_interchange_is_never_replaced_by_the_next(ledger: Any, tmp_path: Path) -> None:
    """The same --837 path again: with nothing new, nothing is written; with new claims (here --resend), the
    file holding interchange 1 is not replaced (its claims may not have been transmitted yet)."""
    out = tmp_path / "claims.x12"
    visits = _visits(_lines(2))
    write_claims(visits, Scrubber(), ledger, out)
    first = out.read_bytes()
    assert write_claims(visits, Scrubber(), ledger, out).already_sent == ["v000", "v001"]
    with pytest.raises(ClaimRunError, match="holds interchange 1, recorded as sent"):
        write_claims(visits, Scrubber(), ledger, out, resend=True)
    assert out.read_bytes() == first and isa13_taken(ledger) == 1
    _assert_ledger_matches_files(ledger, tmp_path)


def test_a_replacement_goes_out_once_and_duplicates_in_one_input_go_once(ledger: Any, tmp_path: Path) -> None:
    write_claims([claim_visit(id="c1")], Scrubber(), ledger, tmp_path / "original.x12")
    replacement = claim_visit(id="c1", claim_frequency="7", payer_claim_control_number="PCN-1")
    run = write_claims([replacement, replacement], Scrubber(), ledger, tmp_path / "replacement.x12")
    assert [c.frequency for c in run.written] == ["7"] and run.already_sent == ["c1"]
    run = write_claims([replacement], Scrubber(), ledger, tmp_path / "again.x12")
    assert not run.written and run.already_sent == ["c1"]
    _assert_ledger_matches_files(ledger, tmp_path)


def test_a_failed_rename_leaves_nothing_recorded(ledger: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    visits = _visits(_lines(2))

    def broken(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", broken)
        with pytest.raises(OSError):
            write_claims(visits, Scrubber(), ledger, tmp_path / "claims.x12")
    assert _ledger_state(ledger) == ([], {}) and not list(tmp_path.glob("*.x12"))
    run = write_claims(visits, Scrubber(), ledger, tmp_path / "claims.x12")
    assert len(run.written) == 2
    _assert_ledger_matches_files(ledger, tmp_path)


def _killed_run(url: str, lines: list[bytes], out: str, where: str) -> None:
    """A claim run that dies by SIGKILL right before the rename, or right after it (before marked sent)."""
    from rehabclaim.claims import run as claim_run

    def die(*args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "before rename":
        os.replace = die  # type: ignore[assignment]
    else:
        claim_run._mark_sent = die  # type: ignore[assignment]
    write_claims(_visits(lines), Scrubber(), open_ledger(url), Path(out))


@pytest.mark.parametrize(("where", "outcome"), [("before rename", "not sent"), ("after rename", "sent")])
def test_a_run_killed_between_ledger_and_file_is_settled_by_the_next(
    ledger_url: str, tmp_path: Path, where: str, outcome: str
) -> None:
    database = open_ledger(ledger_url)
    lines = _lines(5)
    out = tmp_path / "claims.x12"
    killed = multiprocessing.get_context("spawn").Process(target=_killed_run, args=(ledger_url, lines, str(out), where))
    killed.start()
    killed.join(120)
    assert killed.exitcode == -signal.SIGKILL
    sent, interchanges = _ledger_state(database)
    assert len(sent) == 5 and [status for status, _ in interchanges.values()] == ["pending"]
    assert out.exists() is (where == "after rename")
    run = write_claims(_visits(lines), Scrubber(), database, tmp_path / "next.x12")
    assert run.recovered == [(1, outcome)]
    if outcome == "sent":
        assert not run.written and len(run.already_sent) == 5
    else:
        assert len(run.written) == 5 and run.interchange_control_number == 2
    assert sorted(_claim_ids(tmp_path)) == [f"v{n:03d}" for n in range(5)]  # each visit out exactly once
    _assert_ledger_matches_files(database, tmp_path)


def _record_pending_by(database: Any, pid: int, recorded: datetime, path: Path, visit_id: str) -> None:
    """A pending interchange 99 as a writer with ``pid`` would have left it, with one claim."""
    import socket

    with database.begin() as connection:
        connection.execute(
            insert(InterchangeRecord).values(
                control_number=99,
                path=str(path),
                status="pending",
                host=socket.gethostname(),
                pid=pid,
                created_at=recorded,
            )
        )
        row = {"visit_id": visit_id, "payer": "11502", "frequency": "1", "interchange_control_number": 99}
        connection.execute(insert(ClaimSent).values(**row, total_charge=Decimal(65), sent_at=recorded))


def test_a_live_writers_pending_interchange_is_left_alone(ledger: Any, tmp_path: Path) -> None:
    busy = tmp_path / "busy.x12"
    _record_pending_by(ledger, os.getpid(), datetime.now(UTC), busy, "v000")
    run = write_claims(_visits(_lines(2)), Scrubber(), ledger, tmp_path / "claims.x12")
    assert run.recovered == [] and run.already_sent == ["v000"] and [c.control_number for c in run.written] == ["v001"]
    with pytest.raises(ClaimRunError, match="another claim run"):  # its file would be replaced under it
        write_claims(_visits(_lines(3))[2:], Scrubber(), ledger, busy)


def test_a_reused_process_id_does_not_keep_a_dead_writers_claims_pending(ledger: Any, tmp_path: Path) -> None:
    """The pending writer's pid now belongs to a process (this one) started after the record was made:
    the writer is gone (say the machine rebooted), its file is absent, so its claim was never sent."""
    _record_pending_by(ledger, os.getpid(), datetime(2020, 1, 1, tzinfo=UTC), tmp_path / "lost.x12", "v000")
    run = write_claims(_visits(_lines(1)), Scrubber(), ledger, tmp_path / "claims.x12")
    assert run.recovered == [(99, "not sent")] and [c.control_number for c in run.written] == ["v000"]
    _assert_ledger_matches_files(ledger, tmp_path)


def _concurrent_run(url: str, lines: list[bytes], out: str, start: Any) -> None:
    visits, engine, database = _visits(lines), Scrubber(), open_ledger(url)
    start.wait(60)
    write_claims(visits, engine, database, Path(out))


def test_concurrent_runs_send_each_visit_once(ledger_url: str, tmp_path: Path) -> None:
    database = open_ledger(ledger_url)  # migrated before the runs start
    lines = _lines(300)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    runs = [
        context.Process(target=_concurrent_run, args=(ledger_url, lines, str(tmp_path / f"run{n}.x12"), start))
        for n in range(8)
    ]
    for run in runs:
        run.start()
    start.set()
    for run in runs:
        run.join(180)
        assert run.exitcode == 0
    assert sorted(_claim_ids(tmp_path)) == [f"v{n:03d}" for n in range(300)]
    _assert_ledger_matches_files(database, tmp_path)


# --- items 5, 6, 17 through the command line --------------------------------------------------------------


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["claim", *args])


def test_claim_command_rerun_lists_already_sent_and_exits_0(tmp_path: Path) -> None:
    visits = tmp_path / "visits.jsonl"
    visits.write_bytes(b"\n".join(_lines(2)) + b"\n")
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    first = _cli(str(visits), "--837", str(tmp_path / "a.x12"), "--database-url", url, "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["written"] == 2
    again = _cli(str(visits), "--837", str(tmp_path / "b.x12"), "--database-url", url, "--json")
    summary = json.loads(again.stdout)
    assert again.exit_code == 0 and summary["written"] == 0 and summary["already_sent"] == ["v000", "v001"]
    assert summary["recovered_interchanges"] == [] and not (tmp_path / "b.x12").exists()
    resent = _cli(str(visits), "--837", str(tmp_path / "b.x12"), "--database-url", url, "--resend")
    assert resent.exit_code == 0 and "2 claim(s) written" in resent.stdout


def test_outputs_are_owner_only(tmp_path: Path) -> None:
    visits = tmp_path / "visits.jsonl"
    visits.write_bytes(b"\n".join(_lines(1)) + b"\n")
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    previous = os.umask(0o022)
    try:
        result = _cli(
            str(visits),
            "--837",
            str(tmp_path / "out.x12"),
            "--cms1500",
            str(tmp_path / "out.json"),
            "--database-url",
            url,
        )
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    for name in ("out.x12", "out.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--837", "{input}"], "--837"),
        (["--837", "{out}", "--cms1500", "{input}"], "--cms1500"),
        (["--837", "{out}", "--cms1500", "{out}"], "--cms1500"),
        (["--837", "{link}"], "--837"),
    ],
)
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, options: list[str], named: str) -> None:
    visits = tmp_path / "visits.jsonl"
    visits.write_bytes(b"\n".join(_lines(1)) + b"\n")
    (tmp_path / "link.jsonl").symlink_to(visits)
    before = visits.read_bytes()
    paths = {"input": str(visits), "out": str(tmp_path / "out.x12"), "link": str(tmp_path / "link.jsonl")}
    args = [option.format(**paths) for option in options]
    result = _cli(str(visits), *args, "--database-url", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    assert result.exit_code == 2 and named in result.output and "Traceback" not in result.output
    assert visits.read_bytes() == before and not (tmp_path / "out.x12").exists()


if __name__ == "__main__":
    print(pyx12_element_table(), end="")
