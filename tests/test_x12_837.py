"""837P out: built from visits, validated by pyx12 (an independent validator), read back by pyx12."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from rehabclaim.claims.npi import npi_valid
from rehabclaim.claims.run import write_claims
from rehabclaim.cli.main import app
from rehabclaim.ledger import open_ledger
from rehabclaim.practice import demo_practice
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json
from tests.fuzzing import validate_837

ADDRESS = {"line1": "12 Oak St", "city": "Raleigh", "state": "NC", "zip": "27601"}
PATIENT = {
    "id": "P100",
    "first_name": "Ana",
    "last_name": "Diaz",
    "birth_date": "1950-04-12",
    "sex": "F",
    "member_id": "1EG4TE5MK73",
    "address": ADDRESS,
}
NOW = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)


def claim_visit(**fields: Any) -> Any:
    base = {
        "patient": PATIENT,
        "plan_of_care": {"certified_from": "2026-05-01", "certified_through": "2026-07-29"},
        "rendering_provider": {"npi": "1234567893", "first_name": "Lee", "last_name": "Park"},
        "services": [
            {"code": "97110", "minutes": 36, "assistant_minutes": 23},
            {"code": "97140", "minutes": 30},
            {"code": "97010"},
        ],
    }
    return decode_visit(visit_json(**{**base, **fields}))


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def segments(path: Path) -> list[list[str]]:
    return [s.strip().split("*") for s in path.read_text().split("~") if s.strip()]


def test_claims_validate_clean_with_pyx12(ledger: Any, tmp_path: Path) -> None:
    visits = [
        claim_visit(id="c1"),
        claim_visit(
            id="c2",
            diagnoses=["M54.50", "M21.371", "S72.001D", "M62.81", "R26.89"],
            services=[
                {"code": "97140", "minutes": 15, "time_blocks": [{"start": "09:00", "end": "09:15"}]},
                {"code": "97530", "minutes": 15, "time_blocks": [{"start": "09:15", "end": "09:30"}]},
            ],
        ),
        claim_visit(
            id="c3",
            payer="sample_per_code",
            claim_frequency="7",
            payer_claim_control_number="PCN-9",
            authorization={"number": "A-1", "from": "2026-01-01", "through": "2026-12-31", "visits": 20},
        ),
        claim_visit(
            id="c4",
            patient={
                "id": "P2",
                "first_name": "Leo",
                "last_name": "Diaz",
                "birth_date": "2015-02-01",
                "sex": "M",
                "address": ADDRESS,
            },
            subscriber={
                "first_name": "Ana",
                "last_name": "Diaz",
                "birth_date": "1980-04-12",
                "sex": "F",
                "member_id": "W123",
                "relationship": "19",
                "address": ADDRESS,
            },
            payer="sample_medicaid",
            claim_frequency="8",
            payer_claim_control_number="PCN-10",
            authorization={"from": "2026-01-01", "through": "2026-12-31", "units": 40},
            services=[{"code": "97110", "minutes": 30}],
        ),
    ]
    out = tmp_path / "claims.x12"
    run = write_claims(visits, Scrubber(), ledger, out, now=NOW)
    assert [c.control_number for c in run.written] == ["c1", "c2", "c3", "c4"] and not run.held_back
    ok, report = validate_837(out)
    assert ok, report
    rows = segments(out)
    assert ["REF", "F8", "PCN-9"] in rows and ["REF", "G1", "A-1"] in rows
    assert any(r[0] == "HL" and r[3] == "23" for r in rows) and ["PAT", "19"] in rows
    assert any(r[:2] == ["CLM", "c4"] and r[5] == "11:B:8" for r in rows)
    assert any(r[0] == "SV1" and r[1] == "HC:97530:GP:XU" for r in rows)


def test_clm02_equals_the_sum_of_sv102_and_counts_are_exact(ledger: Any, tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    write_claims([claim_visit(id="c1"), claim_visit(id="c2")], Scrubber(), ledger, out, now=NOW)
    rows = segments(out)
    claims: dict[str, Decimal] = {}
    current = ""
    for row in rows:
        if row[0] == "CLM":
            current = row[1]
            assert Decimal(row[2]) > 0
            claims[current] = Decimal(row[2])
        elif row[0] == "SV1":
            claims[current] -= Decimal(row[2])
            assert int(row[4]) > 0 and len(row[1].split(":")) <= 6
    assert set(claims.values()) == {Decimal(0)}
    st = next(i for i, r in enumerate(rows) if r[0] == "ST")
    se = next(i for i, r in enumerate(rows) if r[0] == "SE")
    assert int(rows[se][1]) == se - st + 1
    assert rows[-2][:2] == ["GE", "1"] and rows[-1][:2] == ["IEA", "1"]


def test_broken_file_is_reported_broken_by_pyx12(ledger: Any, tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    write_claims([claim_visit(id="c1")], Scrubber(), ledger, out, now=NOW)
    broken = tmp_path / "broken.x12"
    broken.write_text("".join(s + "~\n" for s in out.read_text().split("~\n") if s and not s.startswith("DTP*472")))
    assert not validate_837(broken)[0]


def test_control_numbers_are_unique_and_increasing_across_runs(ledger: Any, tmp_path: Path) -> None:
    numbers = []
    for run in range(3):
        out = tmp_path / f"run{run}.x12"
        write_claims([claim_visit(id=f"c{run}")], Scrubber(), ledger, out, now=NOW)
        rows = segments(out)
        numbers.append((int(rows[0][13]), int(rows[1][6]), int(next(r for r in rows if r[0] == "ST")[2])))
    assert numbers == sorted(numbers) and len({n[0] for n in numbers}) == 3
    assert numbers[1][0] == numbers[0][0] + 1


def test_visits_with_errors_are_held_back_and_listed(ledger: Any, tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    run = write_claims(
        [
            claim_visit(id="good"),
            claim_visit(id="bad", services=[{"code": "97762", "minutes": 20}]),
            claim_visit(id="thin", patient={"id": "P9"}),
        ],
        Scrubber(),
        ledger,
        out,
        now=NOW,
    )
    assert [c.control_number for c in run.written] == ["good"]
    held = dict(run.held_back)
    assert "C001" in [f.rule for f in held["bad"]] and held["thin"][0].rule == "X001"
    assert "CLM*bad" not in out.read_text()


def test_nothing_is_written_unless_the_whole_file_can_be(
    ledger: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rehabclaim.x12 import claim837

    def explode(self: Any) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(claim837.Interchange, "render", explode)
    out = tmp_path / "claims.x12"
    with pytest.raises(RuntimeError):
        write_claims([claim_visit(id="c1")], Scrubber(), ledger, out, now=NOW)
    assert list(tmp_path.glob("claims*")) == []
    run = write_claims([claim_visit(id="bad", services=[{"code": "97762", "minutes": 20}])], Scrubber(), ledger, out)
    assert not run.written and not out.exists()


def test_configurable_separators(ledger: Any, tmp_path: Path) -> None:
    practice = demo_practice()
    assert practice.claims is not None
    separators = msgspec.structs.replace(practice.claims.separators, element="|", component=">", segment="\n")
    changed = msgspec.structs.replace(practice, claims=msgspec.structs.replace(practice.claims, separators=separators))
    out = tmp_path / "claims.x12"
    write_claims([claim_visit(id="c1")], Scrubber(replace(load_reference(), practice=changed)), ledger, out, now=NOW)
    text = out.read_text()
    assert text.startswith("ISA|00|") and "SV1|HC>97110>GP>CQ|" in text
    assert validate_837(out)[0]


def _pyx12_read_back(path: Path) -> list[tuple[str, str, tuple[str, ...], Decimal, int]]:
    import pyx12.error_handler
    import pyx12.params
    import pyx12.x12context

    reader = pyx12.x12context.X12ContextReader(
        pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(path.read_text())
    )
    found = []
    for node in reader.iter_segments("2300"):
        if node.id != "2300":
            continue
        for line in node.select("2400"):
            modifiers = tuple(m for m in (line.get_value(f"SV101-{i}") for i in range(3, 7)) if m)
            found.append(
                (
                    node.get_value("CLM01"),
                    line.get_value("SV101-2"),
                    modifiers,
                    Decimal(line.get_value("SV102")),
                    int(line.get_value("SV104")),
                )
            )
    return found


def test_round_trip_visits_to_837_and_back(ledger: Any, tmp_path: Path) -> None:
    visits = [
        claim_visit(id="c1"),
        claim_visit(id="c2", services=[{"code": "97112", "minutes": 40}, {"code": "97760", "minutes": 15}]),
    ]
    engine = Scrubber()
    expected = [
        (visit.id, line.code, tuple(line.modifiers), Decimal(str(line.charge)), line.units)
        for visit in visits
        for line in engine.scrub(visit).lines
        if line.units > 0
    ]
    out = tmp_path / "claims.x12"
    write_claims(visits, engine, ledger, out, now=NOW)
    assert _pyx12_read_back(out) == expected


@pytest.mark.parametrize(
    ("npi", "valid"), [("1234567893", True), ("1234567890", False), ("123456789", False), ("12345678a3", False)]
)
def test_npi_check_digit(npi: str, valid: bool) -> None:
    assert npi_valid(npi) is valid


def test_claim_command_with_cms1500(tmp_path: Path) -> None:
    path = tmp_path / "visits.jsonl"
    good = json.loads(
        visit_json(
            id="c1",
            patient=PATIENT,
            services=[{"code": "97110", "minutes": 30}],
            plan_of_care={"certified_from": "2026-05-01", "certified_through": "2026-07-29"},
        )
    )
    bad = {**good, "id": "c2", "patient": {"id": "P9"}}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    result = CliRunner().invoke(
        app,
        [
            "claim",
            str(path),
            "--837",
            str(tmp_path / "out.x12"),
            "--cms1500",
            str(tmp_path / "out.json"),
            "--database-url",
            url,
            "--json",
        ],
    )
    assert result.exit_code == 1  # one claim held back
    summary = json.loads(result.stdout)
    assert summary["written"] == 1 and summary["held_back"] == 1 and summary["held"][0]["findings"][0]["rule"] == "X001"
    form = json.loads((tmp_path / "out.json").read_text())[0]
    assert form["1a"] == "1EG4TE5MK73" and form["2"] == "DIAZ, ANA" and form["21"]["A"] == "M5450"
    assert form["24"][0]["D"] == {"code": "97110", "modifiers": ["GP"]} and form["24"][0]["G"] == 2
    assert form["28"] == form["24"][0]["F"] and form["33"]["npi"] == "1234567893"


def test_rendering_provider_only_when_it_differs_from_billing(ledger: Any, tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    other = {"npi": "1987654328", "first_name": "Lee", "last_name": "Park"}
    write_claims(
        [claim_visit(id="same"), claim_visit(id="other", rendering_provider=other)], Scrubber(), ledger, out, now=NOW
    )
    rows = segments(out)
    rendering = [r for r in rows if r[:2] == ["NM1", "82"]]
    assert rendering == [["NM1", "82", "1", "PARK", "LEE", "", "", "", "XX", "1987654328"]]
    assert validate_837(out)[0]
