"""Secondary claims (coordination of benefits): the primary's posted 835 carried to the secondary payer in
2320/2330A/2330B and 2430, validated by pyx12; visits with nothing to send on held back, named."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from rehabclaim.claims.run import claim_interchange, claim_settings, write_claims
from rehabclaim.claims.secondary import PrimaryRemit, RemitLine, SecondaryHeld, secondary_claim
from rehabclaim.cli.main import app
from rehabclaim.ledger import open_ledger
from rehabclaim.ledger.models import ClaimSent, ControlNumber
from rehabclaim.reference import load_reference
from rehabclaim.remits.post import post_remittance
from rehabclaim.scrubber import Scrubber
from rehabclaim.services.actor import terminal_actor
from rehabclaim.services.claims import ToFiles, secondary_claims
from rehabclaim.x12 import claim837
from rehabclaim.x12.core import Envelope, Separators, render
from rehabclaim.x12.remit835 import read_835
from rehabclaim.x12.synthetic import payment_segments
from tests.fuzzing import validate_837
from tests.test_x12_837 import ADDRESS, NOW, claim_visit, segments

D = Decimal
SECONDARY = {"payer": "sample_medicaid", "member_id": "MCD778899"}
AUTH = {"number": "A-1", "from": "2026-01-01", "through": "2026-12-31", "visits": 20}  # the PPO's
MEDICARE_ID = "11502"  # the demo practice's Medicare payer id: 2330B NM109 and SVD01
Cas = tuple[str, str, Decimal]


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    engine = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    yield engine
    engine.dispose()


def remit_835(
    claim_id: str,
    lines: list[tuple[str, tuple[str, ...], Decimal, int, list[Cas]]],
    claim_cas: list[Cas] = (),  # type: ignore[assignment]
    status: str = "1",
    charge: Decimal | None = None,
    trace: str = "TRACE1",
) -> bytes:
    """A balanced 835 paying ``claim_id``: lines (code, modifiers, charge, units, CAS) each paid its charge
    less its adjustments; the claim paid the lines' less the claim-level adjustments (``charge`` given and no
    lines: a claim-level answer only)."""
    total = charge if charge is not None else sum((line[2] for line in lines), D(0))
    line_paid = [line[2] - sum((a[2] for a in line[4]), D(0)) for line in lines]
    adjusted = sum((a[2] for a in claim_cas), D(0))
    paid = (sum(line_paid, D(0)) if lines else total) - adjusted
    patient = sum((a[2] for a in [*claim_cas, *(a for line in lines for a in line[4])] if a[0] == "PR"), D(0))
    body: list[list[str]] = [
        ["LX", "1"],
        ["CLP", claim_id, status, str(total), str(paid), str(patient), "MB", "PCN1", "11", "1"],
        *_cas(claim_cas),
        ["NM1", "QC", "1", "DIAZ", "ANA"],
    ]
    for (code, modifiers, line_charge, units, adjustments), line_pays in zip(lines, line_paid, strict=True):
        body.append(["SVC", ":".join(["HC", code, *modifiers]), str(line_charge), str(line_pays), "", str(units)])
        body += _cas(adjustments)
    transaction = payment_segments(body, paid, trace=trace)
    separators = Separators()
    envelope = Envelope("PAYER", "DEMOCLINIC01", 1, 1, datetime(2026, 6, 15, 12, 0), "HP", "005010X221A1")
    text = render(envelope.header(separators), separators) + render(transaction, separators)
    return (text + render(envelope.trailer(), separators)).encode()


def _cas(adjustments: list[Cas]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for group, reason, amount in adjustments:
        groups.setdefault(group, []).extend([reason, str(amount), ""])
    return [["CAS", group, *triplets] for group, triplets in groups.items()]


def primary_sent(ledger: Any, tmp_path: Path, visit: Any) -> claim837.Claim:
    run = write_claims([visit], Scrubber(), ledger, tmp_path / f"primary-{visit.id}.x12", now=NOW)
    assert [claim.control_number for claim in run.written] == [visit.id]
    return run.written[0]


def post(ledger: Any, data: bytes) -> None:
    remittance = read_835(data)
    assert not remittance.imbalances
    post_remittance(ledger, data, remittance)


def secondary_run(ledger: Any, tmp_path: Path, visits: list[Any], name: str = "secondary.x12") -> Any:
    return secondary_claims(
        ledger,
        reference=load_reference(),
        visits=visits,
        actor=terminal_actor(),
        destination=ToFiles(tmp_path / name),
        now=NOW,
    )


def partly_paid(claim: claim837.Claim) -> list[tuple[str, tuple[str, ...], Decimal, int, list[Cas]]]:
    """Each line of ``claim`` paid in part: CO-45 contractual, PR-1 deductible and PR-2 coinsurance on the
    first, CO-45 and PR-2 on the others."""
    found = []
    for number, line in enumerate(claim.lines):
        contractual = (line.charge * D("0.3")).quantize(D("0.01"))
        coinsurance = ((line.charge - contractual) * D("0.2")).quantize(D("0.01"))
        adjustments: list[Cas] = [("CO", "45", contractual), ("PR", "2", coinsurance)]
        if number == 0:
            adjustments.append(("PR", "1", D("10")))
        found.append((line.code, line.modifiers, line.charge, line.units, adjustments))
    return found


def ok_999(path: Path) -> str:
    ok, report = validate_837(path)
    assert ok, report
    assert "IK3" not in report and "IK4" not in report, report
    return report


def loops(rows: list[list[str]]) -> dict[str, Any]:
    """The secondary claim's parts: 2000B SBR, 2320 (SBR, CAS, AMT), 2330B NM1/DTP, and per 2400 line its SV1
    with the 2430 SVD, CAS and DTP that follow."""
    found: dict[str, Any] = {"sbr": [r for r in rows if r[0] == "SBR"], "lines": [], "claim_cas": [], "amt": {}}
    current: dict[str, Any] | None = None
    in_2320 = False
    for row in rows:
        if row[0] == "SBR" and row[1] == "P":
            in_2320 = True
        elif row[0] == "LX":
            in_2320, current = False, {"cas": []}
            found["lines"].append(current)
        elif row[0] in ("SV1", "SVD", "DTP") and current is not None:
            current.setdefault(row[0] + (row[1] if row[0] == "DTP" else ""), row)
        elif row[0] == "CAS":
            (found["claim_cas"] if in_2320 else current["cas"]).append(row)  # type: ignore[index]
        elif row[0] == "AMT" and in_2320:
            found["amt"][row[1]] = D(row[2])
        elif row[0] == "AMT" and current is not None:
            current["EAF"] = D(row[2])
        elif row[0] == "NM1" and row[1] == "PR" and in_2320:
            found["other_payer"] = row
        elif row[0] == "DTP" and row[1] == "573" and in_2320:
            found["claim_573"] = row
    return found


def cas_total(rows: list[list[str]]) -> Decimal:
    return sum((D(row[i]) for row in rows for i in range(3, len(row), 3) if row[i]), D(0))


def cas_triplets(rows: list[list[str]]) -> list[Cas]:
    return [(row[1], row[i], D(row[i + 1])) for row in rows for i in range(2, len(row), 3) if row[i]]


def test_a_secondary_claim_carries_the_primarys_amounts_and_validates(ledger: Any, tmp_path: Path) -> None:
    visit = claim_visit(id="s1", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    paid_lines = partly_paid(primary)
    data = remit_835("s1", paid_lines)
    post(ledger, data)
    batch = secondary_run(ledger, tmp_path, [visit])
    assert batch.report.written == 1 and not batch.report.held, batch.report
    out = tmp_path / "secondary.x12"
    ok_999(out)
    rows = segments(out)
    parts = loops(rows)
    destination, other = parts["sbr"]
    assert destination[:2] == ["SBR", "S"] and destination[-1] == "MC"  # 2000B: the secondary (Medicaid)
    assert ["NM1", "IL", "1", "DIAZ", "ANA", "", "", "", "MI", "MCD778899"] in rows  # its member id
    assert other[:3] == ["SBR", "P", "18"] and other[-1] == "MB"  # 2320: Medicare was the primary
    assert parts["other_payer"][-2:] == ["PI", MEDICARE_ID]
    remit = read_835(data).claims[0]
    assert parts["amt"]["D"] == remit.paid  # 2320 AMT*D: the primary's CLP04
    assert "EAF" not in parts["amt"] and "claim_573" not in parts  # the lines carry them (2430)
    clm = next(r for r in rows if r[0] == "CLM")
    assert clm[1] == "s1" and clm[5].endswith(":1")
    line_cas = D(0)
    for line, posted in zip(parts["lines"], remit.lines, strict=True):
        svd = line["SVD"]
        assert svd[1] == MEDICARE_ID and D(svd[2]) == posted.paid
        assert svd[3] == ":".join(["HC", posted.code, *posted.modifiers]) and D(svd[5]) == posted.units
        assert cas_triplets(line["cas"]) == [(a.group, a.reason, a.amount) for a in posted.adjustments] or sorted(
            cas_triplets(line["cas"])
        ) == sorted((a.group, a.reason, a.amount) for a in posted.adjustments)
        assert line["DTP573"][2] == "D8" and len(line["DTP573"][3]) == 8
        assert line["EAF"] == sum((a.amount for a in posted.adjustments if a.group == "PR"), D(0))
        assert D(line["SV1"][2]) == D(svd[2]) + cas_total(line["cas"])  # SV102 = SVD02 + line CAS
        line_cas += cas_total(line["cas"])
    assert D(clm[2]) == parts["amt"]["D"] + cas_total(parts["claim_cas"]) + line_cas  # the claim balances
    assert any(a.reason == "1" for line in remit.lines for a in line.adjustments)  # PR-1 went through
    with ledger.connect() as connection:
        sent = connection.execute(select(ClaimSent.visit_id, ClaimSent.payer)).all()
    assert sorted(sent) == [("s1", MEDICARE_ID), ("s1", "SAMPLEMCD")]


def test_a_claim_level_answer_goes_in_2320_with_the_remaining_liability(ledger: Any, tmp_path: Path) -> None:
    visit = claim_visit(id="s2", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    claim_cas: list[Cas] = [("CO", "45", D("20")), ("PR", "1", D("15")), ("PR", "2", D("7.5"))]
    post(ledger, remit_835("s2", [], claim_cas, charge=primary.total_charge))
    batch = secondary_run(ledger, tmp_path, [visit])
    assert batch.report.written == 1, batch.report
    out = tmp_path / "secondary.x12"
    ok_999(out)
    rows = segments(out)
    parts = loops(rows)
    assert parts["amt"] == {"D": primary.total_charge - D("42.5"), "EAF": D("22.5")}
    assert sorted(cas_triplets(parts["claim_cas"])) == sorted(claim_cas)
    assert parts["claim_573"][:3] == ["DTP", "573", "D8"]  # 2330B: no 2430 carries the date
    assert not any(r[0] == "SVD" for r in rows)


def test_a_dependent_with_a_secondary_subscriber_validates(ledger: Any, tmp_path: Path) -> None:
    insured = {
        "first_name": "Rosa",
        "last_name": "Diaz",
        "birth_date": "1952-01-03",
        "sex": "F",
        "member_id": "SUPP-55",
        "relationship": "01",
        "address": ADDRESS,
    }
    visit = claim_visit(
        id="s3",
        payer="sample_per_code",
        authorization=AUTH,
        secondary={"payer": "medicare", "subscriber": insured, "insurance_type": "12"},
    )
    primary = primary_sent(ledger, tmp_path, visit)
    post(ledger, remit_835("s3", partly_paid(primary)))
    batch = secondary_run(ledger, tmp_path, [visit])
    assert batch.report.written == 1, batch.report
    out = tmp_path / "secondary.x12"
    ok_999(out)
    rows = segments(out)
    assert ["SBR", "S", "", "", "", "12", "", "", "", "MB"] in rows  # Medicare secondary: SBR05 says why
    assert ["PAT", "01"] in rows and ["NM1", "IL", "1", "DIAZ", "ROSA", "", "", "", "MI", "SUPP-55"] in rows
    assert ["SBR", "P", "18", "", "", "", "", "", "", "CI"] in rows
    assert not any(r[:2] == ["REF", "G1"] for r in rows)  # the PPO's authorization is not Medicare's


@pytest.mark.parametrize(
    ("secondary", "remit", "reason"),
    [
        (None, "partly", "names no secondary payer"),
        (SECONDARY, None, "no primary remittance (835) is posted"),
        (SECONDARY, "full", "fully paid by the primary"),
        (SECONDARY, "denied", "denied by the primary (835 CLP02 4) with no patient responsibility"),
        (SECONDARY, "written_off", "no patient responsibility"),
        (SECONDARY, "crossover", "CLP02 19"),
        (SECONDARY, "reversed", "CLP02 22"),
        ({"payer": "nobody"}, "partly", "secondary.payer 'nobody' is not a payer"),
        ({"payer": "sample_medicaid"}, "partly", "secondary.member_id (or secondary.subscriber) is required"),
        ({"payer": "medicare", "member_id": "X1"}, "partly", "secondary.insurance_type is required"),
    ],
)
def test_held_back_visits_are_named_and_nothing_is_written(
    ledger: Any, tmp_path: Path, secondary: Any, remit: str | None, reason: str
) -> None:
    medicare_second = secondary and secondary["payer"] == "medicare"
    fields = {"payer": "sample_per_code", "authorization": AUTH} if medicare_second else {}
    visit = claim_visit(id="h1", secondary=secondary, **fields)
    primary = primary_sent(ledger, tmp_path, visit)
    lines = partly_paid(primary)
    answers = {
        "partly": lambda: remit_835("h1", lines),
        "full": lambda: remit_835("h1", [(c, m, ch, u, []) for c, m, ch, u, _ in lines]),
        "denied": lambda: remit_835("h1", [(c, m, ch, u, [("CO", "50", ch)]) for c, m, ch, u, _ in lines], status="4"),
        "written_off": lambda: remit_835("h1", [(c, m, ch, u, [("CO", "45", ch / 2)]) for c, m, ch, u, _ in lines]),
        "crossover": lambda: remit_835("h1", lines, status="19"),
        "reversed": lambda: remit_835("h1", lines, status="22"),
    }
    if remit is not None:
        post(ledger, answers[remit]())
    with ledger.connect() as connection:
        numbers_before = connection.execute(select(ControlNumber.name, ControlNumber.value)).all()
    batch = secondary_run(ledger, tmp_path, [visit])
    assert batch.report.written == 0 and batch.report.interchange_control_number is None
    [held] = batch.report.held
    assert held.id == "h1" and held.findings[0].rule == "COB" and reason in held.findings[0].message
    assert not (tmp_path / "secondary.x12").exists()
    with ledger.connect() as connection:  # no control number used, no claim recorded for the secondary
        assert connection.execute(select(ControlNumber.name, ControlNumber.value)).all() == numbers_before
        assert connection.execute(select(ClaimSent.payer)).scalars().all() == [primary.payer.id]


def test_a_secondary_goes_once_and_held_visits_do_not_stop_the_others(ledger: Any, tmp_path: Path) -> None:
    paid, unpaid = claim_visit(id="a1", secondary=SECONDARY), claim_visit(id="a2", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, paid)
    primary_sent(ledger, tmp_path, unpaid)
    post(ledger, remit_835("a1", partly_paid(primary)))
    first = secondary_run(ledger, tmp_path, [paid, unpaid], "one.x12")
    assert [c.id for c in first.report.claims] == ["a1"] and [h.id for h in first.report.held] == ["a2"]
    again = secondary_run(ledger, tmp_path, [paid], "two.x12")
    assert again.report.written == 0 and again.report.already_sent == ["a1"]
    assert not (tmp_path / "two.x12").exists()


def test_the_cli_writes_secondary_claims_and_refuses_other_outputs(ledger: Any, tmp_path: Path) -> None:
    url = str(ledger.url)
    visit = claim_visit(id="c1", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    post(ledger, remit_835("c1", partly_paid(primary)))
    visits = tmp_path / "visits.jsonl"
    visits.write_bytes(
        json.dumps({**json.loads(_visit_text(visit)), "secondary": SECONDARY}).encode()
        + b"\n"
        + json.dumps({**json.loads(_visit_text(visit)), "id": "c9"}).encode()
        + b"\n"
    )
    out = tmp_path / "cli.x12"
    runner = CliRunner()
    result = runner.invoke(
        app, ["claim", str(visits), "--secondary", "--837", str(out), "--database-url", url, "--json"]
    )
    assert result.exit_code == 1, result.output  # c9 held back: nothing posted for it
    report = json.loads(result.stdout)
    assert [c["id"] for c in report["claims"]] == ["c1"] and report["held"][0]["id"] == "c9"
    assert report["held"][0]["findings"][0]["rule"] == "COB"
    ok_999(out)
    refused = runner.invoke(
        app, ["claim", str(visits), "--secondary", "--837", str(tmp_path / "x.x12"), "--cms1500", str(tmp_path / "f")]
    )
    assert refused.exit_code == 2 and "--cms1500: not available with --secondary" in refused.output


def _visit_text(visit: Any) -> bytes:
    import msgspec

    return msgspec.json.encode(visit)


def test_cob_code_lists_are_the_ones_pyx12s_map_gives() -> None:
    import pyx12

    root = ET.parse(Path(pyx12.__file__).parent / "map" / "837.5010.X222.A1.xml").getroot()
    loops_by_id = {loop.get("xid"): loop for loop in root.iter("loop")}

    def codes(loop: str, segment: str, element: str) -> frozenset[str]:
        found = loops_by_id[loop].find(f"segment[@xid='{segment}']")
        assert found is not None
        node = found.find(f"element[@xid='{element}']")
        assert node is not None
        return frozenset(str(code.text) for code in node.iter("code"))

    assert claim837.COB_CODES["SBR05"] == codes("2000B", "SBR", "SBR05") == codes("2320", "SBR", "SBR05")
    assert claim837.COB_CODES["SBR02"] == codes("2320", "SBR", "SBR02")
    line_groups = codes("2430", "CAS", "CAS01") - {"CR"}  # CR: a 4010 group no 5010 835 carries
    assert claim837.COB_CODES["CAS01"] == codes("2320", "CAS", "CAS01") - {"CR"} == line_groups


# --- property: any split of the lines into paid, CO and PR balances and writes a valid claim -----------

AMOUNTS = st.integers(min_value=0, max_value=100)  # percent of what is left of the line


@given(splits=st.lists(st.tuples(AMOUNTS, AMOUNTS, AMOUNTS), min_size=6, max_size=6))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_primary_split_balances_or_is_held_back(splits: list[tuple[int, int, int]], tmp_path: Path) -> None:
    visit = claim_visit(id="p1", secondary=SECONDARY)
    engine = Scrubber()
    claim_settings_, separators = claim_settings(engine)
    from rehabclaim.claims.build import build_claim

    primary = build_claim(visit, engine.scrub(visit, for_claim=True), claim_settings_)
    assert len(primary.lines) <= len(splits)  # 97110 twice (GP:CQ and GP), 97140, 97010
    lines = []
    for line, (co, pr1, pr2) in zip(primary.lines, splits, strict=False):
        contractual = (line.charge * co / 100).quantize(D("0.01"))
        deductible = ((line.charge - contractual) * pr1 / 100).quantize(D("0.01"))
        coinsurance = ((line.charge - contractual - deductible) * pr2 / 100).quantize(D("0.01"))
        adjustments = tuple(
            claim837.Adjustment(group, reason, amount)
            for group, reason, amount in (("CO", "45", contractual), ("PR", "1", deductible), ("PR", "2", coinsurance))
            if amount
        )
        paid = line.charge - sum((a.amount for a in adjustments), D(0))
        lines.append(RemitLine(line.code, line.modifiers, line.charge, paid, D(line.units), adjustments))
    remit = PrimaryRemit(
        "1", primary.total_charge, sum((line.paid for line in lines), D(0)), (), tuple(lines), date(2026, 6, 15)
    )
    assert visit.secondary is not None
    try:
        claim = secondary_claim(visit, visit.secondary, primary, remit, claim_settings_)
    except SecondaryHeld as exc:
        assert remit.patient_responsibility == 0 and "nothing" in str(exc)
        return
    assert claim.other_payer is not None and claim.other_payer.paid == remit.paid
    for line in claim.lines:
        assert line.adjudication is not None
        assert line.charge == line.adjudication.paid + claim837.adjustment_total(line.adjudication.adjustments)
    numbers = {"isa": 7, "gs": 7, "st": 7}
    out = tmp_path / f"p-{abs(hash(tuple(splits)))}.x12"
    out.write_text(claim_interchange(claim_settings_, separators, numbers, NOW, [claim]).render())
    ok_999(out)


def test_the_writer_refuses_a_secondary_claim_that_does_not_balance() -> None:
    visit = claim_visit(id="b1", secondary=SECONDARY)
    engine = Scrubber()
    practice, _ = claim_settings(engine)
    from rehabclaim.claims.build import build_claim
    from rehabclaim.x12.core import X12WriteError

    primary = build_claim(visit, engine.scrub(visit, for_claim=True), practice)
    lines = tuple(RemitLine(x.code, x.modifiers, x.charge, x.charge, D(x.units), ()) for x in primary.lines)
    claim_level = (claim837.Adjustment("PR", "1", D("10")),)
    remit = PrimaryRemit("1", primary.total_charge, primary.total_charge - 10, claim_level, lines, date(2026, 6, 15))
    assert visit.secondary is not None
    balanced = secondary_claim(visit, visit.secondary, primary, remit, practice)
    assert balanced.other_payer is not None and balanced.other_payer.remaining_patient_liability == D("10")
    with pytest.raises(X12WriteError, match="CLM02 is not 2320 AMT"):
        import msgspec

        msgspec.structs.replace(balanced, other_payer=msgspec.structs.replace(balanced.other_payer, paid=D(1)))
