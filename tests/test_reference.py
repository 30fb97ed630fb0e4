"""Issue 10: one Reference loaded and passed in, instead of module caches; one date-range type.

A Reference is read from the files as they are when it is loaded: a drop-in file changed since is seen by
the next Reference in the same process, with nothing cleared, and References of two practices scrub side by
side. Ranges of dates are ``rehabclaim.dates.DateRange`` everywhere a date is checked against a window.
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import re
import sys
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rehabclaim
from rehabclaim.batch import run_batch
from rehabclaim.catalog.codes import _parse_code
from rehabclaim.cms.ptp import PtpEdit
from rehabclaim.datafiles import DataFileError
from rehabclaim.dates import DateRange
from rehabclaim.fees.medicare_policy import check_payment, medicare_payment
from rehabclaim.model import ScrubResult
from rehabclaim.reference import Reference, load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import drop, visit_json

CMS = resources.files("rehabclaim.data").joinpath("cms")
PPRRVU = "PPRRVU2026_Jul_nonQPP.csv"
ACME = 'name = "Acme"\nsource = "test"\n\n[units]\nmethod = "per-code"\nmax_per_visit = 4\n'
EXERCISE = [{"code": "97110", "minutes": 15}]  # one unit of 97110


def scrub(reference: Reference, **fields: Any) -> ScrubResult:
    return Scrubber(reference).scrub(decode_visit(visit_json(**fields)))


def practice_file(tmp_path: Path, name: str, mac: str, number: str) -> Path:
    """The demo practice moved to another MAC and locality."""
    demo = resources.files("rehabclaim.data").joinpath("practice-demo.toml").read_text(encoding="utf-8")
    assert 'mac = "11502"\nnumber = "00"' in demo
    moved = demo.replace('mac = "11502"\nnumber = "00"', f'mac = "{mac}"\nnumber = "{number}"')
    path = tmp_path / f"{name}.toml"
    path.write_text(moved.replace('name = "Demo Therapy Clinic (sample)"', f'name = "{name}"'))
    return path


# --- drop-in files are read when a Reference is loaded, never kept by a module ---------------------------


def test_a_payer_file_dropped_in_is_seen_by_the_next_reference(rules: Path) -> None:
    before = load_reference()
    assert not before.payer("acme").configured and scrub(before, payer="acme", services=EXERCISE).method == "cms"
    drop(rules, "payers/acme.toml", ACME)
    after = load_reference()  # same process, nothing cleared
    assert after.payer("acme").configured and after.payer("acme").units.max_per_visit == 4
    assert scrub(after, payer="acme", services=EXERCISE).method == "per-code"
    # a Reference is a snapshot: the one loaded before keeps the tables it read
    assert not before.payer("acme").configured and scrub(before, payer="acme", services=EXERCISE).method == "cms"
    drop(rules, "payers/acme.toml", ACME.replace("max_per_visit = 4", "max_per_visit = 6"))
    assert load_reference().payer("acme").units.max_per_visit == 6 and after.payer("acme").units.max_per_visit == 4
    (rules / "payers" / "acme.toml").unlink()
    assert not load_reference().payer("acme").configured


def test_a_pprrvu_file_dropped_in_is_seen_by_the_next_reference(rules: Path) -> None:
    before = load_reference()
    [line] = scrub(before, services=EXERCISE).lines
    assert line.expected == 28.02  # bundled RVU26C: work RVU 0.45
    bundled = CMS.joinpath(PPRRVU).read_text(encoding="utf-8")
    drop(rules, f"pfs/{PPRRVU}", bundled.replace("97110,,,A,,0.45,", "97110,,,A,,0.50,"))
    after = load_reference()
    assert after.cms.rvu_on("97110", date(2026, 6, 1)).work == Decimal("0.50")  # type: ignore[union-attr]
    [changed] = scrub(after, services=EXERCISE).lines
    assert changed.expected == 29.69 and "(0.50 work RVU" in changed.expected_why
    [again] = scrub(before, services=EXERCISE).lines
    assert again.expected == 28.02 and "(0.45 work RVU" in again.expected_why


def test_a_bad_file_dropped_in_refuses_the_next_reference_not_the_loaded_one(rules: Path) -> None:
    loaded = load_reference()
    bad = drop(rules, "payers/acme.toml", ACME.replace("max_per_visit = 4", "max_per_visit = -1"))
    with pytest.raises(DataFileError, match=re.escape(f"{bad} line 6: units.max_per_visit")):
        load_reference()
    assert scrub(loaded, services=EXERCISE).lines[0].expected == 28.02  # a server keeps serving the old one


def test_two_practices_scrub_the_same_visit_side_by_side(tmp_path: Path) -> None:
    """North Carolina (11502:00) and Manhattan (13202:01), one process, interleaved: each scrub prices the
    visit at its own practice's locality. Manhattan by hand: (0.45 x 1.064 + 0.41 x 1.162 + 0.01 x 1.586)
    x 33.4009 = $32.43 (GPCI2026.csv, RVU26C)."""
    carolina = load_reference(practice_file(tmp_path, "Raleigh clinic", "11502", "00"))
    manhattan = load_reference(practice_file(tmp_path, "Manhattan clinic", "13202", "01"))
    first, second, third = (scrub(reference, services=EXERCISE) for reference in (carolina, manhattan, carolina))
    assert [r.lines[0].expected for r in (first, second, third)] == [28.02, 32.43, 28.02]
    assert "NORTH CAROLINA" in first.lines[0].expected_why and "MANHATTAN" in second.lines[0].expected_why
    assert (carolina.practice.name, carolina.practice.locality.mac) == ("Raleigh clinic", "11502")
    assert (manhattan.practice.name, manhattan.practice.locality.mac) == ("Manhattan clinic", "13202")


def test_a_practice_in_a_test_is_a_replaced_reference() -> None:
    reference = load_reference()
    moved = msgspec.structs.replace(
        reference.practice, locality=msgspec.structs.replace(reference.practice.locality, mac="13202", number="01")
    )
    assert scrub(replace(reference, practice=moved), services=EXERCISE).lines[0].expected == 32.43
    assert scrub(reference, services=EXERCISE).lines[0].expected == 28.02


# --- batch: one scrubber per run, copied into each worker ---------------------------------------------------


def _batch_input(path: Path, count: int) -> Path:
    path.write_text("".join(visit_json(id=f"v{n}", services=EXERCISE).decode() + "\n" for n in range(count)))
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_scrubs_with_the_reference_it_is_given(tmp_path: Path, workers: int) -> None:
    manhattan = load_reference(practice_file(tmp_path, "Manhattan clinic", "13202", "01"))
    source, target = _batch_input(tmp_path / "in.jsonl", 2500), tmp_path / "out.jsonl"
    summary = run_batch(source, target, workers=workers, reference=manhattan)
    results = [json.loads(line) for line in target.read_text().splitlines()]
    assert summary.visits == len(results) == 2500
    assert {result["lines"][0]["expected"] for result in results} == {32.43}


def test_batch_reads_the_rules_folder_again_on_each_run(rules: Path, tmp_path: Path) -> None:
    """Two runs in one process (the command line under a test runner, or a server): the second sees the
    payer file dropped in between; a module cache of scrubbers used to keep the first run's tables."""
    source = tmp_path / "in.jsonl"
    source.write_text(visit_json(payer="acme", services=EXERCISE).decode() + "\n")
    run_batch(source, tmp_path / "before.jsonl")
    drop(rules, "payers/acme.toml", ACME)
    run_batch(source, tmp_path / "after.jsonl")
    assert json.loads((tmp_path / "before.jsonl").read_text())["method"] == "cms"
    assert json.loads((tmp_path / "after.jsonl").read_text())["method"] == "per-code"


