"""Posting remittances to the ledger, the CARC/RARC table and the denials worklist."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.ledger import LedgerHistory, open_ledger, patient_state, post_visit
from rehabclaim.ledger.models import RemitClaimRecord
from rehabclaim.remits.codes import code_table
from rehabclaim.remits.post import RemitRefused, allowed_amount, post_remittance
from rehabclaim.remits.worklist import from_ledger
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.x12.remit835 import read_835
from rehabclaim.x12.synthetic import PaidClaim, PaidLine, remittance_835
from tests.conftest import visit_json

D = Decimal


@pytest.fixture
def ledger(ledger_url: str) -> Any:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


def posted_visit(ledger: Any, visit_id: str, **fields: Any) -> None:
    visit = decode_visit(visit_json(id=visit_id, patient={"id": "P100"}, **fields))
    post_visit(ledger, visit, Scrubber(history=LedgerHistory(ledger)).scrub(visit))


def unbalance(text: str) -> str:
    """The same file with a BPR02 that no longer equals the claims paid."""
    return re.sub(r"BPR\*I\*[0-9.]+\*", "BPR*I*99*", text)


REMIT = [
    PaidClaim(
        "v1",
        (
            PaidLine("97110", ("GP",), D("130"), 2, D("60"), D("14")),
            PaidLine("97010", ("GP",), D("25"), 1, denied="97", remark="M15"),
        ),
    ),
    PaidClaim("v2", (PaidLine("97140", ("GP",), D("66"), 1, D("40"), D("5.20")),)),
    PaidClaim("someone-else", (PaidLine("97110", ("GP",), D("65"), 1, D("30"), D("7")),)),
]


def test_post_records_allowed_amounts_for_kx(ledger: Any) -> None:
    posted_visit(ledger, "v1", services=[{"code": "97110", "minutes": 30}, {"code": "97010"}])
    posted_visit(ledger, "v2", date="2026-06-03", services=[{"code": "97140", "minutes": 15}])
    data = remittance_835(REMIT).encode()
    outcome = post_remittance(ledger, data, read_835(data))
    assert outcome.posted == ["v1", "v2"] and outcome.unmatched == ["someone-else"]
    visits = {v["id"]: v for v in patient_state(ledger, "P100")["visits"]}  # type: ignore[index]
    assert visits["v1"]["allowed"] == 70.0  # 155 charged less CO-45 60 and CO-97 25; PR stays in
    assert visits["v2"]["allowed"] == 26.0
    found = LedgerHistory(ledger).allowed_ytd(
        decode_visit(
            visit_json(id="v3", date="2026-06-10", patient={"id": "P100"}, services=[{"code": "97110", "minutes": 30}])
        ),
        "PT_SLP",
    )
    assert found is not None and found.value == D("96.00")


def test_same_file_twice_is_refused_and_posts_nothing_more(ledger: Any) -> None:
    posted_visit(ledger, "v1", services=[{"code": "97110", "minutes": 30}, {"code": "97010"}])
    data = remittance_835(REMIT).encode()
    post_remittance(ledger, data, read_835(data))
    with pytest.raises(RemitRefused, match="posted before"):
        post_remittance(ledger, data, read_835(data))
    again = remittance_835(REMIT, control=2).encode()  # a new file carrying the same payment trace
    with pytest.raises(RemitRefused, match="TRACE1"):
        post_remittance(ledger, again, read_835(again))
    with ledger.connect() as connection:
        assert len(connection.execute(select(RemitClaimRecord.id)).all()) == 1


def test_unbalanced_file_posts_nothing(ledger: Any) -> None:
    posted_visit(ledger, "v1", services=[{"code": "97110", "minutes": 30}, {"code": "97010"}])
    data = unbalance(remittance_835(REMIT)).encode()
    remittance = read_835(data)
    assert remittance.imbalances
    with pytest.raises(RemitRefused, match="does not balance"):
        post_remittance(ledger, data, remittance)
    with ledger.connect() as connection:
        assert connection.execute(select(RemitClaimRecord.id)).first() is None


def test_denials_worklist_from_the_ledger(ledger: Any) -> None:
    posted_visit(ledger, "v1", services=[{"code": "97110", "minutes": 30}, {"code": "97010"}])
    data = remittance_835(REMIT).encode()
    post_remittance(ledger, data, read_835(data))
    items = from_ledger(ledger)
    by_reason = {(i.code, i.group, i.reason): i for i in items}
    assert ("97010", "CO", "97") in by_reason and ("97110", "PR", "2") in by_reason
    assert ("97110", "CO", "45") not in by_reason  # contractual write-downs are expected, not work
    bundled = by_reason[("97010", "CO", "97")]
    assert bundled.next_step == "correct and resubmit (frequency 7)" and "M15" in bundled.remarks[0]
    assert by_reason[("97110", "PR", "2")].next_step == "bill the patient"


def test_code_table_explains_and_defaults() -> None:
    table = code_table()
    assert table.explain("CO", "50") == ("Not medically necessary in the payer's view", "denial", "appeal")
    assert table.explain("PR", "50")[2] == "bill the patient"
    assert table.explain("CO", "9999")[2] == "review"


def test_allowed_amount_prefers_the_payers_line_allowed() -> None:
    lines = (
        PaidLine("97110", ("GP",), D("130"), 2, D("60"), D("14"), allowed=D("71")),
        PaidLine("97010", ("GP",), D("25"), 1, denied="97", allowed=D("0")),
    )
    claim = read_835(remittance_835([PaidClaim("v1", lines)])).claims[0]
    assert claim.lines[0].allowed == D("71")
    assert allowed_amount(claim) == D("71")  # the payer's figure, not charge less CO (70)


def test_remit_and_denials_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    path = tmp_path / "remit.835"
    path.write_text(remittance_835(REMIT))
    runner = CliRunner()
    shown = runner.invoke(app, ["remit", str(path), "--json"])
    assert shown.exit_code == 0
    out = json.loads(shown.stdout)
    assert out["total_paid"] == 104.8 and [c["id"] for c in out["claims"]] == ["v1", "v2", "someone-else"]
    assert out["claims"][0]["lines"][1]["adjustments"] == [
        {"group": "CO", "reason": "97", "amount": 25, "quantity": None}
    ]
    posted = runner.invoke(app, ["remit", str(path), "--post", "--database-url", url])
    assert posted.exit_code == 0 and "posted 0 claim(s)" in posted.stdout  # nothing of ours in an empty ledger
    again = runner.invoke(app, ["remit", str(path), "--post", "--database-url", url])
    assert again.exit_code == 1 and "posted before" in again.stderr
    listed = json.loads(runner.invoke(app, ["denials", str(path), "--json"]).stdout)
    assert any(i["reason"] == "97" and i["next_step"].startswith("correct") for i in listed)
    truncated = tmp_path / "cut.835"
    truncated.write_text(path.read_text()[:400])
    result = runner.invoke(app, ["remit", str(truncated)])
    assert result.exit_code == 2 and "segment" in result.stderr
    broken = tmp_path / "unbalanced.835"
    broken.write_text(unbalance(path.read_text()))
    result = runner.invoke(app, ["remit", str(broken), "--post", "--database-url", url])
    assert result.exit_code == 1 and "does not balance" in result.stderr
