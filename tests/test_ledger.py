"""The patient ledger on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import multiprocessing
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from rehabclaim.cli.main import app
from rehabclaim.ledger import LedgerHistory, PostRefused, open_ledger, patient_state, post_visit
from rehabclaim.ledger import post as post_module
from rehabclaim.ledger.models import Base, PostedVisit
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json


def visit(**fields: Any) -> Any:
    defaults = {"patient": {"id": "P100"}, "services": [{"code": "97110", "minutes": 30}]}
    return decode_visit(visit_json(**{**defaults, **fields}))


@pytest.fixture
def ledger(ledger_url: str) -> Any:
    engine = open_ledger(ledger_url)
    yield engine
    engine.dispose()


def post(ledger: Any, **fields: Any) -> Any:
    engine = Scrubber(history=LedgerHistory(ledger))
    scrubbed = visit(**fields)
    result = engine.scrub(scrubbed)
    post_visit(ledger, scrubbed, result)
    return result


def scrub(ledger: Any, **fields: Any) -> Any:
    return Scrubber(history=LedgerHistory(ledger)).scrub(visit(**fields))


def test_schema_matches_the_models(ledger: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with ledger.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_post_and_show(ledger: Any) -> None:
    result = post(
        ledger,
        id="v1",
        services=[{"code": "97110", "minutes": 30}, {"code": "97760", "minutes": 20, "body_region": "lower"}],
    )
    state = patient_state(ledger, "P100")
    assert state is not None
    assert [v["id"] for v in state["visits"]] == ["v1"]
    assert state["visits"][0]["therapy_units"] == 3
    assert state["visits"][0]["expected"] == pytest.approx(sum(line.expected or 0 for line in result.lines))
    assert state["orthotic_encounters"] == [
        {"date": "2026-06-01", "code": "97760", "body_region": "lower", "visit": "v1"}
    ]
    assert patient_state(ledger, "nobody") is None


def test_posting_twice_is_refused_not_duplicated(ledger: Any) -> None:
    post(ledger, id="v1", services=[{"code": "97110", "minutes": 30}])
    with pytest.raises(PostRefused, match="already posted"):
        post(ledger, id="v1", services=[{"code": "97110", "minutes": 30}])
    with ledger.connect() as connection:
        assert connection.execute(select(func.count()).select_from(PostedVisit)).scalar_one() == 1


def test_visit_with_errors_is_not_posted(ledger: Any) -> None:
    with pytest.raises(PostRefused, match="error findings"):
        post(ledger, id="v1", services=[{"code": "97762", "minutes": 30}])
    assert patient_state(ledger, "P100") is None


def test_post_is_all_or_nothing(ledger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(post_module, "_post_encounters", fail)
    with pytest.raises(RuntimeError):
        post(ledger, id="v1", services=[{"code": "97760", "minutes": 30, "body_region": "lower"}])
    assert patient_state(ledger, "P100") is None


def test_kx_from_the_ledger_crossing_within_a_visit(ledger: Any) -> None:
    post(ledger, id="v1", date="2026-03-02", services=[{"code": "97110", "minutes": 30}])
    with ledger.begin() as connection:  # the remittance said Medicare allowed $2,430 on that visit
        connection.execute(update(PostedVisit).where(PostedVisit.id == "v1").values(allowed=Decimal("2430.00")))
    result = scrub(ledger, id="v2", services=[{"code": "97112", "minutes": 15}, {"code": "97110", "minutes": 30}])
    kx = [f for f in result.findings if f.rule == "K001"]
    assert kx and "from the ledger" in kx[0].message and "$2430.00 before" in kx[0].message
    # 97112 alone ($32.44) stays under $2,480; the running total passes it on 97110.
    assert {line.code: line.modifiers for line in result.lines} == {"97112": ["GP"], "97110": ["GP", "KX"]}


def test_allowed_amounts_are_per_year_and_per_benefit(ledger: Any) -> None:
    post(ledger, id="old", date="2025-12-30", diagnoses=["M54.50"], services=[{"code": "97110", "minutes": 30}])
    post(ledger, id="ot", discipline="OT", services=[{"code": "97535", "minutes": 30}])
    history = LedgerHistory(ledger)
    assert history.allowed_ytd(visit(id="new"), "PT_SLP").value == 0  # type: ignore[union-attr]
    assert history.allowed_ytd(visit(id="new"), "OT").value > 0  # type: ignore[union-attr]


def test_visit_figure_wins_over_the_ledger(ledger: Any) -> None:
    post(ledger, id="v1", services=[{"code": "97110", "minutes": 30}])
    found = LedgerHistory(ledger).allowed_ytd(visit(id="v2", therapy_allowed_ytd={"PT_SLP": 100.0}), "PT_SLP")
    assert found is not None and found.source == "visit" and found.value == 100


def test_progress_report_due_from_the_ledger(ledger: Any) -> None:
    post(
        ledger,
        id="eval",
        date="2026-06-01",
        services=[{"code": "97162"}, {"code": "97110", "minutes": 15}],
        plan_of_care={"certified_from": "2026-06-01", "certified_through": "2026-08-29"},
    )
    for day in range(2, 11):
        post(ledger, id=f"t{day}", date=f"2026-06-{day:02d}", services=[{"code": "97110", "minutes": 30}])
    result = scrub(ledger, id="t11", date="2026-06-11", services=[{"code": "97110", "minutes": 30}])
    due = [f for f in result.findings if f.rule == "R001"]
    assert due and "treatment day 11" in due[0].message and "ledger" in due[0].message
    assert not [f for f in result.findings if f.rule in ("R002", "R003")]  # the plan came from the ledger
    after = scrub(
        ledger, id="t11", date="2026-06-11", progress_report=True, services=[{"code": "97110", "minutes": 30}]
    )
    assert not [f for f in after.findings if f.rule == "R001"]


def test_plan_of_care_window_from_the_ledger(ledger: Any) -> None:
    post(
        ledger,
        id="v1",
        date="2026-03-02",
        diagnoses=["M54.50"],
        services=[{"code": "97110", "minutes": 30}],
        plan_of_care={
            "certified_from": "2026-03-01",
            "certified_through": "2026-05-29",
            "certifying_physician": {"npi": "1234567893", "name": "Dr. Lee"},
        },
    )
    result = scrub(ledger, id="v2", date="2026-06-01", services=[{"code": "97110", "minutes": 30}])
    outside = [f for f in result.findings if f.rule == "R002"]
    assert outside and "2026-05-29" in outside[0].message and "ledger" in outside[0].message


def test_authorization_use_counted_in_the_ledger(ledger: Any) -> None:
    auth = {"number": "A-1", "from": "2026-06-01", "through": "2026-06-30", "visits": 2}
    post(ledger, id="v1", payer="sample_per_code", authorization=auth, services=[{"code": "97110", "minutes": 30}])
    post(ledger, id="v2", date="2026-06-02", payer="sample_per_code", services=[{"code": "97110", "minutes": 30}])
    result = scrub(
        ledger, id="v3", date="2026-06-03", payer="sample_per_code", services=[{"code": "97110", "minutes": 30}]
    )
    exhausted = [f for f in result.findings if f.rule == "P002"]
    assert exhausted and "2 of 2 visits used" in exhausted[0].message
    expired = scrub(
        ledger, id="v4", date="2026-07-01", payer="sample_per_code", services=[{"code": "97110", "minutes": 30}]
    )
    assert [f for f in expired.findings if f.rule == "P003"]


def test_cli_post_and_show(ledger_url: str, tmp_path: Any) -> None:
    path = tmp_path / "visits.jsonl"
    rows = [
        {"id": "c1", "services": [{"code": "97760", "minutes": 20, "body_region": "lower"}]},
        {"id": "c2", "date": "2026-06-08", "services": [{"code": "97760", "minutes": 20, "body_region": "lower"}]},
    ]
    base = json.loads(visit_json(patient={"id": "P7"}))
    path.write_text("\n".join(json.dumps({**base, **row}) for row in rows) + "\n")
    runner = CliRunner()
    result = runner.invoke(app, ["scrub", str(path), "--post", "--json", "--database-url", ledger_url])
    assert result.exit_code == 1  # c2 repeats the initial encounter: O005, not posted
    assert "c2" in result.stderr and "O005" in result.stderr
    shown = json.loads(runner.invoke(app, ["ledger", "show", "P7", "--json", "--database-url", ledger_url]).stdout)
    assert [v["id"] for v in shown["visits"]] == ["c1"]
    again = runner.invoke(app, ["scrub", str(path), "--post", "--database-url", ledger_url])
    assert "already posted" in again.stderr
    assert runner.invoke(app, ["ledger", "show", "P0", "--database-url", ledger_url]).exit_code == 2


def _post_many(url: str, prefix: str, count: int, shared: int, queue: Any) -> None:
    engine = open_ledger(url)
    scrubber = Scrubber(history=LedgerHistory(engine))
    refused = 0
    for number in range(count):
        visit_id = f"shared-{number}" if number < shared else f"{prefix}-{number}"
        one = visit(id=visit_id, services=[{"code": "97110", "minutes": 30}])
        try:
            post_visit(engine, one, scrubber.scrub(one))
        except PostRefused:
            refused += 1
    queue.put(refused)


def test_two_processes_posting_for_one_patient_lose_and_double_count_nothing(postgres_url: str) -> None:
    ledger_url = postgres_url
    engine = open_ledger(ledger_url)  # migrate once before the writers start
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    writers = [context.Process(target=_post_many, args=(ledger_url, name, 40, 10, queue)) for name in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    refused = queue.get() + queue.get()
    state = patient_state(engine, "P100")
    assert state is not None
    assert refused == 10  # each shared visit id was posted by exactly one of the two
    assert len(state["visits"]) == 70
    one_visit = state["visits"][0]["expected"]
    assert state["allowed_by_year"][0]["amount"] == pytest.approx(70 * one_visit)
    engine.dispose()
