"""Ledger revision 0006: each posted 835 claim keeps its payment's date (BPR16), its payer's identifiers
(N1*PR N104 or REF*2U, TRN03) and its date of service; a secondary claim's DTP*573 is BPR16 and only the
primary payer's answer is taken as the primary's. Upgrading a ledger at 0005 that holds data, and back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from rehabclaim.claims.secondary import primary_remit
from rehabclaim.ledger import LedgerHistory, open_ledger, post_visit
from rehabclaim.ledger.database import MIGRATIONS
from rehabclaim.ledger.models import Base, ClaimSent, RemitClaimRecord, RemitLineRecord
from rehabclaim.remits.post import post_remittance
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.x12.remit835 import read_835
from rehabclaim.x12.synthetic import PaidClaim, PaidLine, remittance_835
from tests.conftest import visit_json
from tests.test_secondary_claims import (
    MEDICARE_ID,
    SECONDARY,
    loops,
    ok_999,
    partly_paid,
    primary_sent,
    remit_835,
    secondary_run,
)
from tests.test_x12_837 import claim_visit, segments

D = Decimal
MEDICAID_ID = "SAMPLEMCD"  # the demo practice's sample_medicaid payer id (the secondary in SECONDARY)
POSTED_AT = datetime(2026, 6, 20, 8, 0, tzinfo=UTC)
Rows = list[list[str]]


# --- a ledger at 0005 with data in it ------------------------------------------------------------------------


def _alembic(connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _ledger_at_0005(url: str) -> None:
    """Revision 0005 holding a posted visit v1 and a sent-only claim u1, both answered in one remittance (trace
    CHK1 from 1111111111), and a second remittance whose two payments share trace number CHK2 (two payers)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_alembic(connection), "0005")
        run = connection.execute
        run(text("INSERT INTO patients (id, created_at) VALUES ('P1', :at)"), {"at": POSTED_AT})
        run(
            text(
                "INSERT INTO visits (id, patient_id, date, payer, discipline, benefit, therapy_units, total_charge, "
                "therapy_expected, allowed, progress_report, posted_at, result_json) VALUES ('v1', 'P1', "
                "'2026-05-04', 'medicare', 'PT', 'PT_SLP', 2, 130.00, 90.00, 74.00, false, :at, '{}')"
            ),
            {"at": POSTED_AT},
        )
        for number, traces in ((1, [("CHK1", "1111111111")]), (2, [("CHK2", "1111111111"), ("CHK2", "2222222222")])):
            run(
                text(
                    "INSERT INTO remittances (id, file_sha256, trace_numbers, total_paid, posted_at) "
                    "VALUES (:id, :sha, :traces, 100.00, :at)"
                ),
                {"id": number, "sha": f"sha{number}", "traces": traces[0][0], "at": POSTED_AT},
            )
            for trace, originator in traces:
                run(
                    text("INSERT INTO remit_traces (trace_number, originator, remittance_id) VALUES (:t, :o, :r)"),
                    {"t": trace, "o": originator, "r": number},
                )
        claims = [(1, 1, "v1", "CHK1"), (2, 1, "u1", "CHK1"), (3, 2, "v1", "CHK2")]
        for claim_id, remittance, visit, trace in claims:
            run(
                text(
                    "INSERT INTO remit_claims (id, remittance_id, visit_id, payer, trace_number, status, charge, paid,"
                    " patient_responsibility, allowed, payer_claim_id, adjustments, remarks) VALUES (:id, :r, :v, "
                    "'MEDICARE PART B', :t, '1', 130.00, 60.00, 14.00, 74.00, 'PCN', '[]', '[]')"
                ),
                {"id": claim_id, "r": remittance, "v": visit, "t": trace},
            )
            run(
                text(
                    "INSERT INTO remit_lines (remit_claim_id, code, modifiers, charge, paid, units, adjustments, "
                    "remarks) VALUES (:c, '97110', 'GP', 130.00, 60.00, 2, '[]', '[]')"
                ),
                {"c": claim_id},
            )
    engine.dispose()


