from __future__ import annotations

import json
from pathlib import Path

import pytest

from rehabclaim.batch import run_batch
from rehabclaim.errors import InputError
from tests.conftest import BASE_VISIT


def _visits(path: Path, count: int, bad_lines: tuple[int, ...] = ()) -> Path:
    with path.open("w") as out:
        for number in range(1, count + 1):
            if number in bad_lines:
                out.write('{"id": "broken", "services": [}\n')
                continue
            minutes = number % 70
            codes = [{"code": "97110", "minutes": minutes}, {"code": "97140", "minutes": 70 - minutes}]
            out.write(json.dumps({**BASE_VISIT, "id": f"v{number}", "services": codes}) + "\n")
    return path


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_output_in_input_order_whatever_the_workers(tmp_path: Path, workers: int) -> None:
    source = _visits(tmp_path / "in.jsonl", 2500)
    target = tmp_path / "out.jsonl"
    summary = run_batch(source, target, workers=workers)
    ids = [json.loads(line)["id"] for line in target.read_text().splitlines()]
    assert ids == [f"v{n}" for n in range(1, 2501)]
    assert summary.visits == 2500 and summary.lines == 5000 and summary.visits_with_errors == 0


def test_same_results_with_one_and_two_workers(tmp_path: Path) -> None:
    source = _visits(tmp_path / "in.jsonl", 1500)
    run_batch(source, tmp_path / "one.jsonl", workers=1)
    run_batch(source, tmp_path / "two.jsonl", workers=2)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


def test_malformed_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    source = _visits(tmp_path / "in.jsonl", 1200, bad_lines=(3, 1100))
    summary = run_batch(source, tmp_path / "out.jsonl", workers=2)
    assert [number for number, _ in summary.skipped] == [3, 1100]
    assert summary.skipped[0][1].startswith("line 3:")
    assert summary.visits == 1198
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1198


@pytest.mark.parametrize("workers", [1, 2])
def test_strict_writes_nothing(tmp_path: Path, workers: int) -> None:
    source = _visits(tmp_path / "in.jsonl", 3000, bad_lines=(2500,))
    target = tmp_path / "out.jsonl"
    with pytest.raises(InputError) as caught:
        run_batch(source, target, workers=workers, strict=True)
    assert caught.value.line == 2500
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [source]  # no temporary file left behind


def test_existing_output_is_replaced_whole(tmp_path: Path) -> None:
    source = _visits(tmp_path / "in.jsonl", 10)
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    run_batch(source, target)
    assert "old" not in target.read_text() and len(target.read_text().splitlines()) == 10


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    source = _visits(tmp_path / "in.jsonl", 2100)
    seen: list[int] = []
    run_batch(source, tmp_path / "out.jsonl", progress=seen.append)
    assert sum(seen) == source.stat().st_size