def test_batch_refuses_a_bad_rules_folder_before_writing(rules: Path, tmp_path: Path) -> None:
    bad = drop(rules, "payers/acme.toml", ACME.replace('method = "per-code"', 'method = "hourly"'))
    target = tmp_path / "out" / "results.jsonl"
    with pytest.raises(DataFileError, match=re.escape(str(bad))):
        run_batch(_batch_input(tmp_path / "in.jsonl", 3), target, workers=2)
    assert not target.exists()


# --- no module cache of data that can change ------------------------------------------------------------------

# Module caches allowed, each over package data that cannot change while a process runs (see the comment at
# each): the catalog, the search index and shorthand built from it, the unit-time figures, the 837P element
# limits, the migration head, the ledger's column limits; and one that is no data at all (the hash a login
# for an unknown user is checked against, so that it takes as long as a known one).
PACKAGE_DATA_CACHES = {
    "rehabclaim.catalog.codes.load_catalog",
    "rehabclaim.catalog.search.code_index",
    "rehabclaim.catalog.search._shorthand_patterns",
    "rehabclaim.units.methods._unit_table",
    "rehabclaim.x12.claim837._limits",
    "rehabclaim.ledger.database.head_revision",
    "rehabclaim.ledger.models.column_limits",
    "rehabclaim.services.accounts._dummy_hash",
    "rehabclaim.rules.xr.xr_facts",  # data/xr.toml: package data only, no drop-in copy
    "rehabclaim.fhir.fhir_tables",  # data/fhir-therapy.toml: package data only, no drop-in copy
    "rehabclaim.documentation.element_ids",  # data/documentation.toml: package data only
    "rehabclaim.assistant.ask._words",  # data/ask.toml: package data only
    "rehabclaim.rules.base._source_docstrings",  # the package's own .py sources (compiled rules' docstrings)
    "rehabclaim.assistant.ask._shorthand",  # data/shorthand.toml: package data only
    "rehabclaim.assistant.index._bundled_rule_documents",  # the rules are code, registered at import
    "rehabclaim.assistant.index._note_documents",  # keyed by the note's whole text: cannot go stale
    "rehabclaim.assistant.phrases._bundled",  # data/assistant/phrases.toml (package); drop-ins read anew
}
# What reads the drop-in rules folder or a practice file: read anew on every call.
FRESH_LOADERS = (
    "rehabclaim.payers.policy.payer_table",
    "rehabclaim.cms.tables.load_cms_tables",
    "rehabclaim.diagnoses.loader.diagnosis_index",
    "rehabclaim.practice.load_practice",
    "rehabclaim.practice.demo_practice",
    "rehabclaim.reference.load_reference",
)
MODULE_LOADERS = re.compile(
    r"\b(load_catalog|cms_tables|load_cms_tables|medicare_payment|load_thresholds|code_table|payer_table|"
    r"payer_policy|load_practice|demo_practice|diagnosis_index|load_reference)\("
)


