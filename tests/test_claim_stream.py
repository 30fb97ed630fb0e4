"""`claim` streamed: the same bytes as before streaming (golden digests of the code before), and a run that
fails part way leaves no file, no temporary and no gap in the control numbers."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select

from rehabclaim.claims.run import write_claims
from rehabclaim.ledger import open_ledger
from rehabclaim.ledger.models import ClaimSent
from rehabclaim.model import Visit
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber
from rehabclaim.services.actor import terminal_actor
from rehabclaim.services.claims import ToFiles, build_claims, stream_visits
from rehabclaim.services.errors import BadInput
from rehabclaim.services.scrub import read_visits

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)
GOLDEN = {
    (name, kind): (digest, int(size))
    for name, kind, digest, size in (
        line.split()
        for line in (ROOT / "tests/fixtures/golden/claim-stream-digests.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
}


def _generate(count: int, path: Path) -> Path:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench/generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: Path = module.generate(count, path, seed=11, claims=True)
    return result


def _check(name: str, kind: str, data: bytes) -> None:
    assert (hashlib.sha256(data).hexdigest(), len(data)) == GOLDEN[(name, kind)], f"{name} {kind} differs"


@pytest.fixture(scope="module")
def reference() -> Any:
    return load_reference()


def _visits(path: Path, reference: Any) -> Iterator[Visit]:
    with path.open("rb") as lines:
        yield from stream_visits(lines)


def test_generated_visits_give_the_bytes_of_before_streaming(tmp_path: Path, reference: Any) -> None:
    """2,000 generated claim-ready visits streamed (one line at a time), and 2,500 the next night (the first
    2,000 already sent): 837P, CMS-1500 and report as the code before streaming wrote them."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    visits = _generate(2000, tmp_path / "v.jsonl")
    out, forms = tmp_path / "claims.837", tmp_path / "claims.json"
    run = write_claims(_visits(visits, reference), Scrubber(reference), ledger, out, forms, now=NOW, keep_claims=False)
    assert not run.written and run.sent  # nothing but the ledger's record kept of each claim
    _check("generated-2000", "837", out.read_bytes())
    _check("generated-2000", "cms1500", forms.read_bytes())
    _check("generated-2000", "report", msgspec.json.encode(run.report()))
    more = _generate(2500, tmp_path / "v2.jsonl")
    again = write_claims(_visits(more, reference), Scrubber(reference), ledger, tmp_path / "again.837", now=NOW)
    assert len(again.already_sent) == len(run.sent)
    _check("again-2500", "837", (tmp_path / "again.837").read_bytes())
    _check("again-2500", "report", msgspec.json.encode(again.report()))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_the_demo_claims_give_the_bytes_of_before_streaming(tmp_path: Path, reference: Any) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    data = (ROOT / "src/rehabclaim/data/examples/claims.jsonl").read_bytes()
    visits = read_visits(data, reference=reference, json_lines=True)
    out, forms = tmp_path / "claims.837", tmp_path / "claims.json"
    run = write_claims(visits, Scrubber(reference), ledger, out, forms, now=NOW)
    _check("examples", "837", out.read_bytes())
    _check("examples", "cms1500", forms.read_bytes())
    _check("examples", "report", msgspec.json.encode(run.report()))


def _isa13_taken(ledger: Any) -> int:
    from rehabclaim.ledger.models import ControlNumber

    with ledger.connect() as connection:
        value = connection.execute(select(ControlNumber.value).where(ControlNumber.name == "isa")).scalar()
    return int(value or 0)


def _claims_sent(ledger: Any) -> int:
    with ledger.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ClaimSent)).scalar_one())


def _failing_midway(visits: list[Visit], after: int, error: BaseException) -> Iterator[Visit]:
    for number, visit in enumerate(visits):
        if number == after:
            raise error
        yield visit


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_a_run_failing_part_way_leaves_no_file_and_no_gap(tmp_path: Path, reference: Any, error: Any) -> None:
    """Ctrl-C or a full disk after 1,200 of 1,500 visits (three chunks rendered into the body file): no
    837P, no CMS-1500, no temporary, nothing recorded, no control number taken; the next run takes 1."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    visits = read_visits(_generate(1500, tmp_path / "v.jsonl").read_bytes(), reference=reference, json_lines=True)
    out, forms = tmp_path / "out" / "claims.837", tmp_path / "out" / "claims.json"
    with pytest.raises(type(error)):
        write_claims(_failing_midway(visits, 1200, error), Scrubber(reference), ledger, out, forms, now=NOW)
    assert list((tmp_path / "out").iterdir()) == []  # the body and forms temporaries were removed
    assert _isa13_taken(ledger) == 0 and _claims_sent(ledger) == 0
    run = write_claims(visits, Scrubber(reference), ledger, out, forms, now=NOW)
    assert run.interchange_control_number == 1 and out.read_bytes().startswith(b"ISA")
    assert _claims_sent(ledger) == len(run.sent) > 1000


def test_a_bad_line_part_way_stops_the_run_naming_it(tmp_path: Path, reference: Any) -> None:
    """Streamed JSON Lines: a bad line 1,001 is found when reached; BadInput names it, nothing is written,
    no number is taken."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    visits = _generate(1200, tmp_path / "v.jsonl")
    lines = visits.read_bytes().split(b"\n")
    lines[1000] = b'{"id": "bad", "date": "2026-06-01"}'
    visits.write_bytes(b"\n".join(lines))
    out = tmp_path / "out" / "claims.837"
    with pytest.raises(BadInput) as caught:
        build_claims(
            ledger,
            reference=reference,
            visits=_visits(visits, reference),
            actor=terminal_actor(),
            destination=ToFiles(out),
            now=NOW,
        )
    assert caught.value.line == 1001
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert _isa13_taken(ledger) == 0 and _claims_sent(ledger) == 0


def test_an_unknown_code_part_way_is_refused_naming_its_line(tmp_path: Path, reference: Any) -> None:
    """The reader no longer checks codes against the catalog (the scrub does, once): an unknown code on line
    801 is still a BadInput naming that line, the field and the code, with nothing written and no number
    taken, as when the reader checked it."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    visits = _generate(900, tmp_path / "v.jsonl")
    lines = visits.read_bytes().split(b"\n")
    visit = msgspec.json.decode(lines[800])
    visit["services"][0]["code"] = "99999X"
    lines[800] = msgspec.json.encode(visit)
    visits.write_bytes(b"\n".join(lines))
    with pytest.raises(BadInput) as read_whole:  # what the reader of a whole file says of it
        read_visits(visits.read_bytes(), reference=reference, json_lines=True)
    out = tmp_path / "out" / "claims.837"
    with pytest.raises(BadInput) as caught, visits.open("rb") as handle:
        build_claims(
            ledger,
            reference=reference,
            visits=stream_visits(handle),
            actor=terminal_actor(),
            destination=ToFiles(out),
            now=NOW,
        )
    assert caught.value.line == 801 and caught.value.field == "services[0].code" and "99999X" in caught.value.reason
    assert (caught.value.line, caught.value.field, caught.value.reason) == (
        read_whole.value.line,
        read_whole.value.field,
        read_whole.value.reason,
    )
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert _isa13_taken(ledger) == 0 and _claims_sent(ledger) == 0
