"""Attachments (PWK) of an incoming 837P: a 2300 PWK is written again in the corrected 837P as read (before
this it was read, checked and dropped, which a payer asking for the attachment denies); a 2400 PWK, which
the writer has no place for, is named in the claim's ``not_carried``; a file without PWK is corrected to the
same bytes as before."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from rehabclaim.claims.run import write_claims
from rehabclaim.ledger import open_ledger
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.services.incoming import scrub_837
from rehabclaim.x12.read837 import read_837
from tests.fuzzing import validate_837
from tests.test_incoming_837 import run_scrub

EXAMPLES = Path(__file__).parents[1] / "src" / "rehabclaim" / "data" / "examples" / "claims.jsonl"
SAMPLES = Path(__file__).parent / "fixtures" / "x12" / "837p"
NOW = datetime(2026, 12, 1, 6, 8, tzinfo=UTC)
# The corrected 837P of the example claims, without PWK, as the code before this change wrote it (NOW, a
# fresh ledger): carrying attachments changes nothing for a claim without them.
WITHOUT_PWK_SHA256 = "605a32f4d967c72f84df88b1a3a153761ee9d43e15da0f927e1cc43fc3fbd3d3"
# clm-1: a plan of care sent by fax with its control number; clm-2: one available on request (no number).
CLAIM_PWK = {"clm-1": ["PWK*OB*FX***AC*POC-2026-0601"], "clm-2": ["PWK*CT*AA", "PWK*RR*EL***AC*XR88"]}


def ours(tmp_path: Path) -> str:
    """Our own 837P of the example claims (two clean claims, clm-1 and clm-2), as an EMR sends it."""
    visits = [decode_visit(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    out = tmp_path / "emr.837"
    write_claims(visits, Scrubber(), open_ledger(f"sqlite:///{tmp_path / 'emr.sqlite3'}"), out, now=NOW)
    return out.read_text()


def insert_after(text: str, pattern: str, segments: list[str]) -> str:
    """``segments`` after the first segment matching ``pattern``, SE01 counting them too."""
    found = re.search(pattern + r"[^~]*~(\s*)", text)  # the file's own line break after each ~, if any
    assert found is not None, pattern
    added = "".join(f"{segment}~{found[1]}" for segment in segments)
    changed = text[: found.end()] + added + text[found.end() :]
    se = re.search(r"~\s*SE\*(\d+)\*", changed)
    assert se is not None
    return changed[: se.start(1)] + str(int(se[1]) + len(segments)) + changed[se.end(1) :]


def with_claim_pwk(text: str) -> str:
    """A 2300 PWK right after each claim's CLM (the map's order: CLM, DTP, PWK, REF, NTE, HI)."""
    for claim, segments in CLAIM_PWK.items():
        text = insert_after(text, rf"CLM\*{claim}\*", segments)
    return text


def pwk_segments(text: str) -> list[str]:
    return [segment.strip() for segment in text.split("~") if segment.strip().startswith("PWK*")]


def corrected(tmp_path: Path, text: str, name: str) -> str:
    database = open_ledger(f"sqlite:///{tmp_path / f'{name}.sqlite3'}")
    report = scrub_837(load_reference(), data=text.encode(), database=database, now=NOW, corrected=True)
    assert not report.held_back, [verdict.reasons for verdict in report.claims]
    assert report.corrected_837 is not None
    return report.corrected_837


def test_a_2300_pwk_is_written_again_by_scrub_out_and_pyx12_accepts_the_file(tmp_path: Path) -> None:
    source = tmp_path / "with-pwk.837"
    source.write_text(with_claim_pwk(ours(tmp_path)))
    ok, ack = validate_837(source)
    assert ok, ack  # the file sent in is a valid 837P
    fixed = tmp_path / "fixed.837"
    result = run_scrub(tmp_path, str(source), "--json", "--out", str(fixed))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"] == 2 and report["held_back"] == []
    assert all("not_carried" not in claim for claim in report["claims"])  # no 2400 PWK: the key is left out
    written = fixed.read_text()
    assert pwk_segments(written) == [segment for segments in CLAIM_PWK.values() for segment in segments]
    ok, ack = validate_837(fixed)
    assert ok, ack
    claims = {claim.id: claim for claim in read_837(written).claims}
    for claim_id, segments in CLAIM_PWK.items():
        found = [(a.report_type, a.transmission, a.control_number) for a in claims[claim_id].attachments]
        expected = [(s.split("*")[1], s.split("*")[2], s.split("*")[6] if s.count("*") > 2 else None) for s in segments]
        assert found == expected


def test_a_claim_without_pwk_is_corrected_to_the_same_bytes(tmp_path: Path) -> None:
    """Without PWK the corrected 837P is the one the code before this change wrote; with PWK it is that file
    with the PWK segments added (and SE01 counting them), nothing else."""
    text = ours(tmp_path)
    without = corrected(tmp_path, text, "without")
    assert "PWK" not in without
    assert hashlib.sha256(without.encode()).hexdigest() == WITHOUT_PWK_SHA256
    with_pwk = corrected(tmp_path, with_claim_pwk(text), "with")
    assert with_claim_pwk(without) == with_pwk


def test_a_2300_pwk_with_a_code_outside_its_list_still_holds_its_claim_back(tmp_path: Path) -> None:
    """The valid PWK of the other claim is written; the one with PWK02 'ZZ' holds clm-2 back, named, as before."""
    text = insert_after(ours(tmp_path), r"CLM\*clm-1\*", CLAIM_PWK["clm-1"])
    text = insert_after(text, r"CLM\*clm-2\*", ["PWK*CT*ZZ***AC*X1"])
    segment = text[: text.index("PWK*CT*ZZ")].count("~") + 1
    database = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite3'}")
    report = scrub_837(load_reference(), data=text.encode(), database=database, now=NOW, corrected=True)
    verdicts = {verdict.id: verdict for verdict in report.claims}
    assert report.held_back == ["clm-2"]
    assert verdicts["clm-2"].reasons == [
        f"PWK at segment {segment}: PWK02 'ZZ' is not a code of 837P element PWK02 (data/x12-837p-codes.toml)"
    ]
    assert report.corrected_837 is not None and pwk_segments(report.corrected_837) == CLAIM_PWK["clm-1"]


def test_a_2400_pwk_is_named_as_not_written_again(tmp_path: Path) -> None:
    """The writer has no line PWK: the claim is still written (the line PWK left out, as before) and its
    verdict says so, naming the segment, in --json and in the text output."""
    text = insert_after(ours(tmp_path), r"SV1\*HC:97535:GO\*", ["PWK*OB*FX***AC*LINE-7"])
    segment = text[: text.index("PWK*OB*FX")].count("~") + 1
    (line,) = [line for claim in read_837(text).claims for line in claim.lines if line.attachments]
    assert (line.code, line.attachments[0].control_number) == ("97535", "LINE-7")
    source, fixed = tmp_path / "line-pwk.837", tmp_path / "fixed.837"
    source.write_text(text)
    result = run_scrub(tmp_path, str(source), "--json", "--out", str(fixed))
    assert result.exit_code == 0, result.output
    by_id = {claim["id"]: claim for claim in json.loads(result.stdout)["claims"]}
    assert "not_carried" not in by_id["clm-1"]
    assert by_id["clm-2"]["not_carried"] == [
        f"PWK at segment {segment}: a service line (2400) attachment 'OB'/'FX' 'LINE-7' is not written again "
        "(the corrected 837P has no line PWK)"
    ]
    assert "PWK" not in fixed.read_text()
    ok, ack = validate_837(fixed)
    assert ok, ack
    shown = run_scrub(tmp_path, str(source))
    assert f"not written again: PWK at segment {segment}" in shown.output


def test_the_wheelchair_samples_line_pwk_is_kept_on_its_line() -> None:
    (claim,) = read_837((SAMPLES / "badX12__X222-wheelchair.837").read_bytes()).claims
    assert claim.attachments == []
    ((found,),) = [line.attachments for line in claim.lines]
    assert (found.segment, found.report_type, found.transmission, found.control_number) == (26, "CT", "AD", None)