def _cached_functions() -> set[str]:
    for module in pkgutil.walk_packages(rehabclaim.__path__, "rehabclaim."):
        if not module.name.endswith("__main__"):  # importing that one runs the command line
            importlib.import_module(module.name)
    found = set()
    for name, module in list(sys.modules.items()):
        if name == "rehabclaim" or name.startswith("rehabclaim."):
            for attribute, value in vars(module).items():
                wrapped = isinstance(value, functools._lru_cache_wrapper)
                if wrapped and getattr(value, "__module__", None) == name:
                    found.add(f"{name}.{attribute}")
    return found


def test_only_package_data_is_cached_by_a_module() -> None:
    cached = _cached_functions()
    assert cached <= PACKAGE_DATA_CACHES, f"a module cache of data that may change: {cached - PACKAGE_DATA_CACHES}"
    assert not cached & set(FRESH_LOADERS)
    assert "load_catalog" in {name.rsplit(".", 1)[1] for name in cached}  # the scan does find caches


def test_rules_read_reference_data_from_the_context_only() -> None:
    folder = Path(rehabclaim.__file__).parent / "rules"
    for path in sorted(folder.glob("*.py")):
        called = MODULE_LOADERS.findall(path.read_text(encoding="utf-8"))
        assert not called, f"{path.name} calls {called}: a rule reads reference data from its ScrubContext"


# --- one date-range type ----------------------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@given(start=st.none() | DAYS, length=st.none() | st.integers(0, 4000), day=DAYS)
def test_a_date_range_covers_exactly_the_days_from_start_through_end(
    start: date | None, length: int | None, day: date
) -> None:
    end = None if length is None else (start or date(2020, 1, 1)) + timedelta(days=length)
    window = DateRange(start, end)
    inside = (start is None or start <= day) and (end is None or day <= end)
    assert window.covers(day) is inside
    assert window.starts_after(day) is (start is not None and day < start)
    assert window.ended_before(day) is (end is not None and day > end)
    assert inside is not (window.starts_after(day) or window.ended_before(day))
    assert DateRange.if_ordered(start, end) == window


