"""Issue #9, diagnoses: each visit is judged by the ICD-10-CM release in force on its date of service.

Releases are held by effective date (the simple-icd-10-cm release and CMS order files dropped in), the
code set of a date with no release loaded is derived from the nearest one and the dated changes of
``data/icd10cm-changes.toml``, and a date beyond everything held gets warnings, never a wrong error.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rehabclaim.datafiles import DataFileError, RowError
from rehabclaim.diagnoses import DiagnosisIndex, Release, diagnosis_index, orderfile
from rehabclaim.diagnoses.icd10 import cache_dir, package_index, package_version
from rehabclaim.diagnoses.releases import bundled_calendar, bundled_changes, parse_calendar, parse_changes
from rehabclaim.model import ScrubResult
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import visit_json

FIXTURE = Path(__file__).parent / "fixtures" / "cms-real" / "icd10" / "icd10cm_order_2026.excerpt.txt"
SHARED = Path(__file__).parent.parent.parent / "shared" / "cms-real" / "icd10" / FIXTURE.name
SERVICES = [{"code": "97110", "minutes": 30}]


def _scrub(engine: Scrubber, day: str, *diagnoses: str) -> ScrubResult:
    return engine.scrub(decode_visit(visit_json(date=day, diagnoses=list(diagnoses), services=SERVICES)))


def _findings(result: ScrubResult) -> list[tuple[str, str, str | None]]:
    return [(f.rule, f.severity, f.code) for f in result.findings if f.rule.startswith("D")]


def _message(result: ScrubResult, rule: str) -> str:
    return str(next(f.message for f in result.findings if f.rule == rule))


# --- the M54.5 split of FY2022, judged by the date of service ------------------------------------------


def test_m54_5_is_valid_until_2021_09_30_and_m54_50_from_2021_10_01(engine: Scrubber) -> None:
    """The issue's example: one release judged every date, so M54.5 on 2021-09-30 was an error and
    M54.50 the same day passed."""
    assert _findings(_scrub(engine, "2021-09-30", "M54.5")) == [("D004", "info", None)]
    assert ("D002", "error", "M54.50") in _findings(_scrub(engine, "2021-09-30", "M54.50"))
    assert ("D003", "error", "M54.5") in _findings(_scrub(engine, "2021-10-01", "M54.5"))
    assert _findings(_scrub(engine, "2021-10-01", "M54.50")) == [("D004", "info", None)]


def test_findings_name_the_release_and_the_dated_changes_that_judged_the_visit(engine: Scrubber) -> None:
    result = _scrub(engine, "2021-09-30", "M54.50")
    refused = _message(result, "D002")
    assert "M54.50 added 2021-10-01" in refused and "simple-icd-10-cm 1.5.0" in refused
    note = _message(result, "D004")
    assert "in force: ICD-10-CM FY2021" in note
    assert "dated changes of 2021-10-01" in note and "undone back to 2021-09-30" in note
    in_force = _scrub(engine, "2026-06-01", "M54.5")
    assert "ICD-10-CM FY2026, April 1, 2026 update (simple-icd-10-cm 1.5.0)" in _message(in_force, "D003")
    assert not [f for f in in_force.findings if f.rule == "D004"]  # the release in force is loaded


def test_a_date_beyond_the_data_held_gets_warnings_not_errors(engine: Scrubber) -> None:
    """Before, a 2026-11-02 visit was judged by the April 2026 release with errors: a code created on
    2026-10-01 would have been refused."""
    later = _scrub(engine, "2026-11-02", "Z99.999", "M54.5")
    assert _findings(later) == [("D004", "info", None), ("D005", "warning", "Z99.999"), ("D005", "warning", "M54.5")]
    assert "beyond the releases and dated change data held (2020-10-01 to 2026-09-30)" in _message(later, "D004")
    earlier = _scrub(engine, "2019-05-01", "M54.50")
    assert _findings(earlier) == [("D004", "info", None), ("D005", "warning", "M54.50")]
    assert "check it against ICD-10-CM FY2019" in _message(earlier, "D005")


def test_a_string_that_is_not_a_code_is_an_error_on_any_date(engine: Scrubber) -> None:
    for day in ("2014-05-01", "2021-09-30", "2026-11-02"):
        assert ("D002", "error", "back pain") in _findings(_scrub(engine, day, "back pain"))


def test_a_verdict_resting_on_an_unconfirmed_change_is_a_warning(engine: Scrubber) -> None:
    before = _findings(_scrub(engine, "2024-06-01", "M51.360"))
    assert ("D005", "warning", "M51.360") in before and not [f for f in before if f[1] == "error"]
    assert _findings(_scrub(engine, "2026-06-01", "M51.360")) == []


# --- the code set on a date: nearest release, dated changes forward and backward ----------------------

CALENDAR = """
version = "t"
[package."0.0"]
effective = 2021-10-01
source = "test"
[[release]]
effective = 2020-10-01
name = "FY2021"
status = "confirmed"
source = "test"
[[release]]
effective = 2021-10-01
name = "FY2022"
status = "confirmed"
source = "test"
[[release]]
effective = 2022-10-01
name = "FY2023"
status = "confirmed"
source = "test"
"""
CHANGES = """
version = "t"
complete_from = 2020-10-01
complete_through = 2023-09-30
[[change]]
effective = 2021-10-01
status = "secondary"
source = "test"
expanded = ["M54.5"]
added = ["M54.50", "M54.59"]
[[change]]
effective = 2022-10-01
status = "secondary"
source = "test"
deleted = ["M54.59"]
"""
FY2021 = {"M54": False, "M545": True, "M546": True}
FY2022 = {"M54": False, "M545": False, "M5450": True, "M5459": True, "M546": True}


def _index(*releases: tuple[str, date, dict[str, bool]]) -> DiagnosisIndex:
    calendar = parse_calendar(CALENDAR, "calendar")
    loaded = [Release(name, day, codes) for name, day, codes in releases]
    return DiagnosisIndex(loaded, calendar, parse_changes(CHANGES, "changes", calendar))


def test_the_nearest_release_on_or_before_the_date_is_moved_forward_by_the_changes() -> None:
    index = _index(("old", date(2020, 10, 1), FY2021))
    view = index.on(date(2021, 10, 1))
    assert not view.exact and view.base is not None and view.base.name == "old"
    assert [view.verdict(c) for c in ("M54.5", "M54.50", "M54.59", "M54.6")] == [
        (False, True),
        (True, True),
        (True, True),
        (True, True),
    ]
    assert view.billable_children("M54.5") == ["M54.50", "M54.59"]  # M54.59 is not in the old release
    assert index.on(date(2022, 10, 1)).verdict("M54.59") == (None, True)  # deleted then
    assert index.on(date(2022, 10, 1)).billable_children("M54.5") == ["M54.50"]
    assert index.on(date(2021, 9, 30)).exact


def test_only_a_later_release_loaded_the_changes_after_the_date_are_undone() -> None:
    index = _index(("new", date(2021, 10, 1), FY2022))
    view = index.on(date(2021, 9, 30))
    assert view.undone and not view.exact
    assert [view.verdict(c)[0] for c in ("M54.5", "M54.50", "M54.59")] == [True, None, None]
    assert view.changes_of("M54.50") == "M54.50 added 2021-10-01"
    assert index.on(date(2021, 10, 1)).exact and index.on(date(2022, 9, 30)).exact


def test_the_release_on_or_before_the_date_wins_over_a_nearer_later_one() -> None:
    index = _index(("old", date(2020, 10, 1), FY2021), ("new", date(2022, 10, 1), FY2022))
    view = index.on(date(2021, 12, 1))
    assert view.base is not None and view.base.name == "old" and not view.undone
    assert view.in_force == "FY2022"


def test_outside_the_covered_span_nothing_is_certain_but_malformed_codes() -> None:
    index = _index(("new", date(2021, 10, 1), FY2022))
    for day in (date(2020, 9, 30), date(2023, 10, 1)):
        view = index.on(day)
        assert not view.certain
        assert view.verdict("Z99.999") == (None, False) and view.verdict("lumbago") == (None, True)


# --- the real CMS order file (cms-real excerpt, copied byte for byte) ---------------------------------


def test_the_fixture_is_the_shared_cms_excerpt_byte_for_byte() -> None:
    raw = FIXTURE.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") == 100  # CRLF, as CMS publishes it
    if SHARED.exists():
        assert raw == SHARED.read_bytes()


def test_the_real_order_file_layout_is_read() -> None:
    codes = orderfile.parse_order_file(FIXTURE.read_bytes(), FIXTURE.name)
    assert len(codes) == 100
    assert codes["A00"] is False and codes["A000"] is True and codes["A009"] is True
    assert codes["M54"] is False and codes["M545"] is False
    assert [code for code in codes if code.startswith("M545")] == ["M545", "M5450", "M5451", "M5459"]
    assert codes["M5450"] is codes["M5451"] is codes["M5459"] is codes["M549"] is True
    assert sum(codes.values()) == 83  # and 17 header rows (flag 0)


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "rules" / "icd10"
    folder.mkdir(parents=True)
    monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(folder.parent))
    return folder


def test_a_dropped_in_order_file_is_the_release_of_its_fiscal_year(rules: Path) -> None:
    shutil.copyfile(FIXTURE, rules / "icd10cm_order_2026.txt")  # the name CMS gives it
    engine = Scrubber(replace(load_reference(), diagnoses=diagnosis_index()))
    in_fy2026 = _scrub(engine, "2025-11-03", "M54.5", "M54.50", "S72.001A")
    assert _findings(in_fy2026) == [("D002", "error", "S72.001A"), ("D003", "error", "M54.5")]
    assert "ICD-10-CM FY2026 (icd10cm_order_2026.txt)" in _message(in_fy2026, "D003")
    assert "M54.50, M54.51, M54.59" in _message(in_fy2026, "D003")
    assert _findings(_scrub(engine, "2026-06-01", "S72.001A")) == []  # the package's April release


def test_a_sidecar_dates_the_april_update_which_replaces_the_package_release(rules: Path) -> None:
    shutil.copyfile(FIXTURE, rules / "icd10cm_order_2026.txt")
    (rules / "icd10cm_order_2026.toml").write_text("effective = 2026-04-01\n")
    index = diagnosis_index()
    view = index.on(date(2026, 6, 1))
    assert view.exact and view.base is not None
    assert view.base.name == "ICD-10-CM FY2026, April 1, 2026 update (icd10cm_order_2026.txt)"
    assert len(view.base.codes) == 100
    assert not index.on(date(2026, 3, 31)).exact  # the October release is not loaded
    result = _scrub(Scrubber(replace(load_reference(), diagnoses=index)), "2026-06-01", "S72.001A")
    assert ("D002", "error", "S72.001A") in _findings(result)


# --- a bad drop-in is refused whole, naming the file, the line and the field --------------------------

GOOD = (
    f"00001 A00     0 Cholera{' ' * 53}Cholera\r\n"
    f"00002 A000    1 Cholera due to Vibrio cholerae{' ' * 31}Cholera due\r\n"
)


def _line(order: str, code: str, flag: str, text: str = "Something") -> str:
    return f"{order} {code:<7} {flag} {text:<60} {text}\r\n"


@pytest.mark.parametrize(
    ("bad_line", "field"),
    [
        (_line("00003", "A001", "2"), "header/billable flag"),
        (_line("0003x", "A001", "1"), "order number"),
        (_line("00003", "a001", "1"), "code"),
        (_line("00003", "A00.1", "1"), "code"),
        (_line("00003", " A001", "1"), "code"),
        (_line("00003", "A001", "1", " "), "short description"),
        ("00003 A001   \r\n", "header/billable flag"),
        ("\r\n", "order number"),
        (_line("00003", "A000", "0"), "header/billable flag"),  # the same code with another flag
    ],
)
def test_a_bad_order_line_names_file_line_and_field(bad_line: str, field: str) -> None:
    with pytest.raises(RowError) as caught:
        orderfile.parse_order_file((GOOD + bad_line + _line("00004", "A009", "1")).encode(), "order.txt")
    assert (caught.value.origin, caught.value.line, caught.value.field) == ("order.txt", 3, field)
    assert str(caught.value).startswith(f"order.txt line 3: field '{field}'")


def test_an_order_file_that_is_not_utf8_or_empty_is_refused() -> None:
    with pytest.raises(DataFileError, match=r"order.txt line 2: not UTF-8"):
        orderfile.parse_order_file(GOOD.encode().replace(b"Vibrio", b"Vibr\xf6o"), "order.txt")
    with pytest.raises(DataFileError, match="no codes"):
        orderfile.parse_order_file(b"", "order.txt")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"icd10cm_order_new.txt": GOOD}, "name the file icd10cm_order_<fiscal year>.txt"),
        (
            {"icd10cm_codes_2026.txt": GOOD},
            r"icd10/ takes only files named icd10cm_order_\*\.txt, icd10cm_order_\*\.toml",
        ),
        ({"icd10cm_order_2026.toml": "effective = 2026-04-01\n"}, "a sidecar without its order file"),
        (
            {"icd10cm_order_2026.txt": GOOD, "icd10cm_order_2026.toml": "effective = 2026-10-01\n"},
            "effective: 2026-10-01 is outside fiscal year 2026",
        ),
        (
            {"icd10cm_order_2026.txt": GOOD, "icd10cm_order_2026.toml": "effective = 2026-04-01\nby = 1\n"},
            r"icd10cm_order_2026.toml line 2: by",
        ),
        (
            {"icd10cm_order_2026.txt": GOOD, "icd10cm_order_2026_copy.txt": GOOD},
            "takes effect 2025-10-01, as icd10cm_order_2026.txt does; keep one",
        ),
        ({"icd10cm_order_2026.txt": GOOD + "00003 A001"}, r"icd10cm_order_2026.txt line 3: field 'code'"),
    ],
)
def test_a_bad_drop_in_folder_is_refused(rules: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (rules / name).write_bytes(text.encode())
    with pytest.raises(DataFileError, match=message):
        diagnosis_index()


# --- the cache: per release, keyed by the package version and the order file's bytes -----------------


def test_an_order_file_is_parsed_once_and_again_when_its_bytes_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "icd10cm_order_2026.txt"
    shutil.copyfile(FIXTURE, source)
    parsed: list[str] = []
    real = orderfile.parse_order_file

    def counted(raw: bytes, origin: str) -> dict[str, bool]:
        parsed.append(origin)
        return real(raw, origin)

    monkeypatch.setattr(orderfile, "parse_order_file", counted)
    cache = tmp_path / "cache"
    first = orderfile.order_release(source, "r", date(2025, 10, 1), cache)
    again = orderfile.order_release(source, "r", date(2025, 10, 1), cache)
    assert first.codes == again.codes and len(parsed) == 1
    source.write_bytes(FIXTURE.read_bytes().replace(b"M5459   1", b"M5459   0"))
    changed = orderfile.order_release(source, "r", date(2025, 10, 1), cache)
    assert changed.codes["M5459"] is False and len(parsed) == 2
    assert len(list(cache.glob("icd10cm-order-*.tsv"))) == 2 and not list(cache.glob(".*tmp"))
    umask = os.umask(0)
    os.umask(umask)
    assert all((p.stat().st_mode & 0o777) == 0o666 & ~umask for p in cache.iterdir())


def test_a_bad_order_file_leaves_no_cache(tmp_path: Path) -> None:
    source = tmp_path / "icd10cm_order_2026.txt"
    source.write_bytes(GOOD.encode() + b"x\r\n")
    with pytest.raises(RowError):
        orderfile.order_release(source, "r", date(2025, 10, 1), tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_the_engine_holds_the_index_and_nothing_is_kept_between_loads(rules: Path) -> None:
    before = diagnosis_index()
    shutil.copyfile(FIXTURE, rules / "icd10cm_order_2026.txt")
    after = diagnosis_index()  # a file dropped in since is seen: no module cache
    assert before is not after
    assert not before.on(date(2025, 11, 3)).exact and after.on(date(2025, 11, 3)).exact
    assert Scrubber(replace(load_reference(), diagnoses=after)).reference.diagnoses is after


def test_an_unrecorded_package_version_is_used_undated_with_warnings_only(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rehabclaim.diagnoses import loader

    monkeypatch.setattr(loader, "package_version", lambda: "9.9.9")
    monkeypatch.setattr(loader, "package_index", lambda folder, installed: {"M545": False, "M5450": True})
    engine = Scrubber(replace(load_reference(), diagnoses=diagnosis_index()))
    result = _scrub(engine, "2026-06-01", "Z99.999", "M54.50")
    assert _findings(result) == [("D004", "info", None), ("D005", "warning", "Z99.999")]
    assert "simple-icd-10-cm 9.9.9 (release date not recorded in icd10cm.toml)" in _message(result, "D005")


# --- the bundled data files -------------------------------------------------------------------------


def test_the_dated_changes_agree_with_the_package_release() -> None:
    """Each code's state after its last change on or before the package's date is the package's state."""
    calendar = bundled_calendar()
    installed = package_version()
    assert installed is not None and installed in calendar.package
    released = calendar.package[installed].effective
    codes = package_index(cache_dir(), installed)
    last: dict[str, bool | None] = {}
    for change in bundled_changes(calendar).changes:
        if change.effective <= released:
            last[change.code] = change.after
    assert last and all(codes.get(code) is state for code, state in last.items()), [
        code for code, state in last.items() if codes.get(code) is not state
    ]


