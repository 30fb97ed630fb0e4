"""Claims in, continued: `claim --from claims.837` is `scrub claims.837` under another name; a file from two
clinics is written back with each claim under its own billing provider (pyx12-valid); FHIR Claim items
point to their own lines' diagnoses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from typer.testing import CliRunner

from rehabclaim.claims.npi import npi_valid
from rehabclaim.claims.run import write_claims
from rehabclaim.cli.main import app
from rehabclaim.ledger import open_ledger
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.services.fhir import claim_resource
from rehabclaim.services.incoming import render_grouped
from rehabclaim.x12 import claim837 as x12
from rehabclaim.x12.read837 import read_837
from tests.fuzzing import validate_837
from tests.test_incoming_837 import incoming

EXAMPLES = Path(__file__).parents[1] / "src" / "rehabclaim" / "data" / "examples" / "claims.jsonl"
PRACTICE_NPI = "1234567893"  # the demo practice's billing provider
OTHER_TAX_ID = "569876543"


def other_npi() -> str:
    """A second valid NPI (Luhn check digit), for a second clinic."""
    return next(npi for digit in "0123456789" if npi_valid(npi := f"198765432{digit}"))


def invoke(tmp_path: Path, *args: str, ledger: str = "ledger") -> Any:
    database = f"sqlite:///{tmp_path / f'{ledger}.sqlite3'}"
    return CliRunner().invoke(app, [*args, "--database-url", database], catch_exceptions=False)


def two_clinics(tmp_path: Path, *, tax_id: bool = True) -> Path:
    """Our 837P of clm-1 and clm-2, made into an EMR file from two clinics: clm-2's subscriber moved under a
    second 2000A billing provider (the HLs renumbered, SE01 counted again), and GO dropped from its 97530;
    ``tax_id=False``: the second clinic without its REF*EI."""
    visits = [decode_visit(line) for line in EXAMPLES.read_text().splitlines()[:2]]
    source = tmp_path / "two.837"
    write_claims(visits, Scrubber(), open_ledger(f"sqlite:///{tmp_path / 'emr.sqlite3'}"), source)
    clinic = [
        "HL*3**20*1",
        "PRV*BI*PXC*225X00000X",
        "NM1*85*2*NORTH OT CLINIC*****XX*" + other_npi(),
        "N3*5 ELM ST",
        "N4*DURHAM*NC*277011234",
        *([f"REF*EI*{OTHER_TAX_ID}"] if tax_id else []),
    ]
    text = source.read_text()
    for old, new in [
        ("HL*3*1*22*1~", "~\n".join(clinic) + "~\nHL*4*3*22*1~"),
        ("HL*4*3*23*0~", "HL*5*4*23*0~"),
        ("SV1*HC:97530:GO*", "SV1*HC:97530*"),
    ]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    count = text.count("~") - 5  # ST..SE: all but ISA, GS, GE, IEA (and SE's own count is of ST..SE)
    text = text.replace("SE*66*", f"SE*{count + 1}*")
    source.write_text(text)
    ok, ack = validate_837(source)
    assert ok == tax_id, ack  # a valid 837P; without 2010AA REF*EI pyx12 refuses it (our reader reads it)
    return source


def test_claim_from_837_prints_the_scrub_report_byte_for_byte(tmp_path: Path) -> None:
    source, _ = incoming(tmp_path)
    scrubbed = invoke(tmp_path, "scrub", str(source), "--json")
    claimed = invoke(tmp_path, "claim", "--from", str(source), "--json")
    assert scrubbed.exit_code == claimed.exit_code == 1  # clm-2 is held back by both
    assert claimed.stdout_bytes == scrubbed.stdout_bytes
    assert json.loads(claimed.stdout)["held_back"] == ["clm-2"]


def test_claim_from_837_writes_the_corrected_file_as_scrub_out_does(tmp_path: Path) -> None:
    source, _ = incoming(tmp_path)
    by_scrub, by_claim = tmp_path / "a.837", tmp_path / "b.837"
    scrubbed = invoke(tmp_path, "scrub", str(source), "--json", "--out", str(by_scrub), ledger="one")
    claimed = invoke(tmp_path, "claim", "--from", str(source), "--837", str(by_claim), "--json", ledger="two")
    first, second = json.loads(scrubbed.stdout), json.loads(claimed.stdout)
    assert first.pop("out") == str(by_scrub) and second.pop("out") == str(by_claim)
    assert first == second and first["written"] == 1
    assert validate_837(by_claim)[0]
    assert by_claim.read_text().split("~")[4:-4] == by_scrub.read_text().split("~")[4:-4]  # all after BHT


def test_claim_from_837_refuses_what_only_a_visits_run_takes(tmp_path: Path) -> None:
    source, _ = incoming(tmp_path)
    for extra, named in [
        ([str(EXAMPLES)], "PATH"),
        (["--cms1500", str(tmp_path / "f.json")], "--cms1500"),
        (["--resend"], "--resend"),
    ]:
        result = invoke(tmp_path, "claim", "--from", str(source), *extra)
        assert result.exit_code == 2 and f"{named}: not with --from" in result.output, result.output
    not_x12 = invoke(tmp_path, "claim", "--from", str(EXAMPLES))
    assert not_x12.exit_code == 2 and "--from" in not_x12.output and "not an 837P" in not_x12.output
    missing = invoke(tmp_path, "claim", str(EXAMPLES))
    assert missing.exit_code == 2 and "--837: missing" in missing.output


def test_two_billing_providers_are_kept_apart_in_the_corrected_file(tmp_path: Path) -> None:
    source = two_clinics(tmp_path)
    fixed = tmp_path / "fixed.837"
    result = invoke(tmp_path, "scrub", str(source), "--json", "--out", str(fixed))
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["held_back"] == [] and report["written"] == 2, result.output
    ok, ack = validate_837(fixed)
    assert ok, ack
    text = fixed.read_text()
    assert "HL*1**20*1~" in text and "HL*3**20*1~" in text  # one 2000A per billing provider
    by_id = {claim.id: claim for claim in read_837(fixed.read_bytes()).claims}
    first, second = by_id["clm-1"].billing_provider, by_id["clm-2"].billing_provider
    assert (first.id, first.last_name) == (PRACTICE_NPI, "DEMO THERAPY CLINIC")
    assert (second.id, second.last_name, second.tax_id) == (other_npi(), "NORTH OT CLINIC", OTHER_TAX_ID)
    assert second.address == {"line1": "5 ELM ST", "city": "DURHAM", "state": "NC", "zip": "277011234"}
    assert second.taxonomy == "225X00000X"
    modifiers = {line.code: line.modifiers for line in by_id["clm-2"].lines}
    assert modifiers["97530"][0] == "GO"  # scrubbed, not passed through: rule M001 added it back


def test_a_billing_provider_without_its_tax_id_holds_its_claim_back(tmp_path: Path) -> None:
    source = two_clinics(tmp_path, tax_id=False)
    result = invoke(tmp_path, "scrub", str(source), "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["held_back"] == ["clm-2"]
    (verdict,) = [claim for claim in report["claims"] if claim["id"] == "clm-2"]
    assert "2010AA billing provider tax id (REF02) is missing" in verdict["reasons"]


def test_one_billing_provider_renders_as_the_writer_does(tmp_path: Path) -> None:
    visits = [decode_visit(line) for line in EXAMPLES.read_text().splitlines()[:2]]
    run = write_claims(visits, Scrubber(), open_ledger(f"sqlite:///{tmp_path / 'l.sqlite3'}"), tmp_path / "x.837")
    written = (tmp_path / "x.837").read_text()
    settings = load_reference().practice.claims
    assert settings is not None
    provider = x12.BillingProvider(
        settings.billing_provider.name,
        settings.billing_provider.npi,
        settings.billing_provider.tax_id,
        x12.Address(**msgspec.structs.asdict(settings.billing_provider.address)),
        settings.billing_provider.taxonomy,
    )
    head = read_837(written)  # the interchange's own control numbers and date, to rebuild it
    assert len(head.claims) == len(run.written) == 2
    base = x12.Interchange(
        sender_id=settings.sender_id,
        receiver_id=settings.receiver_id,
        interchange_control_number=1,
        group_control_number=1,
        transaction_control_number=1,
        created=_created(written),
        submitter=x12.Submitter(**msgspec.structs.asdict(settings.submitter)),
        receiver=x12.Receiver(**msgspec.structs.asdict(settings.receiver)),
        billing_provider=provider,
        claims=(),
        usage=settings.usage,
    )
    assert render_grouped(base, {provider: list(run.written)}) == written


def _created(text: str) -> Any:
    from datetime import datetime

    gs = text.split("~")[1].strip().split("*")
    return datetime.strptime(gs[4] + gs[5], "%Y%m%d%H%M")


def test_fhir_items_point_to_their_own_lines_diagnoses() -> None:
    reference = load_reference()
    raw = json.loads(EXAMPLES.read_text().splitlines()[0])
    raw["services"][1]["diagnoses"] = ["M62.81"]  # 97110: the second diagnosis only
    raw["services"][2]["diagnoses"] = ["M62.81", "M54.50"]  # 97140: both, in this order
    visit = decode_visit(json.dumps(raw))
    result = Scrubber(reference).scrub(visit, for_claim=True)
    claim = json.loads(claim_resource(reference, visit=visit, result=result))  # checked by the R4B models
    pointers = {item["productOrService"]["coding"][0]["code"]: item["diagnosisSequence"] for item in claim["item"]}
    assert pointers["97110"] == [2] and pointers["97140"] == [2, 1]
    assert pointers["97162"] == [1, 2]  # names none: the first four, as SV107
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == ["M54.50", "M62.81"]
