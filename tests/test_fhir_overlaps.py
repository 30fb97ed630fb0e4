"""One clinician's one-on-one time given to two patients at once, found across the visits of a FHIR Bundle
(reference documentation.md s. 5 derived check 1; fhir-therapy.md s. 4 rule 5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.documentation import ClinicianSlot, clinician_overlaps
from rehabclaim.reference import load_reference
from rehabclaim.services.fhir import import_bundle

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
EST = timezone(timedelta(hours=-5))


def _bundle(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def _import(bundle: dict[str, Any]) -> Any:
    return import_bundle(load_reference(), data=json.dumps(bundle).encode())


def test_two_patients_one_therapist_overlaps_are_listed_with_minutes_and_97150() -> None:
    result = _import(_bundle("two-patients-overlap"))
    assert [visit.id for visit in result.visits] == ["enc-pt-1", "enc-pt-2"]  # still imported: a warning
    found = [(o.visits, o.codes, o.minutes, f"{o.start:%H:%M}-{o.end:%H:%M}") for o in result.overlaps]
    # enc-pt-1: 97110 09:05-09:20 and 09:35-09:48, 97140 09:20-09:35 (given in UTC), 97112 by the PTA;
    # enc-pt-2: 97110 09:10-09:30, 97140 09:30-09:40, all by the same PT (NPI 1234567893)
    assert found == [
        (["enc-pt-1", "enc-pt-2"], ["97110", "97110"], 10, "09:10-09:20"),
        (["enc-pt-2", "enc-pt-1"], ["97110", "97140"], 10, "09:20-09:30"),
        (["enc-pt-1", "enc-pt-2"], ["97140", "97140"], 5, "09:30-09:35"),
        (["enc-pt-2", "enc-pt-1"], ["97140", "97110"], 5, "09:35-09:40"),
    ]
    first = result.overlaps[0]
    assert first.clinician == "1234567893"
    assert "97150" in first.message and "overlap by 10 min (09:10-09:20)" in first.message
    assert "Rivera" not in first.message and "Okafor" not in first.message  # ids, never names


def test_one_patient_bundles_have_no_overlaps() -> None:
    for name in ("pt-timed", "ot-evaluation", "slp-untimed", "orthotic", "messy"):
        assert _import(_bundle(name)).overlaps == [], name


def test_the_assistant_is_another_clinician() -> None:
    bundle = _bundle("two-patients-overlap")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Procedure" and resource["id"] in {"pr-210", "pr-240"}:
            resource["performer"] = [{"actor": {"reference": "PractitionerRole/pta-3-role"}}]
    # the PTA's only procedure (97112 09:48-10:00 for pat-100) does not meet pat-200's (09:10-09:40)
    assert _import(bundle).overlaps == []


def _slot(patient: str, start: datetime, minutes: int) -> ClinicianSlot:
    return ClinicianSlot("1234567893", patient, f"v-{patient}", "97110", start, start + timedelta(minutes=minutes))


def test_periods_that_touch_or_share_a_patient_do_not_overlap_and_offsets_compare_in_real_time() -> None:
    nine = datetime(2026, 3, 10, 9, 0, tzinfo=EST)
    assert clinician_overlaps([_slot("a", nine, 20), _slot("b", nine + timedelta(minutes=20), 20)]) == []
    assert clinician_overlaps([_slot("a", nine, 20), _slot("a", nine + timedelta(minutes=10), 20)]) == []  # T006's
    in_utc = datetime(2026, 3, 10, 14, 10, tzinfo=UTC)  # 09:10 EST
    (overlap,) = clinician_overlaps([_slot("a", nine, 20), _slot("b", in_utc, 20)])
    assert overlap.minutes == 10 and overlap.start == nine + timedelta(minutes=10)
    assert clinician_overlaps([_slot("a", nine, 20), _slot("b", in_utc + timedelta(hours=1), 20)]) == []


def test_cli_prints_the_overlap_and_keeps_exit_0(tmp_path: Path) -> None:
    out = tmp_path / "visits.jsonl"
    result = CliRunner().invoke(app, ["import", "fhir", str(FIXTURES / "two-patients-overlap.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("overlap:") == 4
    assert len(out.read_text().splitlines()) == 2
