"""FHIR R4 in (``import fhir``: Bundle -> visits -> scrub) and out (a scrubbed visit as a Claim).

Every fixture Bundle under tests/fixtures/fhir/ is checked to be R4 by a second library (fhirclient, strict
R4 models) before the engine reads it, and every Claim the engine writes is parsed by both fhir.resources
R4B and fhirclient.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fhir.resources.R4B.bundle import Bundle as BundleR4B
from fhir.resources.R4B.claim import Claim as ClaimR4B
from fhirclient.models.bundle import Bundle as BundleR4
from fhirclient.models.claim import Claim as ClaimR4
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.reference import Reference, load_reference
from rehabclaim.services.errors import BadInput
from rehabclaim.services.fhir import FhirImport, claim_resource, import_bundle
from rehabclaim.services.scrub import read_visits, scrub_visit

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
BUNDLES = sorted(FIXTURES.glob("*.json"))
runner = CliRunner()


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def bundle_dict(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def imported(reference: Reference, bundle: dict[str, Any] | str) -> FhirImport:
    data = bundle_dict(bundle) if isinstance(bundle, str) else bundle
    return import_bundle(reference, data=json.dumps(data).encode())


def resource(bundle: dict[str, Any], kind: str, ident: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if (e["resource"]["resourceType"], e["resource"]["id"]) == (kind, ident)
    )
    return found


def round_trip(reference: Reference, name: str) -> tuple[list[Visit], list[ScrubResult]]:
    """Bundle -> visits -> the JSON Lines `import fhir --out` writes -> read back as any visit file -> scrub."""
    result = imported(reference, name)
    text = b"".join(msgspec.json.encode(visit) + b"\n" for visit in result.visits)
    visits = read_visits(text, reference=reference, json_lines=True)
    return visits, [scrub_visit(reference, visit=visit) for visit in visits]


def lines_of(result: ScrubResult) -> dict[str, tuple[int, list[str], int | None]]:
    return {line.code: (line.units, line.modifiers, line.minutes) for line in result.lines}


def findings_of(result: ScrubResult, severity: str | None = None) -> set[tuple[str, str | None]]:
    return {(f.rule, f.code) for f in result.findings if severity is None or f.severity == severity}


# --- the fixtures are R4 --------------------------------------------------------------------------------


def test_there_are_five_realistic_bundles() -> None:
    assert {path.stem for path in BUNDLES} >= {"pt-timed", "ot-evaluation", "slp-untimed", "orthotic", "messy"}


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_fixture_bundles_are_strict_r4_in_both_libraries(path: Path) -> None:
    raw = json.loads(path.read_text())
    BundleR4(copy.deepcopy(raw), strict=True)  # fhirclient: R4 4.0.1 models, raises on anything else
    BundleR4B.model_validate(raw)


# --- round trips: Bundle -> visits -> scrub -------------------------------------------------------------


def test_pt_timed_codes_summed_normalised_and_assistant_minutes(reference: Reference) -> None:
    visits, results = round_trip(reference, "pt-timed")
    (visit,), (result,) = visits, results
    assert (visit.id, visit.date, visit.payer, visit.discipline) == ("enc-pt-1", date(2026, 3, 10), "medicare", "PT")
    assert visit.diagnoses == ["M17.11", "R26.89"]  # Encounter.diagnosis rank 1 first, though listed second
    assert visit.place_of_service == "11"
    assert visit.rendering_provider is not None and visit.rendering_provider.npi == "1234567893"  # not the PTA
    assert visit.rendered_by == "therapist"
    assert visit.patient is not None and visit.patient.member_id == "1EG4TE5MK73" and visit.patient.sex == "F"
    services = {service.code: service for service in visit.services}
    assert services["97110"].minutes == 15 + 13  # two Procedures with one code, summed
    manual = services["97140"]  # its period was written in UTC (14:20Z): normalised to the visit's -05:00
    assert manual.minutes == 15 and [(b.start, b.end) for b in manual.time_blocks] == [("09:20", "09:35")]
    assert services["97112"].assistant_minutes == 12  # performed by the PTA's PractitionerRole
    assert (result.total_timed_minutes, result.total_timed_units) == (55, 4)
    assert lines_of(result) == {"97110": (2, ["GP"], 28), "97140": (1, ["GP"], 15), "97112": (1, ["GP", "CQ"], 12)}
    assert not result.has_error
    assert ("M002", "97112") in findings_of(result)


def test_ot_evaluation_untimed_and_commercial_payer_by_name(reference: Reference) -> None:
    visits, results = round_trip(reference, "ot-evaluation")
    (visit,), (result,) = visits, results
    assert (visit.payer, visit.discipline) == ("blue cross nc", "OT")  # payor Organization name, lower-cased
    assert visit.patient is not None and visit.patient.address is not None
    assert visit.patient.address.zip == "277011234"
    assert lines_of(result) == {"97166": (1, ["GO"], 45), "97535": (2, ["GO"], 23)}
    assert result.total_timed_minutes == 23  # the evaluation's 45 minutes are not timed minutes
    assert not result.has_error


def test_slp_untimed_92507_discipline_from_role_and_sop_oid(reference: Reference) -> None:
    visits, results = round_trip(reference, "slp-untimed")
    (visit,), (result,) = visits, results
    assert (visit.payer, visit.discipline) == ("medicare", "SLP")  # no serviceType: the NUCC role code says SLP
    assert visit.diagnoses == ["I69.320", "R47.01"]  # ranked, then the other encounter-diagnosis Condition
    assert lines_of(result) == {"92507": (1, ["GN"], 50)}  # untimed: 1 unit whatever the 50 minutes
    assert (result.total_timed_minutes, result.total_timed_units) == (0, 0)
    assert findings_of(result, "error") == set()


def test_orthotic_97760_with_l_code_under_https_hcpcs(reference: Reference) -> None:
    visits, results = round_trip(reference, "orthotic")
    (visit,), (result,) = visits, results
    services = {service.code: service for service in visit.services}
    assert services["L1906"].minutes is None  # performedDateTime alone; untimed, so nothing to report
    assert services["97760"].body_region == "lower"
    assert lines_of(result) == {"97760": (2, ["GP"], 23), "L1906": (1, [], None), "97116": (1, ["GP"], 22)}
    # what FHIR cannot say is not made up: no training minutes -> O002; the L-code on a Medicare practitioner
    # claim -> B001 (DME MAC)
    assert findings_of(result, "error") == {("O002", "97760"), ("B001", "L1906")}


def test_messy_bundle_imports_what_it_can_and_reports_each_problem(reference: Reference) -> None:
    result = imported(reference, "messy")
    assert [visit.id for visit in result.visits] == ["enc-m-2"]  # enc-m-1 has no period: no date of service
    reported = {(item.resource_type, item.resource_id, item.path): item for item in result.unmapped}
    expected = {
        ("Encounter", "enc-m-1", "period.start"): "date of service is unknown",
        ("Procedure", "pr-m1-110", "performedDateTime"): "minutes unknown",
        ("Procedure", "pr-m2-110", "performedDateTime"): "minutes unknown",
        ("Procedure", "pr-m2-999", "code.coding"): "unknown code '97999'",
        ("Procedure", "pr-m2-530", "status"): "status not-done",
        ("Procedure", "pr-m2-snomed", "code.coding"): "no CPT or HCPCS coding (systems: http://snomed.info/sct)",
        ("Procedure", "pr-m2-116", "performedPeriod"): "outside its Encounter's period",
        ("Condition", "dx-wrong", "verificationStatus"): "entered-in-error",
        ("Patient", "pat-500", "address"): "5 or 9 digit ZIP",
        ("Practitioner", "pt-9", "identifier"): "no NPI",
        ("Procedure", "pr-loose", "encounter"): "belongs to no visit",
    }
    assert set(reported) == set(expected)
    for key, words in expected.items():
        assert words in reported[key].reason, key
    assert reported[("Procedure", "pr-m2-110", "performedDateTime")].visit == "enc-m-2"
    for item in result.unmapped:  # no patient data in the reasons
        assert "Williams" not in item.reason and "1975" not in item.reason and "ACM-555" not in item.reason
    (visit,) = result.visits
    assert visit.payer == "acme health plan" and visit.diagnoses == ["M54.50"]
    assert visit.rendering_provider is None and visit.patient is not None and visit.patient.sex == "U"
    services = {service.code: service for service in visit.services}
    assert services["97110"].minutes is None and services["97116"].minutes is None  # never guessed
    assert services["97140"].minutes == 20
    assert set(services) == {"97110", "97140", "97116"}  # not-done, unknown and SNOMED-only never billed
    scrubbed = scrub_visit(reference, visit=visit)
    assert lines_of(scrubbed) == {"97110": (0, ["GP"], None), "97140": (1, ["GP"], 20), "97116": (0, ["GP"], None)}
    assert findings_of(scrubbed, "error") == {("U001", "97110"), ("U001", "97116")}


def test_whole_visit_by_an_assistant_is_rendered_by_assistant(reference: Reference) -> None:
    bundle = bundle_dict("pt-timed")
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Procedure":
            entry["resource"]["performer"] = [{"actor": {"reference": "PractitionerRole/pta-3-role"}}]
    (visit,) = imported(reference, bundle).visits
    assert visit.rendered_by == "assistant"
    assert all(service.assistant_minutes is None for service in visit.services)


def test_minutes_extension_stands_in_for_a_period(reference: Reference) -> None:
    bundle = bundle_dict("pt-timed")
    procedure = resource(bundle, "Procedure", "pr-140")
    del procedure["performedPeriod"]
    procedure["extension"] = [
        {
            "url": "https://rehabclaim.example/fhir/StructureDefinition/procedure-minutes",
            "valueDuration": {"value": 14, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
        }
    ]
    result = imported(reference, bundle)
    assert result.unmapped == []
    services = {service.code: service for service in result.visits[0].services}
    assert services["97140"].minutes == 14 and services["97140"].time_blocks == []


def test_encounter_that_is_not_ambulatory_is_reported(reference: Reference) -> None:
    bundle = bundle_dict("slp-untimed")
    resource(bundle, "Encounter", "enc-slp-1")["class"]["code"] = "IMP"
    result = imported(reference, bundle)
    assert result.visits == []
    assert [(i.resource_type, i.path) for i in result.unmapped] == [("Encounter", "class")]


# --- invalid input --------------------------------------------------------------------------------------


def test_r5_shaped_encounter_is_invalid_naming_resource_and_path(reference: Reference) -> None:
    bundle = bundle_dict("pt-timed")
    encounter = resource(bundle, "Encounter", "enc-pt-1")
    encounter["class"] = [encounter["class"]]  # R5: a list of CodeableConcept
    with pytest.raises(BadInput) as raised:
        imported(reference, bundle)
    assert str(raised.value).startswith("Encounter/enc-pt-1 (entry[")
    assert raised.value.field.endswith(" class")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"{not json", "not JSON"),
        (b'{"resourceType": "Patient", "id": "x"}', "expected a FHIR Bundle"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Visit"}}]}',
            "entry[0].resource.resourceType: 'Visit' is not a FHIR R4 resource type",
        ),
    ],
)
def test_unreadable_bundles_are_bad_input(reference: Reference, data: bytes, words: str) -> None:
    with pytest.raises(BadInput, match=None) as raised:
        import_bundle(reference, data=data)
    assert words in str(raised.value)


# --- the command --------------------------------------------------------------------------------------


def test_import_fhir_command_exit_codes_and_owner_only_out(tmp_path: Path) -> None:
    out = tmp_path / "visits.jsonl"
    clean = runner.invoke(app, ["import", "fhir", str(FIXTURES / "pt-timed.json"), "--out", str(out)])
    assert clean.exit_code == 0, clean.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    scrubbed = runner.invoke(app, ["scrub", "--json", str(out)])
    assert json.loads(scrubbed.stdout)["total_timed_units"] == 4
    messy = runner.invoke(app, ["import", "fhir", str(FIXTURES / "messy.json"), "--json"])
    assert messy.exit_code == 1
    printed = json.loads(messy.stdout)
    assert list(printed)[:2] == ["visits", "unmapped"] and len(printed["unmapped"]) == 11  # fields added after
    assert set(printed["unmapped"][0]) == {"resource_type", "resource_id", "path", "reason", "visit"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {}}]}))
    refused = runner.invoke(app, ["import", "fhir", str(bad), "--out", str(tmp_path / "none.jsonl")])
    assert refused.exit_code == 2 and not (tmp_path / "none.jsonl").exists()


# --- the reverse: a scrubbed visit as a FHIR R4 Claim -----------------------------------------------------


def test_claim_resource_mirrors_the_scrub_and_parses_in_both_libraries(reference: Reference) -> None:
    (visit,), (result,) = round_trip(reference, "pt-timed")
    data = claim_resource(reference, visit=visit, result=result, created=date(2026, 3, 11))
    claim = json.loads(data)
    ClaimR4B.model_validate(claim)
    ClaimR4(copy.deepcopy(claim), strict=True)
    assert (claim["use"], claim["type"]["coding"][0]["code"], claim["created"]) == (
        "claim",
        "professional",
        "2026-03-11",
    )
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == ["M17.11", "R26.89"]
    items = [
        (
            item["productOrService"]["coding"][0]["code"],
            item["quantity"]["value"],
            [m["coding"][0]["code"] for m in item["modifier"]],
            item["net"]["value"],
        )
        for item in claim["item"]
    ]
    expected = [(line.code, line.units, line.modifiers, line.charge) for line in result.lines if line.units]
    assert items == expected
    hcpcs = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    assert {m["coding"][0]["system"] for item in claim["item"] for m in item["modifier"]} == {hcpcs}  # GP, CQ
    assert claim["total"]["value"] == pytest.approx(sum(line.charge or 0 for line in result.lines))
    assert claim["item"][0]["servicedDate"] == "2026-03-10" and claim["item"][0]["diagnosisSequence"] == [1, 2]


def test_claim_command_writes_a_bundle_of_claims_owner_only(tmp_path: Path, reference: Reference) -> None:
    visits = tmp_path / "visits.jsonl"
    lines = []
    for name in ("pt-timed", "slp-untimed", "ot-evaluation"):
        lines += [msgspec.json.encode(visit).decode() for visit in imported(reference, name).visits]
    visits.write_text("\n".join(lines) + "\n")
    out = tmp_path / "claims.json"
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    arguments = ["claim", str(visits), "--837", str(tmp_path / "c.x12"), "--fhir", str(out), "--json"]
    ran = runner.invoke(app, [*arguments, "--database-url", ledger])
    report = json.loads(ran.stdout)
    assert ran.exit_code == 1 and report["held_back"] == 1  # the OT visit: no payer id for its plan
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    bundle = json.loads(out.read_text())
    BundleR4B.model_validate(bundle)
    BundleR4(copy.deepcopy(bundle), strict=True)
    claims = [entry["resource"] for entry in bundle["entry"]]
    assert [c["id"] for c in claims] == [c["id"] for c in report["claims"]] == ["enc-pt-1", "enc-slp-1"]
    assert [c["total"]["value"] for c in claims] == [c["total_charge"] for c in report["claims"]]
    assert [len(c["item"]) for c in claims] == [c["lines"] for c in report["claims"]]


def test_fhir_output_over_the_837_is_refused(tmp_path: Path) -> None:
    visits = tmp_path / "visits.jsonl"
    visits.write_text("")
    same = tmp_path / "c.x12"
    ran = runner.invoke(app, ["claim", str(visits), "--837", str(same), "--fhir", str(same)])
    assert ran.exit_code == 2 and "--fhir" in ran.output