def _remit_columns(connection: Any) -> dict[str, set[str]]:
    found = inspect(connection)
    return {table: {c["name"] for c in found.get_columns(table)} for table in ("remit_claims", "remit_lines")}


NEW_CLAIM_COLUMNS = {"payment_date", "payer_id", "trace_originator", "service_date"}


def test_upgrade_from_0005_keeps_the_data_fills_what_it_can_and_downgrades(ledger_url: str) -> None:
    _ledger_at_0005(ledger_url)
    ledger = open_ledger(ledger_url)  # migrates to head
    try:
        with ledger.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            claims = connection.execute(
                select(
                    RemitClaimRecord.id,
                    RemitClaimRecord.paid,
                    RemitClaimRecord.trace_originator,
                    RemitClaimRecord.service_date,
                    RemitClaimRecord.payment_date,
                    RemitClaimRecord.payer_id,
                ).order_by(RemitClaimRecord.id)
            ).all()
            lines = connection.execute(
                select(RemitLineRecord.remit_claim_id, RemitLineRecord.service_date).order_by(RemitLineRecord.id)
            ).all()
        assert [tuple(row) for row in claims] == [
            (1, D("60.00"), "1111111111", date(2026, 5, 4), None, None),  # one payment CHK1: its TRN03
            (2, D("60.00"), "1111111111", None, None, None),  # u1 was never posted: no date of service known
            (3, D("60.00"), None, date(2026, 5, 4), None, None),  # CHK2 from two payers: which is unknown
        ]
        assert [tuple(row) for row in lines] == [(1, date(2026, 5, 4)), (2, None), (3, date(2026, 5, 4))]
        remit = primary_remit(ledger, "v1", MEDICARE_ID, frozenset({MEDICARE_ID, MEDICAID_ID}))
        assert remit is not None and remit.adjudicated == POSTED_AT.date()  # no BPR16 kept before 0006
        assert remit.payer_ids == ()  # claim 3: no identifier, so it stands as before
        with ledger.begin() as connection:
            command.downgrade(_alembic(connection), "0005")
        with ledger.connect() as connection:
            columns = _remit_columns(connection)
            assert not NEW_CLAIM_COLUMNS & columns["remit_claims"] and "service_date" not in columns["remit_lines"]
            kept = connection.execute(text("SELECT id, paid FROM remit_claims ORDER BY id")).all()
            assert [(row[0], D(row[1])) for row in kept] == [(1, D("60")), (2, D("60")), (3, D("60"))]
            assert connection.execute(text("SELECT COUNT(*) FROM remit_lines")).scalar_one() == 3
        with ledger.begin() as connection:
            command.upgrade(_alembic(connection), "head")  # and up again
        with ledger.connect() as connection:
            assert _remit_columns(connection)["remit_claims"] >= NEW_CLAIM_COLUMNS
    finally:
        ledger.dispose()


# --- posting an 835 ----------------------------------------------------------------------------------------------


def edit_835(data: bytes, edit: Callable[[Rows], Rows]) -> bytes:
    """The 835 ``data`` with its transaction's segments (ST..SE) changed by ``edit`` and SE01 counted again."""
    rows = [segment.strip().split("*") for segment in data.decode().split("~") if segment.strip()]
    start = next(i for i, row in enumerate(rows) if row[0] == "ST")
    end = next(i for i, row in enumerate(rows) if row[0] == "SE")
    body = edit(rows[start : end + 1])
    body[-1][1] = str(len(body))
    return "".join("*".join(row) + "~" for row in [*rows[:start], *body, *rows[end + 1 :]]).encode()


def payer(n1_id: str | None = None, ref_2u: str | None = None, bpr16: str | None = None) -> Callable[[Rows], Rows]:
    """An edit: the payer N1*PR with N104 (qualifier XV) and a REF*2U after its N4; BPR16."""

    def edit(rows: Rows) -> Rows:
        found: Rows = []
        in_payer = False
        for row in rows:
            if row[0] == "BPR" and bpr16 is not None:
                row = [*row[:16], bpr16]
            if row[0] == "N1":
                in_payer = row[1] == "PR"
                if in_payer and n1_id is not None:
                    row = [*row[:3], "XV", n1_id]
            found.append(row)
            if row[0] == "N4" and in_payer and ref_2u is not None:
                found.append(["REF", "2U", ref_2u])
        return found

    return edit


