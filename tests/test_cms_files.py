"""Loaders for the CMS files in their published layouts (the bundled files and constructed variants; CMS's
own files as published: test_issue9_cms_real.py)."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rehabclaim.cms.mue import parse_mue
from rehabclaim.cms.pfs import parse_gpci, parse_rvus
from rehabclaim.cms.ptp import PtpEdit, PtpTable, parse_ptp
from rehabclaim.cms.tables import BUNDLED, load_cms_tables
from rehabclaim.datafiles import DataFileError

SAMPLES = resources.files("rehabclaim.data").joinpath("cms")


RVU, GPCI, MUE = BUNDLED["rvu"][0], BUNDLED["gpci"][0], BUNDLED["mue"][0]


def sample(name: str) -> list[str]:
    raw = SAMPLES.joinpath(name).read_bytes()
    return raw.decode("latin-1" if name == MUE else "utf-8").splitlines(True)  # the MUE notice has a Latin-1 ®


def test_ptp_sample_in_the_published_layout() -> None:
    edits = parse_ptp(sample("ptp-practitioner-sample.txt"), "ptp")
    assert len(edits) == 17  # the banner lines and the rows of the wrapped header are not edits
    first = edits[0]
    assert (first.column_1, first.column_2, first.indicator, first.deletion) == ("97140", "97530", "1", None)
    assert first.effective == date(2020, 1, 1) and first.origin == "ptp line 7"


def test_ptp_effective_and_deletion_dates() -> None:
    table = PtpTable(parse_ptp(sample("ptp-practitioner-sample.txt"), "ptp"))
    assert table.active("97161", "97530", date(2020, 3, 31)) is not None  # in force through its deletion date
    assert table.active("97161", "97530", date(2020, 4, 1)) is None  # the day after
    assert table.active("97530", "97116", date(2020, 9, 30)) is None  # not yet effective
    assert table.active("97116", "97530", date(2020, 10, 1)) is not None  # either order


def _scanned(table: PtpTable, code_a: str, code_b: str, day: date) -> PtpEdit | None:
    """The edit in force as the pair's list reads, first in file order (what ``PtpTable.applicable`` indexes)."""
    found = (e for e in table.by_pair.get(frozenset((code_a, code_b)), ()) if e.active_on(day) and e.indicator != "9")
    return next(found, None)


@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["97110", "97140", "97530"]),
            st.sampled_from(["97110", "97140", "97530"]),
            st.dates(date(2019, 1, 1), date(2021, 12, 31)),
            st.one_of(st.none(), st.integers(0, 400)),
            st.sampled_from(["0", "1", "9"]),
        ),
        max_size=12,
    ),
    day=st.dates(date(2018, 12, 1), date(2022, 2, 1)),
)
def test_ptp_index_finds_the_edit_in_force_the_pair_list_gives(
    rows: list[tuple[str, str, date, int | None, str]], day: date
) -> None:
    edits = [
        PtpEdit(one, two, start, None if days is None else start + timedelta(days=days), indicator, "x", f"row {n}")
        for n, (one, two, start, days, indicator) in enumerate(rows)
    ]
    table = PtpTable(edits)
    for code_a in ("97110", "97140", "97530"):
        for code_b in ("97110", "97140", "97530"):
            assert table.active(code_a, code_b, day) is _scanned(table, code_a, code_b, day)


def test_ptp_keeps_only_catalog_codes() -> None:
    lines = [*sample("ptp-practitioner-sample.txt"), "99213\t97110\t\t20200101\t*\t1\tx\n"]
    assert len(parse_ptp(lines, "ptp", frozenset({"97140", "97530"}))) == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("97140\t97530\t\t2020-01-01\t*\t1\tx", "ptp line 7: field 'Effective Date' must be a date YYYYMMDD"),
        ("97140\t97530\t\t20200101\t*\t7\tx", "ptp line 7: field 'Modifier' must be 0, 1 or 9"),
        ("97140\t97530\t\t20200101\t2020XX01\t1\tx", "ptp line 7: field 'Deletion Date'"),
        ("97140\t97530\t\t20201340\t*\t1\tx", "not a real date"),
    ],
)
def test_bad_ptp_row_names_line_and_field(row: str, message: str) -> None:
    lines = [*sample("ptp-practitioner-sample.txt")[:6], row + "\n"]
    with pytest.raises(DataFileError, match=message):
        parse_ptp(lines, "ptp")


def test_ptp_file_without_header_is_refused() -> None:
    with pytest.raises(DataFileError, match="no header row"):
        parse_ptp(["just text\n", "97110\t97140\n"], "ptp")


def test_mue_bundled_and_errors() -> None:
    table = parse_mue(sample(MUE), "mue")
    assert table["97035"].units == 2 and table["97035"].indicator == "3" and table["97035"].per_date_of_service
    assert table["97110"].units == 6 and table["L3809"].units == 0  # CMS's table effective 2026-04-01
    bad = [*sample(MUE)[:9], '"97110","two","1 Line Edit","x"\n']  # after the 7-line notice and 2-line header
    with pytest.raises(DataFileError, match="mue line 10: field 'MUE Values'"):
        parse_mue(bad, "mue")
    bad = [*sample(MUE)[:9], '"97110","2","Line Edit","x"\n']
    with pytest.raises(DataFileError, match="mue line 10: field 'MUE Adjudication Indicator'"):
        parse_mue(bad, "mue")


