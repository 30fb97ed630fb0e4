"""Reports on the ledger (services.reports): a ledger built by posting visits, sending their claims and
posting 835s, then exact figures for each report, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from rehabclaim.claims.run import write_claims
from rehabclaim.cli.main import app
from rehabclaim.ledger import LedgerHistory, open_ledger, post_visit
from rehabclaim.model import Visit
from rehabclaim.reference import Reference, load_reference
from rehabclaim.remits.post import post_remittance
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.services import BadInput, Unavailable
from rehabclaim.services.reports import (
    ar_aging,
    denials_by_reason_and_payer,
    encode,
    paid_against_expected,
    timely_filing,
    underpaid_lines,
)
from rehabclaim.x12.remit835 import read_835
from rehabclaim.x12.synthetic import PaidClaim, PaidLine, PaidTransaction, interchange_835
from tests.test_x12_837 import PATIENT

D = Decimal
AS_OF = date(2026, 6, 1)
THERAPY_30 = [{"code": "97110", "minutes": 30}]  # 2 units: $130 charged; Medicare $49.65 expected (NC, 2026)


def visit(visit_id: str, day: str, payer: str, services: list[dict[str, Any]]) -> Visit:
    """A visit with everything a claim needs (plan of care and authorization cover its day)."""
    return decode_visit(
        msgspec.json.encode(
            {
                "id": visit_id,
                "date": day,
                "payer": payer,
                "discipline": "PT",
                "diagnoses": ["M54.50"],
                "patient": PATIENT,
                "rendering_provider": {"npi": "1234567893", "first_name": "Lee", "last_name": "Park"},
                "plan_of_care": {"certified_from": day, "certified_through": day},
                "authorization": {"number": "A1", "from": day, "through": day, "visits": 10},
                "services": services,
            }
        )
    )


@dataclass
class Ledger:
    database: Any
    reference: Reference
    tmp: Path
    visits: dict[str, Visit]


def post(ledger: Any, reference: Reference, *visits: Visit) -> None:
    for one in visits:
        post_visit(ledger, one, Scrubber(reference, LedgerHistory(ledger)).scrub(one))


def remit(ledger: Any, transactions: list[PaidTransaction], control: int) -> None:
    data = interchange_835(transactions, control).encode()
    outcome = post_remittance(ledger, data, read_835(data))
    assert not outcome.unmatched


@pytest.fixture
def empty(ledger_url: str, tmp_path: Path) -> Any:
    database = open_ledger(ledger_url)
    yield Ledger(database, load_reference(), tmp_path, {})
    database.dispose()


@pytest.fixture
def built(empty: Ledger) -> Ledger:
    """Posted visits, claims sent and two 835s:

    v1  medicare         2026-03-02  97110 x2 (exp 49.65), 97140 x1 (exp 20.65)  sent; paid short (45.00, 18.00)
    v2  sample_per_code  2026-03-09  97110 x2                                     sent; denied CO-50 (limit 90 d)
    v3  sample_medicaid  2026-03-16  97530 x1                                     sent; no answer (61-90 days)
    v4  medicare         2026-05-02                                               sent; no answer (30 days)
    v5  sample_bundling_hmo 2026-02-02                                            not sent (limit 120 d: 1 day left)
    v6  sample_medicaid  2025-11-20                                               not sent (limit 180 d: passed)
    v7  sample_bundling_hmo 2026-03-02                                            not sent (29 days left)
    v8  acme (not configured: no limit) 2026-01-05                                not sent
    v9  sample_medicaid  2026-01-05                                               sent; no answer (over 120 days)
    v10 medicare         2026-06-10                                               sent; no answer (after as_of)
    x1  medicare         2026-03-04  97110 x2   sent, never posted; paid (PR-2 9.93)
    x2  medicare         2026-03-20             sent 2026-03-20, never posted; no answer (73 days)
    """
    database, reference = empty.database, empty.reference
    visits = {
        "v1": visit("v1", "2026-03-02", "medicare", [*THERAPY_30, {"code": "97140", "minutes": 15}]),
        "v2": visit("v2", "2026-03-09", "sample_per_code", THERAPY_30),
        "v3": visit("v3", "2026-03-16", "sample_medicaid", [{"code": "97530", "minutes": 15}]),
        "v4": visit("v4", "2026-05-02", "medicare", THERAPY_30),
        "v5": visit("v5", "2026-02-02", "sample_bundling_hmo", THERAPY_30),
        "v6": visit("v6", "2025-11-20", "sample_medicaid", THERAPY_30),
        "v7": visit("v7", "2026-03-02", "sample_bundling_hmo", THERAPY_30),
        "v8": visit("v8", "2026-01-05", "acme", THERAPY_30),
        "v9": visit("v9", "2026-01-05", "sample_medicaid", THERAPY_30),
        "v10": visit("v10", "2026-06-10", "medicare", THERAPY_30),
        "x1": visit("x1", "2026-03-04", "medicare", THERAPY_30),
        "x2": visit("x2", "2026-03-20", "medicare", THERAPY_30),
    }
    posted = [one for key, one in visits.items() if not key.startswith("x")]
    post(database, reference, *posted)
    scrubber = Scrubber(reference)
    sent = [visits[key] for key in ("v1", "v2", "v3", "v4", "v9", "v10", "x1")]
    run = write_claims(sent, scrubber, database, empty.tmp / "first.x12")
    assert len(run.written) == len(sent) and not run.held_back
    late = write_claims(
        [visits["x2"]], scrubber, database, empty.tmp / "late.x12", now=datetime(2026, 3, 20, tzinfo=UTC)
    )
    assert len(late.written) == 1
    medicare = PaidTransaction(
        [
            PaidClaim(
                "v1",
                (
                    PaidLine("97110", ("GP",), D("130"), 2, D("85.00"), D("9.00")),  # paid 36, allowed 45
                    PaidLine("97140", ("GP",), D("66"), 1, D("48.00"), D("3.60")),  # paid 14.40, allowed 18
                    PaidLine("97010", ("GP",), D("25"), 1, D("25")),  # a code v1 did not bill
                ),
            ),
            PaidClaim("x1", (PaidLine("97110", ("GP",), D("130"), 2, D("80.35"), D("9.93")),)),
        ],
        trace="T1",
    )
    ppo = PaidTransaction(
        [PaidClaim("v2", (PaidLine("97110", ("GP",), D("130"), 2, denied="50"),), status="4")],
        trace="T2",
        originator="9999999999",
        payer="SAMPLE COMMERCIAL PPO",
    )
    remit(database, [medicare, ppo], control=1)
    return Ledger(database, reference, empty.tmp, visits)


def test_the_estimates_the_figures_below_rest_on(built: Ledger) -> None:
    engine = Scrubber(built.reference)
    lines = {line.code: line.expected for line in engine.scrub(built.visits["v1"]).lines}
    assert lines == {"97110": 49.65, "97140": 20.65}


# 1. Denials by reason and payer


def test_denials_by_reason_and_payer(built: Ledger) -> None:
    report = denials_by_reason_and_payer(built.database, reference=built.reference)
    rows = [(r.group, r.reason, r.payer, r.lines, r.claims, r.amount, r.kind, r.next_step) for r in report.rows]
    assert rows == [
        ("CO", "50", "SAMPLE COMMERCIAL PPO", 1, 1, D("130.00"), "denial", "appeal"),
        ("PR", "2", "MEDICARE PART B", 3, 2, D("22.53"), "patient", "bill the patient"),  # 9.00 + 3.60 + 9.93
    ]
    assert report.rows[0].meaning == "Not medically necessary in the payer's view"
    assert (report.lines, report.amount, report.undated_claims_left_out) == (4, D("152.53"), 0)
    assert all("carc-rarc.toml" in row.source for row in report.rows)


def test_denials_keyed_by_date_of_service(built: Ledger) -> None:
    later = denials_by_reason_and_payer(built.database, reference=built.reference, since=date(2026, 3, 5))
    assert [(r.reason, r.amount) for r in later.rows] == [("50", D("130.00"))]
    assert later.undated_claims_left_out == 1  # x1: sent, never posted, so no date of service
    early = denials_by_reason_and_payer(built.database, reference=built.reference, until=date(2026, 3, 2))
    assert [(r.reason, r.lines, r.claims, r.amount) for r in early.rows] == [("2", 2, 1, D("12.60"))]
    with pytest.raises(BadInput, match="until: 2026-03-01 is before since 2026-03-05"):
        denials_by_reason_and_payer(
            built.database, reference=built.reference, since=date(2026, 3, 5), until=date(2026, 3, 1)
        )


# 2. Paid against expected, 3. underpaid lines


def test_paid_against_expected_per_code_and_payer(built: Ledger) -> None:
    report = paid_against_expected(built.database, reference=built.reference)
    rows = {(r.payer, r.code): r for r in report.rows}
    assert list(rows) == [("medicare", "97110"), ("medicare", "97140")]  # v2 was denied: no paid line
    therex = rows[("medicare", "97110")]
    assert (therex.lines_paid, therex.units, therex.paid, therex.allowed) == (1, 2, D("36.00"), D("45.00"))
    assert therex.average_paid_per_unit == D("18.00")
    assert therex.average_allowed_per_unit == D("22.50")
    assert therex.average_expected_per_unit == D("24.83")  # 49.65 / 2 = 24.825, rounded half up
    assert therex.difference_per_unit == D("-2.33")  # (45.00 - 49.65) / 2 = -2.325
    assert therex.payer_name == "Medicare Part B" and therex.lines_with_expected == 1
    manual = rows[("medicare", "97140")]
    assert (manual.average_paid_per_unit, manual.average_allowed_per_unit) == (D("14.40"), D("18.00"))
    assert (manual.average_expected_per_unit, manual.difference_per_unit) == (D("20.65"), D("-2.65"))
    assert report.unmatched_lines == 1  # 97010 on v1's remittance: v1 did not bill it
    denied = paid_against_expected(built.database, reference=built.reference, since=date(2026, 3, 9))
    assert denied.rows == [] and denied.unmatched_lines == 0


def test_underpaid_lines_largest_shortfall_first(built: Ledger) -> None:
    report = underpaid_lines(built.database, reference=built.reference)
    found = [(x.visit_id, x.code, x.payer, x.expected, x.paid, x.allowed, x.short_by) for x in report.lines]
    assert found == [
        ("v1", "97110", "medicare", D("49.65"), D("36.00"), D("45.00"), D("4.65")),
        ("v1", "97140", "medicare", D("20.65"), D("14.40"), D("18.00"), D("2.65")),
    ]
    assert (report.total, report.short_by) == (2, D("7.30"))
    first = report.lines[0]
    assert first.patient_responsibility == D("9.00") and first.date_of_service == date(2026, 3, 2)
    assert [(r.group, r.reason, r.amount) for r in first.reductions] == [("CO", "45", D("85.00"))]
    page = underpaid_lines(built.database, reference=built.reference, limit=1, offset=1)
    assert [x.code for x in page.lines] == ["97140"] and page.total == 2
    loose = underpaid_lines(built.database, reference=built.reference, tolerance=D("2.65"))
    assert [x.code for x in loose.lines] == ["97110"]  # short by exactly the tolerance is not "more than"
    assert underpaid_lines(built.database, reference=built.reference, until=date(2026, 3, 1)).total == 0
    with pytest.raises(BadInput, match="tolerance"):
        underpaid_lines(built.database, reference=built.reference, tolerance=D("-1"))
    with pytest.raises(BadInput, match="offset"):
        underpaid_lines(built.database, reference=built.reference, offset=-1)


def test_a_reversal_and_its_correction_net_out(built: Ledger) -> None:
    """The payer takes v1's payment back (CLP02 22, every amount negated) and pays it again in full."""
    reversal = PaidClaim(
        "v1",
        (
            PaidLine("97110", ("GP",), D("-130"), 2, D("-85.00"), D("-9.00")),
            PaidLine("97140", ("GP",), D("-66"), 1, D("-48.00"), D("-3.60")),
            PaidLine("97010", ("GP",), D("-25"), 1, D("-25")),
        ),
        status="22",
    )
    correction = PaidClaim(
        "v1",
        (
            PaidLine("97110", ("GP",), D("130"), 2, D("80.35"), D("9.93")),  # allowed 49.65, as expected
            PaidLine("97140", ("GP",), D("66"), 1, D("45.35"), D("4.13")),  # allowed 20.65
            PaidLine("97010", ("GP",), D("25"), 1, D("25")),
        ),
    )
    remit(built.database, [PaidTransaction([reversal, correction], trace="T3")], control=2)
    rows = {row.code: row for row in paid_against_expected(built.database, reference=built.reference).rows}
    assert (rows["97110"].lines_paid, rows["97110"].paid, rows["97110"].allowed) == (1, D("39.72"), D("49.65"))
    assert (rows["97110"].difference_per_unit, rows["97140"].difference_per_unit) == (D("0.00"), D("0.00"))
    assert underpaid_lines(built.database, reference=built.reference).total == 0
    denials = denials_by_reason_and_payer(built.database, reference=built.reference)
    coinsurance = next(row for row in denials.rows if row.reason == "2")
    # v1's 12.60 taken back and 14.06 put on the patient again; x1's 9.93 stands
    assert (coinsurance.lines, coinsurance.claims, coinsurance.amount) == (3, 2, D("23.99"))


