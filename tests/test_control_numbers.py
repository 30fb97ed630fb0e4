"""X12 control numbers stay unique when two processes take them at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from typing import Any

from rehabclaim.claims.run import next_control_numbers
from rehabclaim.ledger import open_ledger


def _take(url: str, count: int, queue: Any) -> None:
    database = open_ledger(url)
    queue.put([next_control_numbers(database)["isa"] for _ in range(count)])


def test_two_processes_never_share_a_control_number(ledger_url: str) -> None:
    open_ledger(ledger_url).dispose()  # migrate before the writers start
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    takers = [context.Process(target=_take, args=(ledger_url, 25, queue)) for _ in range(2)]
    for taker in takers:
        taker.start()
    taken = queue.get(timeout=120) + queue.get(timeout=120)
    for taker in takers:
        taker.join(60)
        assert taker.exitcode == 0
    assert sorted(taken) == list(range(1, 51))


def test_numbers_increase_and_wrap_at_nine_digits(tmp_path: Any) -> None:
    from sqlalchemy import update

    from rehabclaim.ledger.models import ControlNumber

    database = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    assert next_control_numbers(database) == {"isa": 1, "gs": 1, "st": 1}
    assert next_control_numbers(database) == {"isa": 2, "gs": 2, "st": 2}
    with database.begin() as connection:
        connection.execute(update(ControlNumber).where(ControlNumber.name == "isa").values(value=999_999_999))
    assert next_control_numbers(database)["isa"] == 1