def test_every_bundled_file_and_sample_row_names_its_source() -> None:
    sources = tomllib.loads(SAMPLES.joinpath("sources.toml").read_text(encoding="utf-8"))
    for edit in parse_ptp(sample("ptp-practitioner-sample.txt"), "ptp"):
        assert f"{edit.column_1}|{edit.column_2}" in sources["ptp"]
    for names in BUNDLED.values():
        for name in names:
            assert sources["files"][name]["what"] and sources["files"][name]["rows"]
    assert "SAMPLE" in sources["files"]["ptp-practitioner-sample.txt"]["what"]


def test_pprrvu_bundled_with_split_headers() -> None:
    rvus = parse_rvus(sample(RVU), "rvu")
    assert rvus["97110"].work == Decimal("0.45") and rvus["97110"].pe_nonfacility == Decimal("0.41")
    assert rvus["97110"].pe_facility == Decimal("0.41") and rvus["97110"].mp == Decimal("0.01")
    assert rvus["97010"].status == "B" and rvus["0770T"].status == "C" and rvus["97014"].status == "I"
    assert rvus["97110"].conversion_factor == Decimal("33.4009") and rvus["97110"].therapy_mppr
    assert "L3809" not in rvus  # a DMEPOS item: not on the physician fee schedule


def test_pprrvu_columns_found_by_header_wherever_they_are() -> None:
    lines = [
        "banner,,,,,,,,\n",
        ",,,NON-FAC,,FACILITY,,,MULT\n",
        "HCPCS,DESCRIPTION,WORK RVU,PE RVU,MOD,PE RVU,MP RVU,STATUS CODE,PROC\n",
        "97110,x,0.45,0.40,,0.17,0.02,A,5\n",
        "97110,x,9.99,9.99,26,9.99,9.99,A,5\n",
    ]
    rvu = parse_rvus(lines, "moved")["97110"]
    assert (rvu.work, rvu.pe_nonfacility, rvu.pe_facility, rvu.mp, rvu.status, rvu.mult_proc) == (
        Decimal("0.45"),
        Decimal("0.40"),
        Decimal("0.17"),
        Decimal("0.02"),
        "A",
        "5",
    )
    with pytest.raises(DataFileError, match="moved: header has no 'MULT PROC' column"):
        parse_rvus([line.replace(",MULT", ",").replace(",PROC", ",") for line in lines], "moved")


def test_bad_pprrvu_row_names_line_and_field() -> None:
    lines = sample(RVU)
    at = next(i for i, line in enumerate(lines) if line.startswith("97110,"))
    broken = [*lines[:at], lines[at].replace(",0.45,", ",zero,"), *lines[at + 1 :]]
    with pytest.raises(DataFileError, match=f"rvu line {at + 1}: field 'WORK RVU' must be a number"):
        parse_rvus(broken, "rvu")
    with pytest.raises(DataFileError, match="header has no 'MP RVU' column"):
        parse_rvus(["HCPCS,MOD,STATUS CODE,WORK RVU,NON-FAC PE RVU,FACILITY PE RVU\n", "97110,,A,1,1,1\n"], "rvu")


def test_gpci_both_layouts() -> None:
    current = parse_gpci(sample(GPCI), "gpci")[("11502", "00")]
    assert current.work is None and current.work_floored == Decimal("1.000") and current.pe == Decimal("0.933")
    older = parse_gpci(
        ["Banner\n", "MAC,Locality,Name,State,PW,PE,MP\n", "11502,0,NORTH CAROLINA,NC,0.97,0.92,0.60\n"], "old"
    )
    row = older[("11502", "00")]
    assert row.work == row.work_floored == Decimal("0.97") and row.mp == Decimal("0.60")


def test_drop_in_files_replace_the_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mue").mkdir()
    (tmp_path / "mue" / "MUE_2026Q3.csv").write_text(
        '"preamble"\n"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"\n'
        '"97110","4","3 Date of Service Edit: Clinical","Clinical: Data"\n'
    )
    monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(tmp_path))
    tables = load_cms_tables()
    assert set(tables.mue) == {"97110"}
    assert any("MUE_2026Q3.csv" in f for f in tables.files)
    assert "cms/ptp-practitioner-sample.txt" in tables.files  # kinds not dropped in keep the sample


def test_bad_drop_in_file_refuses_the_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ncci").mkdir()
    (tmp_path / "ncci" / "ccipra-v321r0-f1.txt").write_text(
        "Column 1\tColumn 2\t*\tEffective Date\tDeletion Date\tModifier\tPTP Edit Rationale\n"
        "97110\t97140\t\tsoon\t*\t1\tx\n"
    )
    monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(tmp_path))
    with pytest.raises(DataFileError, match=r"ccipra-v321r0-f1.txt line 2: field 'Effective Date'"):
        load_cms_tables()