def line_dates(day: str) -> Callable[[Rows], Rows]:
    """An edit: DTM*472 ``day`` after every SVC."""

    def edit(rows: Rows) -> Rows:
        return [r for row in rows for r in ([row, ["DTM", "472", day]] if row[0] == "SVC" else [row])]

    return edit


@pytest.fixture
def ledger(ledger_url: str) -> Any:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("edit", "payer_id"),
    [
        (payer(n1_id=MEDICARE_ID, bpr16="20260612"), MEDICARE_ID),
        (payer(ref_2u=MEDICAID_ID, bpr16="20260612"), "SAMPLEMCD"),
    ],
    ids=["N104", "REF*2U"],
)
def test_a_posted_835_keeps_payment_date_payer_ids_and_dates_of_service(
    ledger: Any, edit: Callable[[Rows], Rows], payer_id: str
) -> None:
    visit = decode_visit(visit_json(id="v1", patient={"id": "P100"}, services=[{"code": "97110", "minutes": 15}]))
    post_visit(ledger, visit, Scrubber(history=LedgerHistory(ledger)).scrub(visit))
    with ledger.begin() as connection:  # u1: a claim sent, its visit never posted
        connection.execute(
            ClaimSent.__table__.insert().values(
                visit_id="u1", payer=MEDICARE_ID, frequency="1", interchange_control_number=1,
                total_charge=D("65"), sent_at=POSTED_AT,
            )
        )  # fmt: skip
    lines = (PaidLine("97110", ("GP",), D("65"), 1, D("30"), D("7")),)
    data = remittance_835([PaidClaim("v1", lines), PaidClaim("u1", lines)]).encode()
    data = edit_835(edit_835(data, edit), line_dates("20260520"))
    remittance = read_835(data)
    assert not remittance.imbalances and remittance.payments[0].date == "20260612"
    assert post_remittance(ledger, data, remittance).posted == ["v1", "u1"]
    with ledger.connect() as connection:
        claims = connection.execute(
            select(
                RemitClaimRecord.visit_id,
                RemitClaimRecord.payment_date,
                RemitClaimRecord.payer_id,
                RemitClaimRecord.trace_originator,
                RemitClaimRecord.service_date,
            ).order_by(RemitClaimRecord.id)
        ).all()
        dates = connection.execute(select(RemitLineRecord.service_date).order_by(RemitLineRecord.id)).scalars()
        assert list(dates) == [date(2026, 5, 20)] * 2  # each line its own DTM*472
    paid_on = date(2026, 6, 12)
    assert [tuple(row) for row in claims] == [
        ("v1", paid_on, payer_id, "1234567890", date(2026, 6, 1)),  # the posted visit's date of service
        ("u1", paid_on, payer_id, "1234567890", date(2026, 5, 20)),  # not posted: the 835's line date
    ]


# --- secondary claims ---------------------------------------------------------------------------------------------


def dtp_573(path: Path) -> list[str]:
    return [row[3] for row in segments(path) if row[0] == "DTP" and row[1] == "573"]