# 4. A/R aging


def test_ar_aging_buckets_by_payer_from_the_date_of_service(built: Ledger) -> None:
    report = ar_aging(built.database, as_of=AS_OF)
    table = {row.payer: (row.claims, row.balance, [(b.claims, b.balance) for b in row.buckets]) for row in report.rows}
    empty = (0, D(0))
    assert table == {
        # v4: 30 days exactly, the last day of 0-30
        "medicare": (1, D("130.00"), [(1, D("130.00")), empty, empty, empty, empty]),
        # x2 was never posted: aged from the day it was sent (2026-03-20: 73 days), under the 837P payer id
        "11502": (1, D("130.00"), [empty, empty, (1, D("130.00")), empty, empty]),
        # v3 2026-03-16: 77 days, $70; v9 2026-01-05: 147 days
        "sample_medicaid": (2, D("200.00"), [empty, empty, (1, D("70.00")), empty, (1, D("130.00"))]),
    }
    assert [b.label for b in report.total.buckets] == ["0-30", "31-60", "61-90", "91-120", "over 120"]
    assert (report.total.claims, report.total.balance) == (4, D("460.00"))
    assert [b.balance for b in report.total.buckets] == [D("130.00"), D(0), D("200.00"), D(0), D("130.00")]
    assert (report.aged_from_sent_date, report.after_as_of) == (1, 1)  # v10: served after as_of
    a_day_later = ar_aging(built.database, as_of=AS_OF + timedelta(days=1))
    assert a_day_later.rows[0].payer == "11502" and a_day_later.rows[1].buckets[1].claims == 1  # v4: 31 days


