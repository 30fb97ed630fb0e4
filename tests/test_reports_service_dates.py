"""Date-of-service filters read the date kept with each remittance claim (ledger revision 0006): a claim sent
by `claim` whose visit was never posted, answered by an 835 with DTM*472, is in the denials worklist (CLI and
API) and in `report denials` / `report paid` for its date and not outside it; a posted visit is dated as
before; a remittance with no date at all is counted as undated. On SQLite and PostgreSQL, through the CLI."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.ledger import open_ledger
from rehabclaim.ledger.models import RemitClaimRecord
from rehabclaim.x12.synthetic import PaidClaim, PaidLine, PaidTransaction, interchange_835
from tests.api_support import running_api
from tests.test_ledger_0006 import Rows, edit_835
from tests.test_x12_837 import PATIENT

D = Decimal
MEDICARE_ID = "11502"  # the demo practice's Medicare payer id: what the 837P (claims_sent.payer) carries
THERAPY_30 = [{"code": "97110", "minutes": 30}]  # 2 units of 97110, $130 charged
# visit id: (date of service, posted with `scrub --post`?)
VISITS = {
    "u1": ("2026-03-04", False),  # sent by `claim` alone; the 835 dates it (DTM*472): partly paid
    "u2": ("2026-03-06", False),  # sent alone; its 835 carries no DTM*472: undated; partly paid
    "p1": ("2026-03-10", True),  # posted, sent; denied CO-50
    "p2": ("2026-03-12", True),  # posted, sent; partly paid
}
DTM_472 = {"u1": "20260304", "p1": "20260310", "p2": "20260312"}  # u2: none
PARTLY_PAID = (PaidLine("97110", ("GP",), D("130"), 2, D("50.00"), D("16.00")),)  # paid 64, PR-2 16
DENIED = (PaidLine("97110", ("GP",), D("130"), 2, denied="50"),)


def visit(visit_id: str, day: str) -> dict[str, Any]:
    """A visit with everything a claim needs to Medicare (plan of care and authorization cover its day)."""
    return {
        "id": visit_id,
        "date": day,
        "payer": "medicare",
        "discipline": "PT",
        "diagnoses": ["M54.50"],
        "patient": PATIENT,
        "rendering_provider": {"npi": "1234567893", "first_name": "Lee", "last_name": "Park"},
        "plan_of_care": {"certified_from": day, "certified_through": day},
        "authorization": {"number": "A1", "from": day, "through": day, "visits": 10},
        "services": THERAPY_30,
    }


def jsonl(path: Path, visits: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(msgspec.json.encode(one) + b"\n" for one in visits))
    return path


def dated_lines(rows: Rows) -> Rows:
    """An 835 edit: DTM*472 after each SVC of the claims in DTM_472, with that claim's date."""
    found: Rows = []
    claim = ""
    for row in rows:
        found.append(row)
        claim = row[1] if row[0] == "CLP" else claim
        if row[0] == "SVC" and claim in DTM_472:
            found.append(["DTM", "472", DTM_472[claim]])
    return found


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


@pytest.fixture
def ledger(ledger_url: str, tmp_path: Path) -> str:
    """Posted p1, p2; claims for all four sent by `claim`; one 835 answering them, DTM*472 on all but u2."""
    base = ["--database-url", ledger_url]
    visits = {key: visit(key, day) for key, (day, _) in VISITS.items()}
    posted = jsonl(tmp_path / "posted.jsonl", [one for key, one in visits.items() if VISITS[key][1]])
    run("scrub", str(posted), "--post", "--json", *base)
    everything = jsonl(tmp_path / "visits.jsonl", list(visits.values()))
    sent = json.loads(run("claim", str(everything), "--837", str(tmp_path / "claims.x12"), "--json", *base).stdout)
    assert (sent["written"], sent["held_back"]) == (4, 0), sent
    answers = [
        PaidClaim("u1", PARTLY_PAID),
        PaidClaim("u2", PARTLY_PAID),
        PaidClaim("p1", DENIED, status="4"),
        PaidClaim("p2", PARTLY_PAID),
    ]
    data = edit_835(interchange_835([PaidTransaction(answers)], 1).encode(), dated_lines)
    (tmp_path / "answer.835").write_bytes(data)
    run("remit", str(tmp_path / "answer.835"), "--post", *base)
    return ledger_url


def worklist_ids(ledger_url: str, *dates: str) -> list[str]:
    shown = json.loads(run("denials", "--json", *dates, "--database-url", ledger_url).stdout)
    return sorted({item["visit_id"] for item in shown})  # --json: every item