def test_a_secondary_claims_dtp_573_is_the_primarys_bpr16(ledger: Any, tmp_path: Path) -> None:
    visit = claim_visit(id="s1", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    data = edit_835(remit_835("s1", partly_paid(primary)), payer(n1_id=MEDICARE_ID, bpr16="20260611"))
    post_remittance(ledger, data, read_835(data))
    batch = secondary_run(ledger, tmp_path, [visit])
    assert batch.report.written == 1 and not batch.report.held, batch.report
    out = tmp_path / "secondary.x12"
    ok_999(out)
    assert dtp_573(out) == ["20260611"] * len(primary.lines)  # 2430, one a line: the check/EFT date


def test_a_claim_level_answer_dates_2330b_with_bpr16(ledger: Any, tmp_path: Path) -> None:
    visit = claim_visit(id="s2", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    claim_cas = [("CO", "45", D("20")), ("PR", "1", D("15"))]
    data = remit_835("s2", [], claim_cas, charge=primary.total_charge)
    data = edit_835(data, payer(ref_2u=MEDICARE_ID, bpr16="20260609"))
    post_remittance(ledger, data, read_835(data))
    batch = secondary_run(ledger, tmp_path, [visit])
    assert batch.report.written == 1, batch.report
    ok_999(tmp_path / "secondary.x12")
    assert loops(segments(tmp_path / "secondary.x12"))["claim_573"][3] == "20260609"


@pytest.mark.parametrize(
    "primary_ids",
    [payer(n1_id=MEDICARE_ID, bpr16="20260610"), payer(bpr16="20260610")],
    ids=["primary-named", "primary-unnamed"],
)
def test_a_secondary_payers_later_denial_is_not_the_primarys_answer(
    ledger: Any, tmp_path: Path, primary_ids: Callable[[Rows], Rows]
) -> None:
    visit = claim_visit(id="s3", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    paid = edit_835(remit_835("s3", partly_paid(primary)), primary_ids)
    post_remittance(ledger, paid, read_835(paid))
    # then the secondary payer (Medicaid, REF*2U SAMPLEMCD) denies the visit outright: CLP02 4, nothing paid
    denied_lines = [
        (line.code, line.modifiers, line.charge, line.units, [("CO", "22", line.charge)]) for line in primary.lines
    ]
    denial = remit_835("s3", denied_lines, status="4", trace="MCD1")
    denial = edit_835(denial, payer(ref_2u=MEDICAID_ID, bpr16="20260701"))
    post_remittance(ledger, denial, read_835(denial))
    with ledger.connect() as connection:
        statuses = connection.execute(select(RemitClaimRecord.status).order_by(RemitClaimRecord.id)).scalars()
        assert list(statuses) == ["1", "4"]  # the old rule (the last of CLP02 1/4/19/22) would take the denial
    batch = secondary_run(ledger, tmp_path, [visit])
    assert batch.report.written == 1 and not batch.report.held, batch.report
    out = tmp_path / "secondary.x12"
    ok_999(out)
    parts = loops(segments(out))
    assert parts["amt"]["D"] == read_835(paid).claims[0].paid  # 2320 AMT*D: the primary's CLP04, not 0
    assert dtp_573(out) == ["20260610"] * len(primary.lines)


def test_the_primarys_named_answer_wins_over_a_later_unnamed_one(ledger: Any, tmp_path: Path) -> None:
    visit = claim_visit(id="s4", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    named = edit_835(remit_835("s4", partly_paid(primary)), payer(n1_id=MEDICARE_ID, bpr16="20260610"))
    post_remittance(ledger, named, read_835(named))
    other = [
        (line.code, line.modifiers, line.charge, line.units, [("CO", "22", line.charge)]) for line in primary.lines
    ]
    unnamed = edit_835(remit_835("s4", other, status="4", trace="OTHER1"), payer(n1_id="99999", bpr16="20260701"))
    post_remittance(ledger, unnamed, read_835(unnamed))
    remit = primary_remit(ledger, "s4", MEDICARE_ID, frozenset({MEDICARE_ID, MEDICAID_ID}))
    assert remit is not None and remit.status == "1" and remit.payer_ids == (MEDICARE_ID, "1234567890")
    assert remit.adjudicated == date(2026, 6, 10)
    without_id = primary_remit(ledger, "s4")  # no primary id given: the last answer of any payer
    assert without_id is not None and without_id.status == "4"


def test_only_another_payers_answers_hold_the_secondary_back(ledger: Any, tmp_path: Path) -> None:
    visit = claim_visit(id="s5", secondary=SECONDARY)
    primary = primary_sent(ledger, tmp_path, visit)
    data = edit_835(remit_835("s5", partly_paid(primary)), payer(n1_id=MEDICAID_ID))  # Medicaid's, not Medicare's
    post_remittance(ledger, data, read_835(data))
    batch = secondary_run(ledger, tmp_path, [visit])
    [held] = batch.report.held
    assert batch.report.written == 0 and "no primary remittance (835) is posted" in held.findings[0].message
    assert f"'{MEDICARE_ID}'" in held.findings[0].message