def test_a_claim_sent_again_after_its_denial_is_open_again(built: Ledger) -> None:
    assert "sample_per_code" not in {row.payer for row in ar_aging(built.database, as_of=AS_OF).rows}
    again = write_claims(
        [built.visits["v2"]], Scrubber(built.reference), built.database, built.tmp / "again.x12", resend=True
    )
    assert len(again.written) == 1
    rows = {row.payer: row for row in ar_aging(built.database, as_of=AS_OF).rows}
    assert (rows["sample_per_code"].claims, rows["sample_per_code"].balance) == (1, D("130.00"))
    timely = timely_filing(built.database, reference=built.reference, as_of=AS_OF)
    assert "v2" not in [v.visit_id for v in timely.visits]  # filed again


# 5. Timely filing


def test_timely_filing_most_urgent_first(built: Ledger) -> None:
    report = timely_filing(built.database, reference=built.reference, as_of=AS_OF)
    found = [(v.visit_id, v.payer, v.status, v.limit_days, v.deadline, v.days_left) for v in report.visits]
    assert found == [
        ("v6", "sample_medicaid", "not sent", 180, date(2026, 5, 19), -13),
        ("v5", "sample_bundling_hmo", "not sent", 120, date(2026, 6, 2), 1),
        ("v2", "sample_per_code", "denied", 90, date(2026, 6, 7), 6),
        ("v7", "sample_bundling_hmo", "not sent", 120, date(2026, 6, 30), 29),
    ]
    assert report.visits[0].limit_from.endswith("sample_medicaid.toml") and report.visits[0].charge == D("130.00")
    assert [(p.payer, p.visits) for p in report.payers_without_limit] == [("acme", 1)]
    narrower = timely_filing(built.database, reference=built.reference, as_of=AS_OF, within_days=28)
    assert [v.visit_id for v in narrower.visits] == ["v6", "v5", "v2"]
    with pytest.raises(BadInput, match="within_days"):
        timely_filing(built.database, reference=built.reference, as_of=AS_OF, within_days=-1)