def test_a_date_range_includes_both_ends_and_refuses_an_end_before_its_start() -> None:
    may = DateRange(date(2026, 5, 1), date(2026, 5, 31))
    assert may.covers(date(2026, 5, 1)) and may.covers(date(2026, 5, 31))
    assert not may.covers(date(2026, 4, 30)) and not may.covers(date(2026, 6, 1))
    assert DateRange(date(2026, 5, 1), date(2026, 5, 1)).covers(date(2026, 5, 1))  # one day
    with pytest.raises(ValueError, match="2026-04-30 is before 2026-05-01"):
        DateRange(date(2026, 5, 1), date(2026, 4, 30))
    assert DateRange.if_ordered(date(2026, 5, 1), date(2026, 4, 30)) is None
    assert [str(r) for r in (may, DateRange(date(2026, 5, 1)), DateRange(end=date(2026, 5, 31)), DateRange())] == [
        "2026-05-01 to 2026-05-31",
        "from 2026-05-01",
        "through 2026-05-31",
        "any date",
    ]
    with pytest.raises(AttributeError):
        may.start = date(2020, 1, 1)  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(may), type=DateRange) == may
    with pytest.raises(msgspec.ValidationError, match="2026-04-30 is before 2026-05-01"):
        msgspec.json.decode(b'{"start": "2026-05-01", "end": "2026-04-30"}', type=DateRange)


def test_ptp_edits_keep_their_own_dates() -> None:
    """An edit applies from its effective date through its deletion date, both included; one deleted on its
    effective date never applied; one without a deletion date applies from its start on (cms/ptp.py)."""
    day = date(2025, 1, 1)
    ended = PtpEdit("97110", "97140", day, date(2025, 3, 31), "1", "x", "f1 line 2")
    assert ended.in_force == DateRange(day, date(2025, 3, 31))
    assert [ended.active_on(d) for d in (date(2024, 12, 31), day, date(2025, 3, 31), date(2025, 4, 1))] == [
        False,
        True,
        True,
        False,
    ]
    never = PtpEdit("97110", "97140", day, day, "9", "x", "f1 line 3")
    assert never.in_force is None and not never.active_on(day)
    open_ended = PtpEdit("97110", "97140", day, None, "1", "x", "f1 line 4")
    assert open_ended.active_on(date(2040, 1, 1)) and not open_ended.active_on(date(2024, 12, 31))


def test_code_and_medicare_figure_dates_are_date_ranges() -> None:
    reference = load_reference()
    deleted = reference.catalog.codes["97762"]
    assert deleted.dates == DateRange(None, date(2017, 12, 31)) and deleted.end == date(2017, 12, 31)
    assert deleted.as_dict()["end"] == "2017-12-31" and deleted.as_dict()["effective"] is None
    factor = reference.medicare.conversion_factor[0]
    assert factor.dates == DateRange(factor.valid_from, factor.valid_through)
    telehealth = reference.payer("medicare").telehealth
    assert telehealth.dates.covers(date(2026, 3, 2)) and not telehealth.dates.covers(date(2020, 2, 14))


def test_data_files_with_a_window_ending_before_it_starts_are_refused() -> None:
    row = {
        "code": "97999",
        "kind": "CPT",
        "category": "procedure",
        "description": "x",
        "timed": True,
        "therapy": True,
        "disciplines": ["PT"],
        "source": "test",
        "effective": date(2026, 1, 1),
        "end": date(2025, 12, 31),
    }
    with pytest.raises(DataFileError, match=re.escape("codes.toml: code 97999: field 'end' 2025-12-31 is before")):
        _parse_code(row, 0)
    payment = medicare_payment()
    reversed_factor = msgspec.structs.replace(
        payment.conversion_factor[0], valid_from=date(2026, 1, 1), valid_through=date(2025, 12, 31)
    )
    with pytest.raises(DataFileError, match=r"conversion_factor\[0\]\.through: 2025-12-31 is before from"):
        check_payment(msgspec.structs.replace(payment, conversion_factor=[reversed_factor]))


@pytest.mark.parametrize(
    ("field", "window"),
    [
        ("authorization", {"from": "2026-06-30", "through": "2026-05-01", "visits": 10}),
        ("plan_of_care", {"certified_from": "2026-06-30", "certified_through": "2026-05-01"}),
    ],
)
def test_a_visit_window_ending_before_it_starts_covers_no_day(field: str, window: dict[str, Any]) -> None:
    """A visit's own authorization or certification given backwards (the visit contract does not refuse it)
    is outside on every date: an error finding, never a crash."""
    payer, rule = ("sample_per_code", "P003") if field == "authorization" else ("medicare", "R002")
    result = scrub(load_reference(), payer=payer, date="2026-06-01", services=EXERCISE, **{field: window})
    [finding] = [f for f in result.findings if f.rule == rule]
    assert finding.severity == "error" and "2026-06-30 to 2026-05-01, not 2026-06-01" in finding.message