def test_every_dated_change_is_sourced_and_on_a_release_date() -> None:
    calendar = bundled_calendar()
    text = (Path(__file__).parent.parent / "src" / "rehabclaim" / "data" / "icd10cm-changes.toml").read_text()
    assert text.count("\n[[change]]\n") == text.count("\nsource = ") == 7
    dates = {row.effective for row in calendar.release}
    assert all(change.effective in dates for change in bundled_changes(calendar).changes)
    split = [c for c in bundled_changes(calendar).changes if c.effective == date(2021, 10, 1)]
    assert {(c.code, c.before, c.after) for c in split} >= {
        ("M545", True, False),
        ("M5450", None, True),
        ("M5451", None, True),
        ("M5459", None, True),
    }


BAD_CHANGES = [
    ('added = ["M5450"]', "change[0].added: 'M5450' is not an ICD-10-CM code written with its dot", 8),
    ('added = ["m54.50"]', "change[0].added: 'm54.50' is not an ICD-10-CM code written with its dot", 8),
    ('added = ["M54.50", "M54.50"]', "change[0].added: M54.50 is listed twice here", 8),
    ('deleted = ["M54.50"]\nadded = ["M54.50"]', "change[0].deleted: M54.50 is listed twice here", 8),
    ("", "change[0].effective: the change lists no code", 5),
    ('added = ["M54.50"]\nwhy = "x"', "Object contains unknown field", 9),
]


