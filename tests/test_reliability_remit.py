"""Reading and posting 835 remittances without double posts, crashes or silent losses (the reliability
issue, items 3, 4, 7 and 12, and the speed of large files)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from rich.console import Console
from sqlalchemy import create_engine, event, func, insert, select, text
from typer.testing import CliRunner

from rehabclaim.cli import main
from rehabclaim.cli.main import app
from rehabclaim.ledger import open_ledger
from rehabclaim.ledger.database import MIGRATIONS
from rehabclaim.ledger.models import (
    ClaimSent,
    Patient,
    PostedVisit,
    RemitClaimRecord,
    RemitLineRecord,
    RemittanceRecord,
    RemitTrace,
)
from rehabclaim.remits.post import RemitRefused, allowed_amount, post_remittance
from rehabclaim.x12.core import X12Error
from rehabclaim.x12.remit835 import UnknownSegment, read_835
from rehabclaim.x12.synthetic import PaidClaim, PaidLine, PaidTransaction, interchange_835, remittance_835

D = Decimal
NOW = datetime(2026, 6, 2, tzinfo=UTC)
V1 = PaidClaim("v1", (PaidLine("97110", ("GP",), D("130"), 2, D("60"), D("14")),))
V2 = PaidClaim("v2", (PaidLine("97140", ("GP",), D("66"), 1, D("40"), D("5.20")),))
PAYER_A, PAYER_B = "1111111111", "2222222222"


@pytest.fixture
def ledger(ledger_url: str) -> Any:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


def sent(ledger: Any, *visit_ids: str) -> None:
    """Visits posted and sent (the remittance matches them), without scrubbing: fast for many."""
    with ledger.begin() as connection:
        if connection.execute(select(Patient.id).where(Patient.id == "P1")).first() is None:
            connection.execute(insert(Patient), [{"id": "P1", "created_at": NOW}])
        connection.execute(
            insert(PostedVisit),
            [
                {
                    "id": visit_id,
                    "patient_id": "P1",
                    "date": date(2026, 6, 1),
                    "payer": "medicare",
                    "discipline": "PT",
                    "benefit": "PT_SLP",
                    "therapy_units": 1,
                    "total_charge": D(130),
                    "therapy_expected": D(100),
                    "allowed": None,
                    "progress_report": False,
                    "posted_at": NOW,
                    "result_json": "{}",
                }
                for visit_id in visit_ids
            ],
        )
        connection.execute(
            insert(ClaimSent),
            [
                {
                    "visit_id": visit_id,
                    "payer": "medicare",
                    "frequency": "1",
                    "interchange_control_number": 1,
                    "total_charge": D(130),
                    "sent_at": NOW,
                }
                for visit_id in visit_ids
            ],
        )


def count(ledger: Any, table: Any) -> int:
    with ledger.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def allowed(ledger: Any, visit_id: str) -> Decimal | None:
    with ledger.connect() as connection:
        return connection.execute(select(PostedVisit.allowed).where(PostedVisit.id == visit_id)).scalar_one()  # type: ignore[no-any-return]


def edit_transaction(text_835: str, change: Any) -> str:
    """The file with ``change`` applied to its segments (a list of strings), SE01 recounted."""
    segments = [s for s in text_835.split("~\n") if s]
    segments = change(segments)
    start = next(i for i, s in enumerate(segments) if s.startswith("ST*"))
    end = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    segments[end] = f"SE*{end - start + 1}*0001"
    return "".join(f"{s}~\n" for s in segments)


def without(tag: str) -> Any:
    return lambda segments: [s for s in segments if not s.startswith(f"{tag}*")]


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


# item 3: a transaction without its TRN trace, or a garbled segment id


def test_transaction_without_trn_is_refused_naming_it() -> None:
    text_835 = edit_transaction(remittance_835([V1]), without("TRN"))
    with pytest.raises(X12Error, match=r"transaction 0001 \(ST at segment 3\) has no TRN trace"):
        read_835(text_835)


@pytest.mark.parametrize(
    ("trn", "message"),
    [
        ("TRN*1**1234567890", "TRN02, the payment's trace number"),
        ("TRN*1*CHK1", "TRN03, the trace's originator"),
        ("TRN*1*" + "9" * 51 + "*1234567890", "TRN02 .* is longer than 50 characters"),
    ],
)
def test_trn_without_its_number_or_originator_is_refused(trn: str, message: str) -> None:
    text_835 = remittance_835([V1]).replace("TRN*1*TRACE1*1234567890", trn)
    with pytest.raises(X12Error, match=message):
        read_835(text_835)


def test_second_trn_in_a_transaction_is_refused() -> None:
    text_835 = edit_transaction(remittance_835([V1]), lambda s: [*s[:5], "TRN*1*OTHER*1234567890", *s[5:]])
    with pytest.raises(X12Error, match="segment 6: a second TRN in transaction 0001"):
        read_835(text_835)


@pytest.mark.parametrize("garbled", ["trn*1*TRACE1*1234567890", "Clp*x", "TR N*1", "*1*2", "TRNX*1"])
def test_lowercase_or_garbled_segment_id_is_refused_not_skipped(garbled: str) -> None:
    text_835 = edit_transaction(remittance_835([V1]), lambda s: [*s[:5], garbled, *s[5:]])
    with pytest.raises(X12Error, match=r"segment 6: segment id .* is not an X12 segment id"):
        read_835(text_835)


def test_remit_without_trn_exits_2_and_posts_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    path = tmp_path / "no-trn.835"
    path.write_text(edit_transaction(remittance_835([V1]), without("TRN")))
    for args in ([], ["--post", "--database-url", url], ["--json"]):
        result = cli("remit", str(path), *args)
        assert result.exit_code == 2, result.output
        assert "has no TRN trace" in result.stderr and "Traceback" not in result.output
    lower = tmp_path / "lower.835"
    lower.write_text(remittance_835([V1]).replace("TRN*1*", "trn*1*"))
    result = cli("remit", str(lower), "--post", "--database-url", url)
    assert result.exit_code == 2 and "'trn'" in result.stderr
    assert not (tmp_path / "ledger.sqlite3").exists() or count(open_ledger(url), RemitClaimRecord) == 0


# item 4: a trace is TRN02 with TRN03


def test_trace_originator_is_read_and_in_the_json(tmp_path: Path) -> None:
    remittance = read_835(remittance_835([V1], trace="CHK1", originator=PAYER_A))
    assert (remittance.payments[0].trace_number, remittance.payments[0].trace_originator) == ("CHK1", PAYER_A)
    path = tmp_path / "a.835"
    path.write_text(remittance_835([V1], trace="CHK1", originator=PAYER_A))
    payment = json.loads(cli("remit", str(path), "--json").stdout)["payments"][0]
    assert payment["trace_number"] == "CHK1" and payment["trace_originator"] == PAYER_A


def test_same_check_number_from_two_payers_posts_both(ledger: Any) -> None:
    sent(ledger, "v1", "v2")
    first = remittance_835([V1], trace="CHK1", originator=PAYER_A, control=1).encode()
    second = remittance_835([V2], trace="CHK1", originator=PAYER_B, payer="ACME HEALTH", control=2).encode()
    assert post_remittance(ledger, first, read_835(first)).posted == ["v1"]
    assert post_remittance(ledger, second, read_835(second)).posted == ["v2"]
    again = remittance_835([V2], trace="CHK1", originator=PAYER_B, control=3).encode()  # another file, same payment
    with pytest.raises(RemitRefused, match=f"trace number CHK1 from originator {PAYER_B} was posted before"):
        post_remittance(ledger, again, read_835(again))
    with ledger.connect() as connection:
        traces = {tuple(row) for row in connection.execute(select(RemitTrace.trace_number, RemitTrace.originator))}
    assert traces == {("CHK1", PAYER_A), ("CHK1", PAYER_B)}
    assert count(ledger, RemitClaimRecord) == 2


def _ledger_at_0003_with_trace(url: str, trace: str) -> None:
    """A ledger as revision 0003 left it (traces without originators) holding one posted trace."""
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        connection.execute(
            text(
                "INSERT INTO remittances (file_sha256, trace_numbers, total_paid, posted_at) "
                "VALUES ('old', :trace, 0, :now)"
            ),
            {"trace": trace, "now": NOW},
        )
        connection.execute(
            text("INSERT INTO remit_traces (trace_number, remittance_id) SELECT :trace, id FROM remittances"),
            {"trace": trace},
        )
    engine.dispose()


def test_trace_posted_before_originators_were_kept_still_refuses_a_repost(ledger_url: str) -> None:
    _ledger_at_0003_with_trace(ledger_url, "CHK1")
    ledger = open_ledger(ledger_url)  # migrates to head: the old trace gets originator ''
    try:
        sent(ledger, "v1", "v2")
        repost = remittance_835([V1], trace="CHK1", originator=PAYER_A).encode()
        with pytest.raises(RemitRefused, match="CHK1 was posted before the ledger kept originators"):
            post_remittance(ledger, repost, read_835(repost))
        assert count(ledger, RemitClaimRecord) == 0 and allowed(ledger, "v1") is None
        other = remittance_835([V2], trace="CHK2", originator=PAYER_A).encode()
        assert post_remittance(ledger, other, read_835(other)).posted == ["v2"]
    finally:
        ledger.dispose()


# item 7: the same payment or claim twice in one file; segments the reader does not know


def test_same_payment_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    payment = PaidTransaction((V1,), trace="CHK1", originator=PAYER_A)
    doubled = interchange_835([payment, payment])
    with pytest.raises(X12Error, match=r"payment trace CHK1 from 1111111111 is in transaction 0001 .* and again in"):
        read_835(doubled)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger = open_ledger(url)
    sent(ledger, "v1")
    path = tmp_path / "doubled.835"
    path.write_text(doubled)
    result = cli("remit", str(path), "--post", "--database-url", url)
    assert result.exit_code == 2 and "the same payment twice in one file" in result.stderr
    assert count(ledger, RemitClaimRecord) == 0 and allowed(ledger, "v1") is None


def test_one_check_number_from_two_payers_in_one_file_is_read() -> None:
    file_835 = interchange_835(
        [PaidTransaction((V1,), "CHK1", PAYER_A), PaidTransaction((V2,), "CHK1", PAYER_B, "ACME HEALTH")]
    )
    assert [p.trace_originator for p in read_835(file_835).payments] == [PAYER_A, PAYER_B]


def test_identical_claim_twice_in_a_payment_is_refused_naming_it() -> None:
    data = remittance_835([V1, V2, V1]).encode()
    with pytest.raises(X12Error, match=r"segment 25: claim v1 is twice in payment TRACE1 .*segments 15 and 25"):
        read_835(data)


def test_reversal_and_correction_sharing_clp01_both_post(ledger: Any) -> None:
    sent(ledger, "v1")
    original = remittance_835([V1], trace="CHK1").encode()
    post_remittance(ledger, original, read_835(original))
    assert allowed(ledger, "v1") == D("70")
    reversal = PaidClaim("v1", (PaidLine("97110", ("GP",), D("-130"), 2, D("-60"), D("-14")),), status="22")
    correction = PaidClaim("v1", (PaidLine("97110", ("GP",), D("130"), 2, D("50"), D("16")),))
    data = remittance_835([reversal, correction], trace="CHK2").encode()
    remittance = read_835(data)
    assert [c.status for c in remittance.claims] == ["22", "1"] and remittance.balanced
    assert post_remittance(ledger, data, remittance).posted == ["v1", "v1"]
    assert allowed(ledger, "v1") == allowed_amount(remittance.claims[1]) == D("80")  # 70 - 70 + 80


def test_unknown_segments_are_reported_not_dropped(tmp_path: Path) -> None:
    text_835 = edit_transaction(remittance_835([V1]), lambda s: [*s[:16], "ZZZ*1*2", *s[16:-3], "XY*3", *s[-3:]])
    remittance = read_835(text_835)
    assert remittance.unknown_segments == [UnknownSegment(17, "ZZZ"), UnknownSegment(21, "XY")]
    assert remittance.balanced and len(remittance.claims[0].lines) == 1
    path = tmp_path / "unknown.835"
    path.write_text(text_835)
    shown = cli("remit", str(path))
    assert shown.exit_code == 0
    assert "warning: segment 17: ZZZ is not an 835 segment" in shown.stdout
    assert "warning: segment 21: XY" in shown.stdout
    listed = json.loads(cli("remit", str(path), "--json").stdout)["unknown_segments"]
    assert listed == [{"segment": 17, "id": "ZZZ"}, {"segment": 21, "id": "XY"}]


# item 12: amounts are X12 decimals, strictly


@pytest.mark.parametrize("value", ["NaN", "Infinity", "sNaN", "-inf", "1E5", "+56", "5_6", " 56", "5-6", "1" * 19])
@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        ("CLP*v1*1*130*56*", "CLP*v1*1*130*{}*", "CLP04"),
        ("SVC*HC:97110:GP*130*", "SVC*HC:97110:GP*{}*", "SVC02"),
        ("CAS*CO*45*60", "CAS*CO*45*{}", "CAS03"),
        ("BPR*I*56*", "BPR*I*{}*", "BPR02"),
        ("**2~\nCAS", "**{}~\nCAS", "SVC05"),
    ],
)
def test_non_decimal_amounts_are_refused_naming_segment_and_element(
    value: str, old: str, new: str, element: str
) -> None:
    text_835 = remittance_835([V1])
    assert old in text_835
    with pytest.raises(X12Error, match=rf"segment \d+: {element} .* (is not a number|has more than 18 digits)"):
        read_835(text_835.replace(old, new.format(value), 1))


def test_nan_amount_exits_2_in_every_mode(tmp_path: Path) -> None:
    path = tmp_path / "nan.835"
    path.write_text(remittance_835([V1]).replace("CAS*CO*45*60", "CAS*CO*45*NaN"))
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    for args in (["remit", "--json"], ["remit"], ["remit", "--post", "--database-url", url], ["denials"]):
        result = cli(args[0], str(path), *args[1:])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        assert "segment 18: CAS03 'NaN' is not a number" in result.stderr


def test_amounts_still_read_in_every_x12_form() -> None:
    text_835 = remittance_835([V1]).replace("CAS*CO*45*60~", "CAS*CO*45*60.00~").replace("CAS*PR*2*14", "CAS*PR*2*14.")
    adjustments = read_835(text_835).claims[0].lines[0].adjustments
    assert [a.amount for a in adjustments] == [D("60.00"), D("14")]
    negative = read_835(remittance_835([V1]).replace("CAS*CO*45*60", "CAS*CO*45*-.5"))
    assert negative.claims[0].lines[0].adjustments[0].amount == D("-0.5") and negative.imbalances


# posting refuses what the ledger cannot hold, on both databases, and names it


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("SVC*HC:97110:GP*", "SVC*N4:12345678901*", r"remit_lines.code '12345678901' is longer than 8"),
        ("CLP*v1*1*130*56*14*MB*PCN", "CLP*v1*1*130*56*14*MB*" + "P" * 65, r"remit_claims.payer_claim_id"),
    ],
)
def test_values_the_ledger_cannot_hold_refuse_the_file(ledger: Any, old: str, new: str, message: str) -> None:
    sent(ledger, "v1")
    data = remittance_835([V1]).replace(old, new).encode()
    with pytest.raises(RemitRefused, match=rf"claim 'v1' .*segment \d+\): {message}.*nothing posted"):
        post_remittance(ledger, data, read_835(data))
    assert count(ledger, RemitClaimRecord) == count(ledger, RemittanceRecord) == count(ledger, RemitTrace) == 0


def test_amounts_beyond_the_ledgers_columns_refuse_the_file(ledger: Any) -> None:
    sent(ledger, "v1")
    big = PaidClaim("v1", (PaidLine("97110", ("GP",), D("123456789012.50"), 1, D("60"), D("14")),))
    cents = PaidClaim("v1", (PaidLine("97110", ("GP",), D("130.005"), 2, D("60"), D("14")),))
    for claim, control in ((big, 1), (cents, 2)):
        data = remittance_835([claim], control=control).encode()
        with pytest.raises(RemitRefused, match=r"is beyond .* or has more decimals than .*nothing posted"):
            post_remittance(ledger, data, read_835(data))
    assert count(ledger, RemitClaimRecord) == 0


# large files: batched posting, a summarised table, progress only on a terminal


def test_posting_is_batched_and_keeps_every_claim_with_its_lines(ledger: Any) -> None:
    ids = [f"w{i:05d}" for i in range(1500)]
    sent(ledger, *ids)
    codes = ("97110", "97140", "97530")

    def claim(number: int) -> PaidClaim:
        lines = tuple(
            PaidLine(codes[(number + k) % 3], ("GP",), D(65 * (k + 1)), k + 1, D(20), D(9))
            for k in range(number % 3 + 1)
        )
        return PaidClaim(ids[number], lines)

    earlier = remittance_835([claim(0)], trace="CHK0").encode()  # claims already in the ledger: ids go on from them
    post_remittance(ledger, earlier, read_835(earlier))
    data = remittance_835([claim(n) for n in range(1, 1500)], trace="CHK1").encode()
    remittance = read_835(data)
    statements: list[str] = []
    event.listen(ledger, "before_cursor_execute", lambda *args: statements.append(args[2]))
    done: list[int] = []
    outcome = post_remittance(ledger, data, remittance, done.append)
    assert len(outcome.posted) == 1499 and sum(done) == 1499
    assert len(statements) < 40, len(statements)  # a few per batch of 1000 claims, not several per claim
    with ledger.connect() as connection:
        rows = connection.execute(
            select(RemitClaimRecord.visit_id, RemitLineRecord.code, RemitLineRecord.charge).join(
                RemitLineRecord, RemitLineRecord.remit_claim_id == RemitClaimRecord.id
            )
        ).all()
    expected = [(c.id, line.code, line.charge) for n in range(1500) for c in [claim(n)] for line in c.lines]
    assert sorted((v, code, D(charge)) for v, code, charge in rows) == sorted(expected)  # each line on its claim
    assert allowed(ledger, "w00007") == allowed_amount(remittance.claims[6])


def _many_claims(count_: int) -> str:
    return remittance_835(
        PaidClaim(f"c{n:03d}", (PaidLine("97110", ("GP",), D("130"), 2, D("60"), D("14")),)) for n in range(count_)
    )


def test_table_is_summarised_and_all_shows_every_claim(tmp_path: Path) -> None:
    path = tmp_path / "many.835"
    path.write_text(_many_claims(60))
    shown = cli("remit", str(path))
    assert shown.exit_code == 0
    assert "60 claim(s)" in shown.stdout and "paid 3360" in shown.stdout
    assert re.findall(r"c0\d\d", shown.stdout) == [f"c{n:03d}" for n in range(50)]
    assert "10 more claim(s) not shown (--all shows every one" in shown.stdout
    everything = cli("remit", str(path), "--all")
    assert re.findall(r"c0\d\d", everything.stdout) == [f"c{n:03d}" for n in range(60)]
    assert "more claim(s)" not in everything.stdout
    work = cli("denials", str(path))
    assert "60 item(s) by reason: PR-2 60 (840)" in work.stdout and "10 more item(s)" in work.stdout
    assert "PATIENT" not in shown.stdout + everything.stdout + work.stdout  # names are never printed


def test_progress_goes_to_a_terminals_stderr_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "many.835"
    path.write_text(_many_claims(3))
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    for args, expect_progress in (([], True), (["--json"], False)):
        terminal = io.StringIO()
        monkeypatch.setattr(main, "errors", Console(file=terminal, force_terminal=True, width=100))
        result = cli("remit", str(path), "--post", "--database-url", url, *args)
        assert ("reading many.835" in terminal.getvalue()) == expect_progress, terminal.getvalue()
        assert ("posting" in terminal.getvalue() and "3/3" in terminal.getvalue()) == expect_progress
        assert "reading" not in result.stdout
    assert json.loads(result.stdout)["claims"][0]["id"] == "c000"  # --json stays pure JSON


def test_file_text_prints_as_itself_in_the_table(tmp_path: Path) -> None:
    path = tmp_path / "markup.835"
    path.write_text(remittance_835([PaidClaim("v[/]1", V1.lines)], payer="ACME[/bold][red]HEALTH"))
    shown = cli("remit", str(path))
    assert shown.exit_code == 0, shown.output
    assert "ACME[/bold][red]HEALTH" in shown.stdout and "v[/]1" in shown.stdout


def test_refusal_naming_file_text_prints_as_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    sent(open_ledger(url), "v[/]1")
    path = tmp_path / "long-code.835"
    path.write_text(remittance_835([PaidClaim("v[/]1", V1.lines)]).replace("SVC*HC:97110:GP*", "SVC*N4:1234[/]5678*"))
    result = cli("remit", str(path), "--post", "--database-url", url)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "not posted: claim 'v[/]1' line '1234[/]5678'" in result.stderr


def test_interchange_without_a_transaction_is_refused() -> None:
    empty = "".join(f"{s}~\n" for s in remittance_835([V1]).split("~\n") if s[:3] in ("ISA", "GS*", "GE*", "IEA"))
    with pytest.raises(X12Error, match="segment 4: the interchange holds no 835 transaction"):
        read_835(empty.replace("GE*1*", "GE*0*"))