def test_the_default_profiles_limit_applies_to_a_payer_without_one(built: Ledger) -> None:
    default = built.reference.payers["default"]
    limited = msgspec.structs.replace(default, claims=msgspec.structs.replace(default.claims, timely_filing_days=150))
    reference = dataclasses.replace(built.reference, payers={**built.reference.payers, "default": limited})
    report = timely_filing(built.database, reference=reference, as_of=AS_OF)
    acme = next(v for v in report.visits if v.visit_id == "v8")
    assert (acme.deadline, acme.days_left, acme.limit_days) == (date(2026, 6, 4), 3, 150)
    assert acme.limit_from == "the default profile (payers/default.toml)" and report.payers_without_limit == []
    medicaid = next(v for v in report.visits if v.visit_id == "v6")
    assert (medicaid.limit_days, medicaid.limit_from) == (180, "payers/sample_medicaid.toml")  # its own limit


# Empty ledger, JSON, CLI


def test_every_report_of_an_empty_ledger_is_empty(empty: Ledger) -> None:
    database, reference = empty.database, empty.reference
    denials = denials_by_reason_and_payer(database, reference=reference)
    assert (denials.rows, denials.lines, denials.amount) == ([], 0, D(0))
    assert paid_against_expected(database, reference=reference).rows == []
    assert underpaid_lines(database, reference=reference).total == 0
    aging = ar_aging(database, as_of=AS_OF)
    assert aging.rows == [] and aging.total.balance == D(0) and len(aging.total.buckets) == 5
    timely = timely_filing(database, reference=reference, as_of=AS_OF)
    assert (timely.visits, timely.payers_without_limit) == ([], [])