@pytest.mark.parametrize(("body", "reason", "line"), BAD_CHANGES)
def test_a_bad_dated_change_names_its_line_and_field(body: str, reason: str, line: int) -> None:
    text = (
        'version = "t"\ncomplete_from = 2020-10-01\ncomplete_through = 2023-09-30\n[[change]]\n'
        f'effective = 2021-10-01\nstatus = "secondary"\nsource = "test"\n{body}\n'
    )
    with pytest.raises(DataFileError) as caught:
        parse_changes(text, "changes.toml", parse_calendar(CALENDAR, "calendar"))
    assert str(caught.value).startswith(f"changes.toml line {line}: ") and reason in str(caught.value)


def test_changes_must_follow_on_from_each_other_and_fall_on_release_dates() -> None:
    head = 'version = "t"\ncomplete_from = 2020-10-01\ncomplete_through = 2023-09-30\n'

    def change(day: str, body: str) -> str:
        return f'[[change]]\neffective = {day}\nstatus = "secondary"\nsource = "s"\n{body}\n'

    calendar = parse_calendar(CALENDAR, "calendar")
    broken = head + change("2021-10-01", 'added = ["M54.50"]') + change("2022-10-01", 'added = ["M54.50"]')
    with pytest.raises(DataFileError, match=r"changes.toml line 13: change\[1\].added: M54.50 is billable after"):
        parse_changes(broken, "changes.toml", calendar)
    off_date = head + change("2021-11-01", 'added = ["M54.50"]')
    with pytest.raises(DataFileError, match=r"line 5: change\[0\].effective: 2021-11-01 is not the effective date"):
        parse_changes(off_date, "changes.toml", calendar)
    unordered = head + change("2022-10-01", 'added = ["M54.51"]') + change("2021-10-01", 'added = ["M54.50"]')
    with pytest.raises(DataFileError, match=r"line 10: change\[1\].effective: 2021-10-01 is before the change"):
        parse_changes(unordered, "changes.toml", calendar)


