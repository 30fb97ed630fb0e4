"""The services that change the ledger (visits, claims, remittances), the audit trail they write, and the
denials worklist with its filters: on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import delete, func, select, update

from rehabclaim.claims.run import ClaimRun
from rehabclaim.ledger import open_ledger
from rehabclaim.ledger.models import (
    AuditEvent,
    ClaimSent,
    ControlNumber,
    InterchangeRecord,
    Patient,
    PostedVisit,
    RemitClaimRecord,
    RemitLineRecord,
    RemittanceRecord,
    RemitTrace,
)
from rehabclaim.model import Finding
from rehabclaim.reference import Reference, load_reference
from rehabclaim.scrubber import decode_visit
from rehabclaim.services.actor import Actor
from rehabclaim.services.audit import audit_events
from rehabclaim.services.claims import TO_LEDGER, ToFiles, build_claims, claim_batch, list_claim_batches
from rehabclaim.services.denials import worklist, worklist_from_remittance
from rehabclaim.services.errors import BadInput, Conflict, Forbidden, NotFound
from rehabclaim.services.remittances import list_remittances, post_remittance, read_remittance
from rehabclaim.services.visits import post_visit, post_visits
from rehabclaim.x12.synthetic import PaidClaim, PaidLine, PaidTransaction, interchange_835, remittance_835
from tests.conftest import visit_json
from tests.test_x12_837 import NOW, PATIENT, claim_visit

BILLER = Actor(user="bea", role="biller", channel="api")
VIEWER = Actor(user="vic", role="viewer", channel="web")
PATIENT_DATA = ("Ana", "Diaz", "ANA", "DIAZ", "1950-04-12", "19500412", "1EG4TE5MK73", "PATIENT")
D = Decimal


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Any]:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


def count(ledger: Any, column: Any) -> int:
    with ledger.connect() as connection:
        return int(connection.execute(select(func.count(column))).scalar_one())


def audit_rows(ledger: Any) -> list[Any]:
    with ledger.connect() as connection:
        return list(connection.execute(select(AuditEvent).order_by(AuditEvent.id)).all())


def isa13_taken(ledger: Any) -> int:
    with ledger.connect() as connection:
        value = connection.execute(select(ControlNumber.value).where(ControlNumber.name == "isa")).scalar()
    return int(value or 0)


def visit(visit_id: str, **fields: Any) -> Any:
    services = [{"code": "97110", "minutes": 30}, {"code": "97010"}]
    return decode_visit(visit_json(**{"id": visit_id, "patient": PATIENT, "services": services, **fields}))


# visits


def test_posting_the_same_visit_twice_is_a_conflict_and_leaves_one_row(ledger: Any, reference: Reference) -> None:
    first = post_visit(ledger, reference=reference, visit=visit("v1"), actor=BILLER)
    assert first.posted and first.reason is None and first.result is not None and first.result.id == "v1"
    with pytest.raises(Conflict, match="visit v1 is already posted") as refused:
        post_visit(ledger, reference=reference, visit=visit("v1"), actor=BILLER)
    assert refused.value.http_status == 409 and refused.value.exit_code == 1
    assert count(ledger, PostedVisit.id) == 1
    events = audit_rows(ledger)
    assert [(e.action, e.subject, e.user, e.channel) for e in events] == [("visit.post", "visit v1", "bea", "api")]
    assert "2 line(s)" in events[0].detail


def test_a_viewer_is_forbidden_and_nothing_is_written(ledger: Any, reference: Reference) -> None:
    with pytest.raises(Forbidden, match="viewer may not post visits"):
        post_visit(ledger, reference=reference, visit=visit("v1"), actor=VIEWER)
    with pytest.raises(Forbidden):
        post_visits(ledger, reference=reference, visits=[visit("v1")], actor=VIEWER)
    assert count(ledger, PostedVisit.id) == count(ledger, Patient.id) == count(ledger, AuditEvent.id) == 0


def test_a_refused_or_unbillable_visit_writes_no_audit_event(ledger: Any, reference: Reference) -> None:
    with_errors = visit("v1", services=[{"code": "97762", "minutes": 30}])  # 97762 is not a 2026 code
    unbillable = post_visit(ledger, reference=reference, visit=with_errors, actor=BILLER)
    assert not unbillable.posted and "error findings" in (unbillable.reason or "")
    too_long = visit("v2", payer="İ" * 40)  # lower-cases to 80 characters: the 64-character column refuses it
    with pytest.raises(BadInput, match=r"visits\.payer"):
        post_visit(ledger, reference=reference, visit=too_long, actor=BILLER)
    assert count(ledger, PostedVisit.id) == count(ledger, AuditEvent.id) == 0


def test_post_visits_posts_each_by_itself_in_order_listing_refusals(ledger: Any, reference: Reference) -> None:
    post_visit(ledger, reference=reference, visit=visit("v1"), actor=BILLER)
    many = [visit("v0", date="2026-05-29"), visit("v1"), visit("v2", date="2026-06-03")]
    results = post_visits(ledger, reference=reference, visits=many, actor=BILLER)
    assert [(r.id, r.posted, r.problem) for r in results] == [
        ("v0", True, None),
        ("v1", False, "conflict"),
        ("v2", True, None),
    ]
    assert "already posted" in (results[1].reason or "")
    assert count(ledger, PostedVisit.id) == 3
    assert [e.subject for e in audit_rows(ledger)] == ["visit v1", "visit v0", "visit v2"]


# claims


def test_build_claims_into_the_ledger_and_fetch_the_batch(ledger: Any, reference: Reference) -> None:
    held = claim_visit(id="bad", services=[{"code": "97762", "minutes": 20}])
    batch = build_claims(
        ledger, reference=reference, visits=[claim_visit(id="c1"), held], actor=BILLER, destination=TO_LEDGER, now=NOW
    )
    assert batch.control_number == batch.report.interchange_control_number == 1
    assert batch.report.written == 1 and [h.id for h in batch.report.held] == ["bad"]  # held back, and why
    assert batch.report.held[0].findings and all(f.severity == "error" for f in batch.report.held[0].findings)
    stored = claim_batch(ledger, control_number=1)
    assert stored.x837.startswith("ISA") and int(stored.x837[:106].split(stored.x837[3])[13]) == 1
    assert "CLM*c1*" in stored.x837 and "CLM*bad*" not in stored.x837
    forms = msgspec.json.decode(stored.cms1500)
    assert [form["26"] for form in forms] == ["c1"]
    assert (stored.created_by, stored.claims, stored.total_charge) == ("bea", 1, D(forms[0]["28"]))
    assert stored.created_at.tzinfo is not None
    with ledger.connect() as connection:
        status, path = connection.execute(select(InterchangeRecord.status, InterchangeRecord.path)).one()
    assert status == "sent" and path == "ledger:"
    listed = list_claim_batches(ledger, limit=10, offset=0)
    assert [(b.control_number, b.stored, b.claims, b.created_by) for b in listed] == [(1, True, 1, "bea")]
    events = audit_rows(ledger)
    assert [(e.action, e.subject) for e in events] == [("claims.build", "ISA13 1")]
    assert events[0].detail == f"1 claim(s), charge {stored.total_charge:.2f}, kept in the ledger"


def test_a_second_build_sends_nothing_and_uses_no_control_number(ledger: Any, reference: Reference) -> None:
    visits = [claim_visit(id="c1"), claim_visit(id="c2")]
    build_claims(ledger, reference=reference, visits=visits, actor=BILLER, destination=TO_LEDGER, now=NOW)
    again = build_claims(ledger, reference=reference, visits=visits, actor=BILLER, destination=TO_LEDGER, now=NOW)
    assert again.control_number is None and again.report.written == 0 and again.report.already_sent == ["c1", "c2"]
    assert isa13_taken(ledger) == 1 and count(ledger, InterchangeRecord.control_number) == 1
    assert count(ledger, ClaimSent.id) == 2 and len(audit_rows(ledger)) == 1  # no change, no event
    resent = build_claims(
        ledger, reference=reference, visits=visits, actor=BILLER, destination=TO_LEDGER, resend=True, now=NOW
    )
    assert resent.control_number == 2 and resent.report.written == 2  # the next number: none lost, no gap


def test_a_refused_build_takes_no_control_number(ledger: Any, reference: Reference) -> None:
    build_claims(ledger, reference=reference, visits=[claim_visit(id="c1")], actor=BILLER, destination=TO_LEDGER)
    with pytest.raises(Forbidden):
        build_claims(ledger, reference=reference, visits=[claim_visit(id="c2")], actor=VIEWER, destination=TO_LEDGER)
    no_claims = dataclasses.replace(reference, practice=msgspec.structs.replace(reference.practice, claims=None))
    with pytest.raises(BadInput, match=r"no \[claims\] section"):
        build_claims(ledger, reference=no_claims, visits=[claim_visit(id="c2")], actor=BILLER, destination=TO_LEDGER)
    assert isa13_taken(ledger) == 1 and count(ledger, ClaimSent.id) == 1 and len(audit_rows(ledger)) == 1
    assert (
        build_claims(
            ledger, reference=reference, visits=[claim_visit(id="c2")], actor=BILLER, destination=TO_LEDGER
        ).control_number
        == 2
    )


def test_a_file_batch_is_listed_but_not_fetched(ledger: Any, reference: Reference, tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    batch = build_claims(
        ledger, reference=reference, visits=[claim_visit(id="c1")], actor=BILLER, destination=ToFiles(out), now=NOW
    )
    assert batch.control_number is None and batch.report.interchange_control_number == 1
    assert out.read_text().startswith("ISA")
    with pytest.raises(NotFound, match="written to a file"):
        claim_batch(ledger, control_number=1)
    with pytest.raises(NotFound, match="not in the ledger"):
        claim_batch(ledger, control_number=7)
    assert [(b.stored, b.status) for b in list_claim_batches(ledger, limit=5, offset=0)] == [(False, "sent")]
    assert list_claim_batches(ledger, limit=5, offset=1) == []
    with ledger.connect() as connection:
        assert connection.execute(select(InterchangeRecord.created_by)).scalar_one() == "bea"
    assert [(e.action, e.subject) for e in audit_rows(ledger)] == [("claims.build", "ISA13 1")]


def leave_pending_by_a_dead_run(ledger: Any, creator: str) -> None:
    """Interchange 1 as a run killed between the rename and marking it sent leaves it: pending, recorded by a
    process id that now belongs to a process started after the record (this one), so its writer is gone."""
    with ledger.begin() as connection:
        connection.execute(
            update(InterchangeRecord).values(
                status="pending", pid=os.getpid(), created_at=datetime(2020, 1, 1, tzinfo=UTC), created_by=creator
            )
        )
        connection.execute(delete(AuditEvent))


@pytest.mark.parametrize("file_in_place", [True, False])
def test_a_dead_runs_build_is_audited_when_found_sent_and_only_then(
    ledger: Any, reference: Reference, tmp_path: Path, file_in_place: bool
) -> None:
    out = tmp_path / "claims.x12"
    build_claims(ledger, reference=reference, visits=[claim_visit(id="c1")], actor=BILLER, destination=ToFiles(out))
    [whole] = [(e.action, e.subject, e.detail) for e in audit_rows(ledger)]  # what a whole run records
    leave_pending_by_a_dead_run(ledger, "dora")
    if not file_in_place:
        out.unlink()
    settled = build_claims(ledger, reference=reference, visits=[], actor=BILLER, destination=TO_LEDGER)
    outcome = "sent" if file_in_place else "not sent"
    assert [(r.interchange_control_number, r.outcome) for r in settled.report.recovered_interchanges] == [(1, outcome)]
    events = [(e.action, e.subject, e.detail, e.user) for e in audit_rows(ledger)]
    if file_in_place:  # the build the dead run made, by its user, as a whole run would have recorded it
        assert events == [(*whole, "dora")] and whole[:2] == ("claims.build", "ISA13 1")
    else:  # its claims were never sent: as if it had never run
        assert events == [] and count(ledger, ClaimSent.id) == 0


def test_the_report_is_the_claim_json_contract() -> None:
    """``claim --json`` printed ``ClaimRun.as_dict()`` built by hand; the typed report encodes the same bytes."""
    run = ClaimRun(
        held_back=[("bad", [Finding("X002", "error", None, "member id missing")])],
        interchange_control_number=None,
        already_sent=["c9"],
        recovered=[(4, "not sent")],
        notes=[("c1", [Finding("X007", "info", "97110", "written as plain ASCII")])],
    )
    by_hand = {
        "written": 0,
        "held_back": 1,
        "interchange_control_number": None,
        "claims": [],
        "held": [
            {
                "id": "bad",
                "findings": [{"rule": "X002", "severity": "error", "code": None, "message": "member id missing"}],
            }
        ],
        "already_sent": ["c9"],
        "recovered_interchanges": [{"interchange_control_number": 4, "outcome": "not sent"}],
        "notes": [
            {
                "id": "c1",
                "findings": [
                    {"rule": "X007", "severity": "info", "code": "97110", "message": "written as plain ASCII"}
                ],
            }
        ],
    }
    assert msgspec.json.encode(run.report()) == msgspec.json.encode(by_hand) == msgspec.json.encode(run.as_dict())


# remittances

REMIT = [
    PaidClaim(
        "v1",
        (
            PaidLine("97110", ("GP",), D("130"), 2, D("60"), D("14")),
            PaidLine("97010", ("GP",), D("25"), 1, denied="97"),
        ),
    ),
    PaidClaim("v2", (PaidLine("97140", ("GP",), D("66"), 1, denied="50"),)),
    PaidClaim("someone-else", (PaidLine("97110", ("GP",), D("65"), 1, D("30"), D("7")),)),
]


def post_three_visits(ledger: Any, reference: Reference) -> None:
    for visit_id, day in (("v1", "2026-06-01"), ("v2", "2026-06-10"), ("v3", "2026-07-01")):
        assert post_visit(ledger, reference=reference, visit=visit(visit_id, date=day), actor=BILLER).posted


def posted_rows(ledger: Any) -> tuple[int, ...]:
    tables = (RemittanceRecord.id, RemitTrace.trace_number, RemitClaimRecord.id, RemitLineRecord.id)
    return tuple(count(ledger, column) for column in tables)


def test_posting_a_remittance_twice_is_a_conflict_and_nothing_is_half_posted(ledger: Any, reference: Reference) -> None:
    post_three_visits(ledger, reference)
    data = remittance_835(REMIT).encode()
    posting = post_remittance(ledger, data=data, actor=BILLER)
    assert posting.posted == ["v1", "v2"] and posting.unmatched == ["someone-else"] and posting.claims == 3
    assert [(t.number, t.originator) for t in posting.traces] == [("TRACE1", "1234567890")]
    after = posted_rows(ledger)
    with pytest.raises(Conflict, match="posted before"):
        post_remittance(ledger, data=data, actor=BILLER)
    again = remittance_835(REMIT[:1], control=2).encode()  # another file, the same payment trace
    with pytest.raises(Conflict, match="TRACE1"):
        post_remittance(ledger, data=again, actor=BILLER)
    assert posted_rows(ledger) == after == (1, 1, 2, 3)
    events = [e for e in audit_rows(ledger) if e.action == "remittance.post"]
    assert [(e.subject, e.user) for e in events] == [("TRN02 TRACE1", "bea")]
    assert "2 claim(s) posted, 1 not ours" in events[0].detail
    listed = list_remittances(ledger, limit=10, offset=0)
    assert [(r.id, r.trace_numbers, r.claims) for r in listed] == [(posting.remittance_id, "TRACE1", 2)]


def test_a_remittance_refused_for_its_content_or_its_actor_posts_nothing(ledger: Any, reference: Reference) -> None:
    post_three_visits(ledger, reference)
    data = remittance_835(REMIT).encode()
    with pytest.raises(Forbidden):
        post_remittance(ledger, data=data, actor=VIEWER)
    unbalanced = data.replace(b"BPR*I*", b"BPR*I*9")
    assert read_remittance(data=unbalanced).imbalances
    with pytest.raises(BadInput, match="does not balance"):
        post_remittance(ledger, data=unbalanced, actor=BILLER)
    with pytest.raises(BadInput) as garbled:
        read_remittance(data=data.replace(b"CLP*v1*1*155*", b"CLP*v1*1*NaN*"))
    assert garbled.value.field.startswith("segment ") and garbled.value.http_status == 422
    assert posted_rows(ledger) == (0, 0, 0, 0)
    assert {e.action for e in audit_rows(ledger)} == {"visit.post"}


def test_no_audit_row_holds_patient_data(ledger: Any, reference: Reference) -> None:
    post_visit(ledger, reference=reference, visit=visit("v1"), actor=BILLER)
    build_claims(ledger, reference=reference, visits=[claim_visit(id="c1")], actor=BILLER, destination=TO_LEDGER)
    post_remittance(ledger, data=remittance_835(REMIT).encode(), actor=BILLER)
    events = audit_rows(ledger)
    assert {e.action for e in events} == {"visit.post", "claims.build", "remittance.post"}
    for event in events:
        text = " ".join(str(value) for value in event)
        assert not [word for word in PATIENT_DATA if word in text], text


def test_audit_events_newest_first_filtered_and_paged(ledger: Any, reference: Reference) -> None:
    other = Actor(user="ben", role="admin", channel="cli")
    post_visit(ledger, reference=reference, visit=visit("v1"), actor=BILLER)
    post_visit(ledger, reference=reference, visit=visit("v2", date="2026-06-03"), actor=other)
    build_claims(ledger, reference=reference, visits=[claim_visit(id="c1")], actor=BILLER, destination=TO_LEDGER)
    assert [e.subject for e in audit_events(ledger, limit=10, offset=0)] == ["ISA13 1", "visit v2", "visit v1"]
    assert [e.subject for e in audit_events(ledger, limit=1, offset=1)] == ["visit v2"]
    assert [e.subject for e in audit_events(ledger, limit=10, offset=0, user="bea")] == ["ISA13 1", "visit v1"]
    assert [e.user for e in audit_events(ledger, limit=10, offset=0, action="visit.post")] == ["ben", "bea"]
    newest = audit_events(ledger, limit=1, offset=0)[0]
    assert newest.at.tzinfo is not None and abs((datetime.now(UTC) - newest.at).total_seconds()) < 120
    with pytest.raises(BadInput, match="limit"):
        audit_events(ledger, limit=0, offset=0)


# the denials worklist

WORK = [
    PaidTransaction(REMIT[:2], trace="TR1", payer="MEDICARE PART B"),
    PaidTransaction(
        [PaidClaim("v3", (PaidLine("97110", ("GP",), D("65"), 1, denied="50"),), status="4")],
        trace="TR2",
        payer="ACME HEALTH",
    ),
]


def work(ledger: Any, reference: Reference, **filters: Any) -> list[tuple[str, str, str]]:
    listed = worklist(ledger, reference=reference, **filters)
    return [(item.visit_id, f"{item.group}-{item.reason}", item.code) for item in listed.items]


def test_worklist_filters_each_change_the_result(ledger: Any, reference: Reference) -> None:
    post_three_visits(ledger, reference)
    post_remittance(ledger, data=interchange_835(WORK).encode(), actor=BILLER)
    everything = work(ledger, reference)  # by reason, then payer
    assert everything == [
        ("v1", "PR-2", "97110"),
        ("v3", "CO-50", "97110"),
        ("v2", "CO-50", "97140"),
        ("v1", "CO-97", "97010"),
    ]
    patient, acme, medicare_50, bundled = everything
    assert work(ledger, reference, payer="acme") == [acme]
    assert work(ledger, reference, payer="Medicare") == [patient, medicare_50, bundled]
    assert work(ledger, reference, reason="50") == [acme, medicare_50]
    assert work(ledger, reference, reason="co-97") == [bundled]
    assert work(ledger, reference, since=date(2026, 6, 5)) == [acme, medicare_50]
    assert work(ledger, reference, until=date(2026, 6, 30)) == [patient, medicare_50, bundled]
    assert work(ledger, reference, since=date(2026, 6, 10), until=date(2026, 6, 10)) == [medicare_50]
    assert work(ledger, reference, status="4") == [acme]
    assert work(ledger, reference, status="patient") == [patient]
    assert work(ledger, reference, status="denial") == [acme, medicare_50, bundled]
    page = worklist(ledger, reference=reference, limit=2, offset=1)
    assert page.total == 4 and (page.limit, page.offset) == (2, 1)
    assert [(i.visit_id, i.reason) for i in page.items] == [("v3", "50"), ("v2", "50")]
    assert work(ledger, reference, payer="acme", reason="97") == []
    assert work(ledger, reference, status="1") == [patient, medicare_50, bundled]  # CLP02 1: processed as primary
    next_steps = {item.reason: item.next_step for item in worklist(ledger, reference=reference).items}
    assert next_steps["97"] == "correct and resubmit (frequency 7)" and next_steps["2"] == "bill the patient"


def test_worklist_refuses_filters_it_cannot_read(ledger: Any, reference: Reference) -> None:
    with pytest.raises(BadInput, match="until"):
        worklist(ledger, reference=reference, since=date(2026, 6, 2), until=date(2026, 6, 1))
    with pytest.raises(BadInput, match="status"):
        worklist(ledger, reference=reference, status="closed")
    with pytest.raises(BadInput, match="reason"):
        worklist(ledger, reference=reference, reason="fifty dollars")
    with pytest.raises(BadInput, match="offset"):
        worklist(ledger, reference=reference, offset=-1)


def test_worklist_of_a_file_takes_the_same_filters(reference: Reference) -> None:
    remittance = read_remittance(data=interchange_835(WORK).encode())
    whole = worklist_from_remittance(reference, remittance=remittance)
    assert whole.total == 4
    acme = worklist_from_remittance(reference, remittance=remittance, payer="ACME")
    assert [i.visit_id for i in acme.items] == ["v3"]
    dated = worklist_from_remittance(reference, remittance=remittance, since=date(2026, 1, 1))
    assert dated.items == []  # these lines carry no date of service (DTM*472)