def test_json_writes_amounts_as_numbers(built: Ledger) -> None:
    data = json.loads(encode(ar_aging(built.database, as_of=AS_OF)))
    assert data["as_of"] == "2026-06-01" and data["total"]["balance"] == 460.0
    assert list(data["rows"][0]) == ["payer", "claims", "balance", "buckets", "source"]


def test_report_commands(built: Ledger, ledger_url: str) -> None:
    runner = CliRunner()
    base = ["--database-url", ledger_url]
    aging = runner.invoke(app, ["report", "aging", "--as-of", "2026-06-01", "--json", *base])
    assert aging.exit_code == 0, aging.output
    assert aging.stdout.encode() == encode(ar_aging(built.database, as_of=AS_OF)) + b"\n"
    shown = runner.invoke(app, ["report", "timely", "--as-of", "2026-06-01", *base])
    assert shown.exit_code == 0 and "v6" in shown.stdout and "-13" in shown.stdout
    for command in (["denials"], ["paid"], ["underpaid", "--limit", "1"], ["aging"], ["timely"]):
        result = runner.invoke(app, ["report", *command, *base])
        assert result.exit_code == 0, (command, result.output)
    paid = json.loads(runner.invoke(app, ["report", "paid", "--json", *base]).stdout)
    assert paid["rows"][0]["average_expected_per_unit"] == 24.83
    bad = runner.invoke(app, ["report", "denials", "--since", "2026-13-01", *base])
    assert bad.exit_code == 2 and bad.stderr.strip() == "error: --since: expected YYYY-MM-DD, got '2026-13-01'"
    never = runner.invoke(app, ["report", "aging", "--as-of", "yesterday", *base])
    assert never.exit_code == 2 and never.stderr.strip() == "error: --as-of: expected YYYY-MM-DD, got 'yesterday'"
    backwards = runner.invoke(app, ["report", "underpaid", "--since", "2026-03-05", "--until", "2026-03-01", *base])
    assert backwards.exit_code == 2 and "until: 2026-03-01 is before since 2026-03-05" in backwards.stderr


def test_a_ledger_that_fails_is_unavailable_in_one_line(tmp_path: Path) -> None:
    database = create_engine(f"sqlite:///{tmp_path / 'not-migrated.sqlite3'}")  # no tables: every query fails
    reference = load_reference()
    calls = [
        lambda: denials_by_reason_and_payer(database, reference=reference),
        lambda: paid_against_expected(database, reference=reference),
        lambda: underpaid_lines(database, reference=reference),
        lambda: ar_aging(database, as_of=AS_OF),
        lambda: timely_filing(database, reference=reference, as_of=AS_OF),
    ]
    for call in calls:
        with pytest.raises(Unavailable, match=r"^database: the ledger failed \(no such table: \w+\)$"):
            call()
    database.dispose()