def test_a_bad_release_calendar_is_refused() -> None:
    swapped = CALENDAR.replace("effective = 2021-10-01\nname", "effective = 2019-10-01\nname")
    with pytest.raises(DataFileError, match=r"calendar line 12: release\[1\].effective: 2019-10-01 must be after"):
        parse_calendar(swapped, "calendar")
    undated = CALENDAR.replace('[package."0.0"]\neffective = 2021-10-01', '[package."0.0"]\neffective = 2021-11-01')
    with pytest.raises(DataFileError, match=r"calendar line 3: package.0.0.effective: 2021-11-01 is not a release"):
        parse_calendar(undated, "calendar")


def test_a_cache_folder_that_cannot_be_written_still_loads(tmp_path: Path) -> None:
    source = tmp_path / "icd10cm_order_2026.txt"
    shutil.copyfile(FIXTURE, source)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    release = orderfile.order_release(source, "r", date(2025, 10, 1), blocked / "cache")
    assert release.codes["M5450"] is True


@given(st.dates(date(2020, 10, 1), date(2023, 9, 30)), st.sampled_from(["M54.5", "M54.50", "M54.59", "M54.6", "Z99.9"]))
def test_forward_from_the_old_release_and_backward_from_the_new_one_agree(day: date, code: str) -> None:
    """Within the span the changes cover, the code set of a date does not depend on which release it was
    derived from."""
    forward = _index(("old", date(2020, 10, 1), FY2021)).on(day).verdict(code)
    backward = _index(("new", date(2021, 10, 1), FY2022)).on(day).verdict(code)
    assert forward == backward and forward.certain
