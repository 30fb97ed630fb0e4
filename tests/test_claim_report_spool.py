"""`claim --json` streamed (claims.run.ReportSpool): the report's lists spooled as the run goes print the
bytes of the whole report (golden digests of the code before streaming), with claims, held-back visits and
notes in it; and the compact record of the claims sent gives the ledger what each claim was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rehabclaim.claims.run import ReportSpool, SentClaim, SentClaims, write_claims
from rehabclaim.ledger import open_ledger
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber
from rehabclaim.services.scrub import read_visits
from tests.test_claim_stream import GOLDEN, NOW, ROOT

EXAMPLES = ROOT / "src/rehabclaim/data/examples/claims.jsonl"


@pytest.fixture(scope="module")
def reference() -> Any:
    return load_reference()


def _examples_with_a_note() -> bytes:
    """The example claims and one more whose accented names are transliterated (an X007 note)."""
    first = json.loads(EXAMPLES.read_bytes().splitlines()[0])
    first["id"] = "accented"
    first["patient"] = {**first["patient"], "first_name": "José", "last_name": "Núñez"}
    return EXAMPLES.read_bytes().rstrip(b"\n") + b"\n" + json.dumps(first).encode() + b"\n"


def _run(folder: Path, reference: Any, data: bytes, spool: ReportSpool | None) -> Any:
    ledger = open_ledger(f"sqlite:///{folder / 'ledger.sqlite3'}")
    visits = read_visits(data, reference=reference, json_lines=True)
    return write_claims(visits, Scrubber(reference), ledger, folder / "claims.837", now=NOW, spool=spool)


def test_the_spooled_report_is_the_whole_report_byte_for_byte(tmp_path: Path, reference: Any) -> None:
    data = _examples_with_a_note()
    for side in ("whole", "spooled"):
        (tmp_path / side).mkdir()
    whole = msgspec.json.encode(_run(tmp_path / "whole", reference, data, None).report())
    spool = ReportSpool()
    run = _run(tmp_path / "spooled", reference, data, spool)
    printed = io.BytesIO()
    spool.write(run.report(), printed)
    spool.close()
    assert printed.getvalue() == whole
    report = json.loads(whole)
    assert report["claims"] and report["held"] and report["notes"]  # every spooled list has items
    assert report["held_back"] == len(report["held"]) and report["written"] == len(report["claims"])
    assert not run.held_back and not run.notes  # nothing of them kept in memory
    assert (tmp_path / "whole/claims.837").read_bytes() == (tmp_path / "spooled/claims.837").read_bytes()


def test_claim_json_prints_the_golden_report(tmp_path: Path) -> None:
    """The CLI end to end (a .jsonl streamed, the report spooled): stdout is the report of before."""
    env = {**os.environ, "REHABCLAIM_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "rehabclaim", "claim", str(EXAMPLES), "--837", str(tmp_path / "c.837"), "--json"]
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    assert done.returncode == 1, done.stderr  # some visits are held back
    stdout = done.stdout.removesuffix(b"\n")
    report = json.loads(stdout)
    assert report["held"] and report["claims"]
    # the interchange number is the fresh ledger's first, as in the golden run
    assert (hashlib.sha256(stdout).hexdigest(), len(stdout)) == GOLDEN[("examples", "report")]


def test_sent_claims_give_back_each_claim_exactly() -> None:
    sent = SentClaims()
    charges = [Decimal("120.00"), Decimal("65.5"), Decimal("0"), Decimal("12.345"), Decimal("99999999.99")]
    for number, charge in enumerate(charges):
        sent.add(f"v{number}\x1fmedicare\x1f1", charge, number + 1)
    back = list(sent)
    assert len(sent) == len(charges)
    assert back[3] == SentClaim("v3", "medicare", "1", Decimal("12.345"), 4)  # a fraction of a cent kept
    assert [claim.total_charge for claim in back] == charges
    assert [(c.control_number, c.payer, c.frequency, c.lines) for c in back][:1] == [("v0", "medicare", "1", 1)]


def test_a_report_without_items_is_the_empty_report(tmp_path: Path) -> None:
    from rehabclaim.claims.run import ClaimRun

    run, spool = ClaimRun(spool=ReportSpool()), ReportSpool()
    printed = io.BytesIO()
    spool.write(run.report(), printed)
    assert printed.getvalue() == msgspec.json.encode(ClaimRun().report())


def test_claims_sent_meanwhile_by_another_run_leave_the_spooled_report_without_claims(
    tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run sends the same visits while this one builds them: this run sends nothing, takes no number,
    and its spooled report lists every claim as already sent, none as written (as the whole report would)."""
    import rehabclaim.claims.run as claim_run

    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    data = EXAMPLES.read_bytes()
    looked_up = claim_run._sent_before

    def sent_meanwhile(connection: Any, claims: Any) -> Any:
        found = looked_up(connection, claims)  # what this run read: nothing sent yet
        monkeypatch.setattr(claim_run, "_sent_before", looked_up)
        other = read_visits(data, reference=reference, json_lines=True)
        write_claims(other, Scrubber(reference), ledger, tmp_path / "other.837", now=NOW)
        return found

    monkeypatch.setattr(claim_run, "_sent_before", sent_meanwhile)
    spool = ReportSpool()
    visits = read_visits(data, reference=reference, json_lines=True)
    run = write_claims(visits, Scrubber(reference), ledger, tmp_path / "claims.837", now=NOW, spool=spool)
    printed = io.BytesIO()
    spool.write(run.report(), printed)
    report = json.loads(printed.getvalue())
    assert report["interchange_control_number"] is None and report["written"] == 0 and report["claims"] == []
    assert report["already_sent"] == ["clm-1", "clm-2"] and report["held_back"] == len(report["held"]) == 1
    assert not (tmp_path / "claims.837").exists()


def test_some_claims_sent_meanwhile_is_a_conflict_with_nothing_written(
    tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run sends one of this run's visits while it builds them: the service refuses with a Conflict
    (409, exit 1: run again), writes no file and takes no control number."""
    import rehabclaim.claims.run as claim_run
    from rehabclaim.services.actor import terminal_actor
    from rehabclaim.services.claims import ToFiles, build_claims
    from rehabclaim.services.errors import Conflict

    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    data = EXAMPLES.read_bytes()
    looked_up = claim_run._sent_before
    first_only = b"\n".join(line for line in data.splitlines() if b'"clm-1"' in line) + b"\n"

    def one_sent_meanwhile(connection: Any, claims: Any) -> Any:
        found = looked_up(connection, claims)
        monkeypatch.setattr(claim_run, "_sent_before", looked_up)
        other = read_visits(first_only, reference=reference, json_lines=True)
        write_claims(other, Scrubber(reference), ledger, tmp_path / "other.837", now=NOW)
        return found

    monkeypatch.setattr(claim_run, "_sent_before", one_sent_meanwhile)
    visits = read_visits(data, reference=reference, json_lines=True)
    with pytest.raises(Conflict, match="the ledger changed while the claims were built") as refused:
        build_claims(
            ledger,
            reference=reference,
            visits=visits,
            actor=terminal_actor(),
            destination=ToFiles(tmp_path / "claims.837"),
            now=NOW,
        )
    assert refused.value.http_status == 409 and refused.value.exit_code == 1
    assert not (tmp_path / "claims.837").exists()
    again = write_claims(visits, Scrubber(reference), ledger, tmp_path / "again.837", now=NOW)
    assert [claim.control_number for claim in again.written] == ["clm-2"]  # the run settles it; no number lost