def test_the_denials_worklist_dates_a_claim_sent_without_posting(ledger: str) -> None:
    assert worklist_ids(ledger) == ["p1", "p2", "u1", "u2"]  # no date bound: every one, undated u2 too
    assert worklist_ids(ledger, "--since", "2026-03-04", "--until", "2026-03-04") == ["u1"]  # by its DTM*472
    assert worklist_ids(ledger, "--since", "2026-03-05") == ["p1", "p2"]  # u1 outside; u2 has no date
    assert worklist_ids(ledger, "--until", "2026-03-10") == ["p1", "u1"]
    assert worklist_ids(ledger, "--since", "2026-03-01", "--until", "2026-03-31") == ["p1", "p2", "u1"]


def test_the_api_worklist_filters_by_the_same_dates(ledger: str, tmp_path: Path) -> None:
    with running_api(ledger, tmp_path) as api:
        answer = api.get("/v1/denials", params={"since": "2026-03-01", "until": "2026-03-05"})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert ([item["visit_id"] for item in page["items"]], page["total"]) == (["u1"], 1)
        cli = run("denials", "--json", "--since", "2026-03-01", "--until", "2026-03-05", "--database-url", ledger)
        assert page["items"] == json.loads(cli.stdout)  # the CLI's items


def report(ledger_url: str, name: str, *dates: str) -> Any:
    return json.loads(run("report", name, "--json", *dates, "--database-url", ledger_url).stdout)


def test_report_denials_counts_a_dated_sent_claim_in_its_period_only(ledger: str) -> None:
    early = report(ledger, "denials", "--since", "2026-03-01", "--until", "2026-03-05")
    assert [(r["group"], r["reason"], r["lines"], r["claims"], r["amount"]) for r in early["rows"]] == [
        ("PR", "2", 1, 1, 16.0)  # u1's coinsurance
    ]
    assert early["undated_claims_left_out"] == 1  # u2
    later = report(ledger, "denials", "--since", "2026-03-05", "--until", "2026-03-31")
    assert [(r["reason"], r["lines"], r["amount"]) for r in later["rows"]] == [("50", 1, 130.0), ("2", 1, 16.0)]
    every = report(ledger, "denials")
    assert [(r["reason"], r["lines"], r["claims"]) for r in every["rows"]] == [("50", 1, 1), ("2", 3, 3)]
    assert every["undated_claims_left_out"] == 0  # no bound: nothing left out


def test_report_paid_counts_a_dated_sent_claim_in_its_period_only(ledger: str) -> None:
    early = report(ledger, "paid", "--since", "2026-03-01", "--until", "2026-03-05")
    [row] = early["rows"]  # u1 alone: under the 837P payer id, named as its 835 names the payer
    assert (row["payer"], row["payer_name"], row["code"]) == (MEDICARE_ID, "MEDICARE PART B", "97110")
    assert (row["lines_paid"], row["units"], row["paid"], row["allowed"]) == (1, 2, 64.0, 80.0)
    assert (row["lines_with_expected"], row["average_expected_per_unit"]) == (0, None)  # never posted: no estimate
    assert "SVC05" in row["source"]
    assert (early["lines_not_posted"], early["undated_claims_left_out"]) == (1, 1)
    later = report(ledger, "paid", "--since", "2026-03-05")
    [posted] = later["rows"]  # p2 (p1 was denied); u1 is before the period
    assert (posted["payer"], posted["lines_paid"], posted["lines_with_expected"]) == ("medicare", 1, 1)
    assert posted["source"].startswith("paid: remit_lines.paid") and "visit_lines.expected" in posted["source"]
    assert later["lines_not_posted"] == 0
    every = report(ledger, "paid")  # no bound: u2 is still left out (no date to place it), and counted
    assert [(r["payer"], r["lines_paid"]) for r in every["rows"]] == [(MEDICARE_ID, 1), ("medicare", 1)]
    assert every["undated_claims_left_out"] == 1
    underpaid = report(ledger, "underpaid", "--since", "2026-03-01", "--until", "2026-03-05")
    assert underpaid["total"] == 0  # u1 has no estimate to fall short of


def test_a_claim_without_a_kept_date_takes_its_posted_visits(ledger: str) -> None:
    """A claim posted before 0006 whose visit was posted later keeps no date: the posted visit's serves."""
    database = open_ledger(ledger)
    with database.begin() as connection:
        connection.execute(update(RemitClaimRecord).where(RemitClaimRecord.visit_id == "p1").values(service_date=None))
    database.dispose()
    assert worklist_ids(ledger, "--since", "2026-03-10", "--until", "2026-03-10") == ["p1"]
    dated = report(ledger, "denials", "--since", "2026-03-10", "--until", "2026-03-10")
    assert [(r["reason"], r["lines"]) for r in dated["rows"]] == [("50", 1)]
    assert dated["undated_claims_left_out"] == 1  # u2 only: p1 is dated by its visit
