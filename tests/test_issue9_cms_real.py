"""Issue 9: CMS's current files, dropped into the rules folder as a biller downloads them, are read; the
bundled figures are CMS's CY 2026 figures; expected payments match CMS's to the cent.

The files under ``tests/fixtures/cms-real/`` are byte-for-byte copies of ``shared/cms-real/`` (real CMS
publications or excerpts in their published layouts; where each was found is in that folder's README).
Each test loads them exactly as they are; a test that needs a variant (another release, a bad cell, a
sibling file) writes it next to the copy in ``tmp_path``.
"""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner, Result

from rehabclaim.cli.main import app
from rehabclaim.cms.mue import parse_mue
from rehabclaim.cms.pfs import parse_gpci, parse_rvus
from rehabclaim.cms.ptp import PtpTable, parse_ptp
from rehabclaim.cms.tables import CmsTables, Release, load_cms_tables
from rehabclaim.datafiles import DataFileError
from rehabclaim.fees.estimate import NoFee, UnitFee, medicare_unit_fee
from rehabclaim.fees.medicare_policy import medicare_payment
from rehabclaim.practice import Locality, demo_practice
from rehabclaim.scrubber import Scrubber, decode_visit
from tests.conftest import drop, visit_json

REAL = Path(__file__).parent / "fixtures" / "cms-real"
PPRRVU = REAL / "pfs" / "PPRRVU2026_Jul_nonQPP.csv"
GPCI = REAL / "pfs" / "GPCI2026.csv"
PFREV = REAL / "pfs" / "PFREV26B.txt"
MUE = REAL / "mue" / "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv"
PTP = REAL / "ncci" / "ccipra-v322r0-f1.txt"
EXAMPLES = Path(__file__).parents[1] / "src" / "rehabclaim" / "data" / "examples"
# The real RVU26C row of 21610 (the only code PFREV26B's excerpt holds), from the full
# PPRRVU2026_Jul_nonQPP.csv at stormchaser-creator/CredentialDOMD scripts/data/ (the same file the excerpt
# was cut from); its DESCRIPTION cell is blank, as in the excerpt (CPT text is AMA copyright).
ROW_21610 = (
    b"21610,,,A,,15.51,14.38,NA,14.38,,6.54,36.43,36.43,0,090,0.10,0.69,0.21,2,0,2,0,0,9,,33.4009,09,0,99,0.00,0.00,0.00"
    b"\r\n"
)
NC = date(2026, 8, 3)


def lines(path: Path) -> list[str]:
    """A CMS file's lines as the loader reads it: UTF-8, else Latin-1 (the MUE file's AMA notice has a ®)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").splitlines(True)
    except UnicodeDecodeError:
        return raw.decode("latin-1").splitlines(True)


def drop_real_files(rules: Path) -> None:
    """Every real file, under the name CMS gives it, in the folder a biller would put it in."""
    for kind in ("pfs", "mue", "ncci"):
        for path in (REAL / kind).iterdir():
            drop(rules, f"{kind}/{path.name}", path)


def fee(code: str, day: date, tables: CmsTables | None = None, **practice: Any) -> UnitFee:
    """The unit fee with ``tables`` (the tables in the rules folder now when None: nothing is cached)."""
    chosen = msgspec.structs.replace(demo_practice(), **practice)
    found = medicare_unit_fee(code, day, chosen, tables or load_cms_tables(), medicare_payment())
    assert isinstance(found, UnitFee), found
    return found


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "2000"})


SHARED = Path(__file__).parents[2] / "shared" / "cms-real"


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "SHA256SUMS"
    }


def test_fixtures_are_the_shared_files_byte_for_byte() -> None:
    """SHA256SUMS was taken from ../shared/cms-real (the files as found); every fixture still has those bytes,
    so a clean clone proves it without the shared folder (and line endings are never converted:
    .gitattributes)."""
    recorded = {}
    for row in (REAL / "SHA256SUMS").read_text().splitlines():
        digest, name = row.split(maxsplit=1)
        recorded[name.removeprefix("./")] = digest
    assert _digests(REAL) == recorded
    if SHARED.is_dir():  # beside a working checkout: the shared copies still agree too
        assert _digests(SHARED) == recorded


# --- NCCI PTP: the wrapped header, the deletion date --------------------------------------------------


def test_ptp_file_with_its_header_wrapped_over_four_rows_is_read() -> None:
    """The header of ccipra-v322r0-f1 is wrapped over four rows after two banner lines ("Effective" above
    "Date"): columns are found from each column's cells joined. Source: CMS ccipra-v322r0-f1.txt (2026 Q3)."""
    edits = parse_ptp(lines(PTP), "f1")
    assert len(edits) == 85
    first = edits[0]
    assert (first.column_1, first.column_2, first.effective, first.deletion, first.indicator) == (
        "0001A",
        "0591T",
        date(2022, 1, 1),
        date(2023, 12, 31),
        "1",
    )
    assert first.rationale == "CPT Manual or CMS manual coding instruction" and first.origin == "f1 line 7"
    assert edits[-1].rationale == "Misuse of Column Two code with Column One code" and edits[-1].deletion is None


def test_ptp_deletion_date_is_the_last_date_the_edit_covers() -> None:
    """An edit applies through its deletion date: CMS writes the last day of the quarter before the release
    that deleted it (0001A/0591T: 20231231), and the edits on 99241, deleted from CPT on 2023-01-01, end on
    20221231, the code's last valid day. Source: CMS ccipra-v322r0-f1.txt (see cms/ptp.py)."""
    table = PtpTable(parse_ptp(lines(PTP), "f1"))
    assert table.active("0001A", "0591T", date(2023, 12, 31)) is not None  # used to end the day before
    assert table.active("0591T", "0001A", date(2024, 1, 1)) is None
    assert table.active("0001A", "99241", date(2022, 12, 31)) is not None
    assert table.active("0001A", "0001A", date(2022, 1, 1)) is None


def test_ptp_edit_deleted_on_its_effective_date_never_applied(rules: Path) -> None:
    """Equal effective and deletion dates: CMS deleted the edit back to its start (indicator 9 in the file,
    0001A/90473); it applies on no date, whatever its indicator. Source: CMS ccipra-v322r0-f1.txt line 12;
    AAPC on indicator 9 (cms/ptp.py)."""
    never = next(e for e in parse_ptp(lines(PTP), "f1") if e.column_2 == "90473")
    assert never.effective == never.deletion == date(2022, 1, 1) and never.indicator == "9"
    assert not never.active_on(date(2022, 1, 1))
    text = PTP.read_bytes().replace(b"0001A\t0591T\t\t20220101\t20231231\t1", b"97110\t97140\t\t20250101\t20250101\t1")
    drop(rules, "ncci/ccipra-v322r0-f1.txt", text)
    table = load_cms_tables().ptp
    assert len(table) == 1 and table.active("97110", "97140", date(2025, 1, 1)) is None


def test_bad_ptp_row_in_the_real_layout_names_file_line_and_field() -> None:
    text = PTP.read_text(encoding="latin-1").replace("0001A\t36591\t\t20220101", "0001A\t36591\t\t2022-01-01")
    with pytest.raises(DataFileError, match="f1 line 10: field 'Effective Date' must be a date YYYYMMDD"):
        parse_ptp(text.splitlines(True), "f1")


# --- GPCI: headers starting with the year, one floored work column, footnote rows ------------------------


def test_gpci_file_as_published_is_read() -> None:
    """Addendum E for CY 2026 (RVU26C): headers start with the year (``2026 PW GPCI (with 1.0 Floor)***``)
    and only the floored work GPCI is published. Manhattan is MAC 13202 locality 01; 13102 is Connecticut.
    Source: CMS GPCI2026.csv."""
    table = parse_gpci(lines(GPCI), "gpci")
    assert len(table) == 109
    nc, manhattan = table[("11502", "00")], table[("13202", "01")]
    assert (nc.work, nc.work_floored, nc.pe, nc.mp) == (None, Decimal("1.000"), Decimal("0.933"), Decimal("0.639"))
    assert manhattan.name == "MANHATTAN" and (manhattan.work_floored, manhattan.pe, manhattan.mp) == (
        Decimal("1.064"),
        Decimal("1.162"),
        Decimal("1.586"),
    )
    assert table[("13102", "00")].name == "CONNECTICUT" and ("13102", "01") not in table
    assert table[("02102", "01")].work_floored == Decimal("1.500")  # Alaska's floor, as published


def test_gpci_footnote_rows_are_not_localities() -> None:
    """The rows after the data ("MAC Assignments as of November 22, 2023", "*Work GPCI reflects a 1.5 floor
    in Alaska ...") are notes: no locality with GPCIs of 0 comes from them. Source: CMS GPCI2026.csv."""
    table = parse_gpci(lines(GPCI), "gpci")
    assert all(row.pe > 0 and row.mp > 0 and row.work_floored for row in table.values())
    assert max(int(row.origin.split()[-1]) for row in table.values()) == 112  # Wyoming, the last locality row (3 + 109)


def test_gpci_locality_row_cut_short_is_not_taken_for_a_note() -> None:
    text = GPCI.read_text(encoding="utf-8").replace("11502,NC,00,NORTH CAROLINA,1.000,0.933,0.639", "11502,,,,,,")
    with pytest.raises(DataFileError, match="gpci line 83: field 'Locality Number'"):
        parse_gpci(text.splitlines(True), "gpci")


def test_gpci_release_with_both_work_columns(rules: Path) -> None:
    """RVU26A gave the work GPCI without and with the 1.0 floor: the dated floor setting picks one; a file
    with only the floored column (RVU26B on) is read as published. Source: CMS GPCI2026.csv footnote ***;
    layout per reference README s. 2 (constructed values)."""
    header = (
        "Medicare Administrative Contractor (MAC),State,Locality Number,Locality Name,"
        "2026 PW GPCI (without 1.0 Floor),2026 PW GPCI (with 1.0 Floor)***,2026 PE GPCI,2026 MP GPCI\r\n"
    )
    drop(
        rules,
        "pfs/GPCI2026.csv",
        f"TITLE,,,,,,,\r\n{header}11502,NC,00,NORTH CAROLINA,0.982,1.000,0.933,0.639\r\n".encode(),
    )
    tables = load_cms_tables()
    assert fee("97110", NC, tables).full == Decimal("28.02")  # floored: 1.000
    no_floor = msgspec.structs.replace(
        medicare_payment(),
        work_gpci_floor=[msgspec.structs.replace(medicare_payment().work_gpci_floor[0], applies=False)],
    )
    unfloored = medicare_unit_fee("97110", NC, demo_practice(), tables, no_floor)
    assert isinstance(unfloored, UnitFee) and unfloored.full == Decimal("27.75")  # 0.83082 x 33.4009 = 27.7502


def test_gpci_release_with_only_the_floored_work_column_is_read_as_published() -> None:
    """With only the floored column (RVU26B on), the floor setting has nothing to pick: the published figure
    is used, and the estimate says so. Source: CMS GPCI2026.csv (RVU26C)."""
    no_floor = msgspec.structs.replace(
        medicare_payment(),
        work_gpci_floor=[msgspec.structs.replace(medicare_payment().work_gpci_floor[0], applies=False)],
    )
    published = medicare_unit_fee("97110", NC, demo_practice(), load_cms_tables(), no_floor)
    assert isinstance(published, UnitFee) and published.full == Decimal("28.02")
    assert "the only work GPCI the file publishes" in published.formula


# --- PPRRVU: MULT PROC, status R, NA flags, releases, siblings ----------------------------------------------


def test_pprrvu_file_as_published_is_read() -> None:
    """RVU26C (July 2026): banner rows, a header split over five rows, the new PRIC IND column. Therapy codes
    carry MULT PROC 5 except 92610, 97129 and 97130 (0); a therapy code's facility PE equals its non-facility
    PE and is flagged NA. Source: CMS PPRRVU2026_Jul_nonQPP.csv."""
    rvus = parse_rvus(lines(PPRRVU), "rvu")
    assert len(rvus) == 87
    exercise = rvus["97110"]
    assert (exercise.work, exercise.pe_nonfacility, exercise.pe_facility, exercise.mp) == (
        Decimal("0.45"),
        Decimal("0.41"),
        Decimal("0.41"),
        Decimal("0.01"),
    )
    assert exercise.facility_na and not exercise.nonfacility_na and exercise.conversion_factor == Decimal("33.4009")
    assert {code for code, row in rvus.items() if row.therapy_mppr} >= {"92507", "97110", "97161", "97760", "G0283"}
    assert not any(rvus[code].therapy_mppr for code in ("92610", "97129", "97130", "20610", "99213"))
    assert rvus["97026"].status == "R" and rvus["97026"].priced and not rvus["97545"].priced  # R without RVUs
    assert (rvus["97010"].status, rvus["97014"].status, rvus["0770T"].status) == ("B", "I", "C")


def test_bundled_data_yields_cms_2026_figures() -> None:
    """Out of the box, NC (11502:00) in 2026: the figures CMS's own payment files give. Source: CMS
    PPRRVU2026_Jul_nonQPP.csv, GPCI2026.csv, CF 33.4009 (shared/cms-real README)."""
    expected = {
        "97110": "28.02",
        "97140": "26.73",
        "97530": "33.61",
        "97112": "31.56",
        "97161": "94.66",
        "97760": "44.03",
    }
    for day in (date(2026, 1, 1), date(2026, 6, 1), NC):
        assert {code: str(fee(code, day).full) for code in expected} == expected
    assert fee("97110", NC).reduced == Decimal("21.63")  # a further unit of the day under the MPPR


def test_mppr_follows_mult_proc(scrub: Any) -> None:
    """92507 + 92610: 92610 is MULT PROC 0, so neither is reduced (a hand-made "always therapy" list used to
    take $15.12 off 92507). Hand check: 92507 (1.30 + 0.97 x 0.933 + 0.01 x 0.639) x 33.4009 = $73.86;
    92610 (1.30 + 1.23 x 0.933 + 0.01 x 0.639) x 33.4009 = $81.97. Source: CMS PPRRVU2026_Jul_nonQPP.csv."""
    result = scrub(discipline="SLP", services=[{"code": "92507"}, {"code": "92610"}])
    assert [(line.code, line.expected) for line in result.lines] == [("92507", 73.86), ("92610", 81.97)]
    assert result.total_expected == 155.83 and not any("MPPR" in line.expected_why for line in result.lines)
    cognitive = scrub(services=[{"code": "97129", "minutes": 15}, {"code": "97130", "minutes": 15}])
    assert not any("MPPR" in line.expected_why for line in cognitive.lines)


def test_mppr_on_further_units_is_rounded_per_unit(scrub: Any) -> None:
    """Each unit is rounded half-up to cents once: 97110 x 3 = $28.02 + 2 x $21.63. Source: CMS PFREV26B
    (per-unit amounts to the cent); NGS MPPR (medicare-payment.toml)."""
    line = scrub(services=[{"code": "97110", "minutes": 45}]).lines[0]
    assert line.units == 3 and line.expected == 71.28 and "$21.63 each" in line.expected_why


def test_status_r_is_priced_and_status_i_names_the_medicare_code() -> None:
    """97026 (status R, restricted coverage) has RVUs and a fee; 97014 (status I) has none and the reason
    names G0283. Source: CMS PPRRVU2026_Jul_nonQPP.csv."""
    assert fee("97026", NC).full == Decimal("6.27")  # (0.06 + 0.13 x 0.933 + 0.01 x 0.639) x 33.4009
    no_fee = medicare_unit_fee("97014", NC, demo_practice(), load_cms_tables(), medicare_payment())
    assert isinstance(no_fee, NoFee) and "status I" in no_fee.reason and "Medicare uses G0283" in no_fee.reason


def test_facility_pe_is_read_as_published() -> None:
    """Facility practice: the facility PE column, NA flag and all (for 97110 the same 0.41 as non-facility).
    Source: CMS PPRRVU2026_Jul_nonQPP.csv."""
    facility = fee("97110", NC, setting="facility")
    assert facility.full == Decimal("28.02") and "NA in the file" in facility.formula


def pprrvu_with(replacements: dict[bytes, bytes]) -> bytes:
    text = PPRRVU.read_bytes()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_releases_of_one_year_apply_from_their_own_dates(rules: Path) -> None:
    """The January, April and July releases each apply from their own date (the file name says which);
    a file naming no month takes the banner's ("... October Release"). Source: CMS's release names
    RVU26A-D / PPRRVU2026_Jan..Oct (shared/cms-real README)."""
    drop(rules, "pfs/PPRRVU2026_Jan_nonQPP.csv", pprrvu_with({b"97110,,,A,,0.45,": b"97110,,,A,,0.40,"}))
    drop(rules, "pfs/PPRRVU2026_Apr_nonQPP.csv", pprrvu_with({b"97110,,,A,,0.45,": b"97110,,,A,,0.42,"}))
    drop(rules, "pfs/PPRRVU2026_Jul_nonQPP.csv", PPRRVU)
    drop(
        rules,
        "pfs/PPRRVU2026.csv",
        pprrvu_with({b"July Release": b"October Release", b"97110,,,A,,0.45,": b"97110,,,A,,0.47,"}),
    )
    tables = load_cms_tables()
    assert [release.effective for release in tables.rvus] == [date(2026, m, 1) for m in (1, 4, 7, 10)]
    days = ["2026-01-01", "2026-03-31", "2026-04-01", "2026-06-30", "2026-07-01", "2026-12-31"]
    work = [getattr(tables.rvu_on("97110", date.fromisoformat(day)), "work", None) for day in days]
    assert work == [Decimal(w) for w in ("0.40", "0.40", "0.42", "0.42", "0.45", "0.47")]
    assert "October 2026 release (RVU26D, from the banner)" in fee("97110", date(2026, 11, 2), tables).formula
    assert "April 2026 release (RVU26B, from the file name)" in fee("97110", date(2026, 5, 4), tables).formula


def test_a_later_release_stands_in_before_its_date_and_says_so(rules: Path) -> None:
    drop(rules, "pfs/PPRRVU2026_Jul_nonQPP.csv", PPRRVU)
    formula = fee("97110", date(2026, 2, 2), load_cms_tables()).formula
    assert "the earliest 2026 release loaded, standing in before 2026-07-01" in formula


def test_conflicts_within_one_release_are_still_refused(rules: Path) -> None:
    """The QPP and non-QPP files of a release agree on every RVU (only CONV FACTOR differs): both load.
    A file of the same release giving another RVU refuses both, naming each line."""
    drop(rules, "pfs/PPRRVU2026_Jul_nonQPP.csv", PPRRVU)
    drop(rules, "pfs/PPRRVU2026_Jul_QPP.csv", pprrvu_with({b",33.4009,": b",33.5675,"}))
    assert load_cms_tables().rvus[0].rows["97110"].work == Decimal("0.45")
    drop(rules, "pfs/PPRRVU2026_Jul_QPP.csv", pprrvu_with({b"97110,,,A,,0.45,": b"97110,,,A,,0.50,"}))
    # files are read in name order: the QPP file first
    message = "nonQPP.csv line 42: field 'WORK RVU' of code 97110 is '0.45', but '0.50' at .*_QPP.csv line 42"
    with pytest.raises(DataFileError, match=message):
        load_cms_tables()


def test_an_unpacked_cms_zip_is_read_with_its_siblings(rules: Path) -> None:
    """A zip unpacked as is: the same table as .csv, .txt (fixed width) and .xlsx, the QPP variant, the
    RVU zip's other tables, a PDF, CMS's payment amount file. The .csv of each table is read (the .txt of
    the PTP files); nothing fails because the siblings are there."""
    drop_real_files(rules)
    for name in ("PPRRVU2026_Jul_nonQPP.txt", "PPRRVU2026_Jul_nonQPP.xlsx", "GPCI2026.txt", "GPCI2026.xlsx"):
        drop(rules, f"pfs/{name}", b"\x00\x01 not a CSV")
    drop(rules, "pfs/PPRRVU2026_Jul_QPP.csv", pprrvu_with({b",33.4009,": b",33.5675,"}))
    drop(rules, "pfs/PPRRVU2026_Jul_QPP.xlsx", b"PK\x03\x04")
    for name in ("ANES2026.csv", "OPPSCAP_JUL.csv", "26LOCCO.csv", "RVU26C.pdf"):
        drop(rules, f"pfs/{name}", b"other tables of the zip")
    drop(rules, "mue/MCR_MUE_PractitionerServices_Eff_04-01-2026.xlsx", b"PK\x03\x04")
    drop(rules, "ncci/ccipra-v322r0-f1-readme.pdf", b"%PDF-1.4")
    tables = load_cms_tables()
    names = sorted(Path(f).name for f in tables.files)
    assert names == [
        "GPCI2026.csv",
        "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv",
        "PPRRVU2026_Jul_QPP.csv",
        "PPRRVU2026_Jul_nonQPP.csv",
        "ccipra-v322r0-f1.txt",
    ]
    assert fee("97110", NC, tables).full == Decimal("28.02")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GPCI2026.xlsx", "pfs/ reads the .csv copy of each CMS table: put GPCI2026.csv from the same download"),
        ("PPRRVU2026_Jul_nonQPP.txt", "put PPRRVU2026_Jul_nonQPP.csv from the same download beside it"),
        ("notes.txt", "pfs/ takes only files named PPRRVU*, GPCI*"),
    ],
)
def test_a_copy_whose_table_is_not_read_is_refused(rules: Path, name: str, expected: str) -> None:
    """A spreadsheet or fixed-width copy alone: the table itself would be missing, so the folder is refused
    (a stray file as before)."""
    drop(rules, "mue/MCR_MUE_PractitionerServices_Eff_04-01-2026.csv", MUE)
    drop(rules, f"pfs/{name}", b"x")
    with pytest.raises(DataFileError, match=re.escape(expected)):
        load_cms_tables()


# --- MUE: multi-line quoted records, physical lines ---------------------------------------------------------


def test_mue_file_as_published_is_read() -> None:
    """The AMA notice is one quoted cell over 7 lines and the header a quoted record over 2: data starts on
    physical line 10. L-codes, 97010 and 97014 have an MUE of 0 (CMS Policy). Source: CMS
    MCR_MUE_PractitionerServices_Eff_04-01-2026.csv (Latin-1)."""
    table = parse_mue(lines(MUE), "mue")
    assert len(table) == 91 and table["0770T"].origin == "mue line 10"
    assert table["97110"].units == 6 and table["97110"].indicator == "3"
    for code in ("L1906", "L3000", "L3807", "L3809", "97010", "97014"):
        assert (table[code].units, table[code].indicator, table[code].rationale) == (0, "3", "CMS Policy")


def test_bad_mue_value_names_the_physical_line() -> None:
    raw = MUE.read_bytes()
    at = raw.index(b"\n97110,6,") + 1
    line = raw[:at].count(b"\n") + 1  # the 7-line notice and the 2-line header are 2 records, 9 lines
    bad = (raw[:at] + raw[at:].replace(b"97110,6,", b"97110,six,", 1)).decode("latin-1")
    with pytest.raises(DataFileError, match=f"mue line {line}: field 'MUE Values' must be a whole number"):
        parse_mue(bad.splitlines(True), "mue")
    assert line == 41


# --- fees to the cent: CMS's PFREV26B --------------------------------------------------------------------------


def pfrev_rows() -> list[list[str]]:
    """PFREV26B (the PFALL layout: quoted CSV, no header, trailer rows "TRL- ...")."""
    with PFREV.open(newline="", encoding="latin-1") as source:
        return [row for row in csv.reader(source) if not row[0].startswith("TRL-")]


def test_pfrev26b_rows_are_reproduced() -> None:
    """Every payment row of CMS's PFREV26B: (work RVU x work GPCI + PE RVU x PE GPCI + MP RVU x MP GPCI) x CF
    33.4009, rounded half-up to cents once per unit, gives CMS's non-facility (column 6) and facility
    (column 7) amounts; the therapy-reduction columns (12, 13) are 0 for a code without MULT PROC 5.
    Source: CMS PFREV26B.txt, PPRRVU2026_Jul_nonQPP.csv (plus the real 21610 row), GPCI2026.csv."""
    rvus = parse_rvus([*lines(PPRRVU), ROW_21610.decode()], "PPRRVU2026_Jul_nonQPP.csv")  # every code, 21610 too
    july = date(2026, 7, 1)
    tables = CmsTables(
        ptp=PtpTable([]),
        mue={},
        rvus=(Release(2026, july, "RVU26C", ("PPRRVU2026_Jul_nonQPP.csv",), rvus),),
        gpci=(Release(2026, july, "RVU26C", ("GPCI2026.csv",), parse_gpci(lines(GPCI), "GPCI2026.csv")),),
        files=(),
    )
    rows = pfrev_rows()
    assert len(rows) == 8
    for year, mac, locality, code, _mod, nonfacility, facility, *rest in rows:
        day = date(int(year), 7, 1)
        for setting, published in (("non-facility", nonfacility), ("facility", facility)):
            found = fee(code, day, tables, locality=Locality(mac=mac, number=locality), setting=setting)
            assert found.full == Decimal(published), (mac, locality, code, setting)
            assert not found.mppr and Decimal(rest[4]) == Decimal(rest[5]) == 0


# --- the command line: CMS's files dropped in, scrub, fee and claim run -------------------------------


def test_a_biller_drops_cms_current_files_and_every_command_runs(rules: Path, tmp_path: Path) -> None:
    """The issue's new user: CMS's files (and the siblings of their zips) in the rules folder; ``fee``,
    ``scrub`` and ``claim`` run (exit 0, or 1 for billing mistakes), never exit 2."""
    drop_real_files(rules)
    drop(rules, "pfs/PPRRVU2026_Jul_nonQPP.xlsx", b"PK\x03\x04")
    fee_result = invoke("fee", "97110", "--date", "2026-08-03", "--units", "2", "--json")
    assert fee_result.exit_code == 0, fee_result.stderr
    assert '"per_unit":28.02' in fee_result.stdout and '"further_unit":21.63' in fee_result.stdout
    visits = tmp_path / "visits.jsonl"
    visits.write_bytes((EXAMPLES / "visits.jsonl").read_bytes())
    scrubbed = invoke("scrub", str(visits), "--json")
    assert scrubbed.exit_code == 1 and "Traceback" not in scrubbed.stderr, scrubbed.stderr
    claims = tmp_path / "claims.jsonl"
    claims.write_bytes((EXAMPLES / "claims.jsonl").read_bytes())
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    claimed = invoke("claim", str(claims), "--837", str(tmp_path / "out.x12"), "--database-url", url, "--json")
    assert claimed.exit_code in (0, 1) and "Traceback" not in claimed.stderr, claimed.stderr


# --- Medicare: orthoses, 97014, 97010 ---------------------------------------------------------------------------


def scrub_with(engine: Scrubber, **fields: Any) -> Any:
    return engine.scrub(decode_visit(visit_json(**fields)))


def test_orthosis_goes_to_the_dme_mac_for_medicare_and_stays_for_others(engine: Scrubber) -> None:
    """L-codes are DMEPOS items: a Medicare practitioner claim does not carry them (MUE 0), a finding says
    where the device goes; for a payer that takes them the L-code stays, unflagged. Source: CMS practitioner
    MUE table (L3809 = 0, CMS Policy)."""
    services = [{"code": "97760", "minutes": 20, "training_minutes": 12}, {"code": "L3809", "units": 1}]
    medicare = scrub_with(engine, discipline="OT", initial_orthotic_encounter=True, services=services)
    found = [f for f in medicare.findings if f.code == "L3809"]
    assert [f.rule for f in found] == ["B001"] and "bill L3809 to the DME MAC" in found[0].message
    other = scrub_with(
        engine, payer="sample_per_code", discipline="OT", initial_orthotic_encounter=True, services=services
    )
    assert not [f for f in other.findings if f.code == "L3809"] and [line.code for line in other.lines][-1] == "L3809"


def test_97014_is_g0283_for_medicare_and_97010_earns_nothing(engine: Scrubber) -> None:
    medicare = scrub_with(engine, services=[{"code": "97014"}, {"code": "97010"}, {"code": "97110", "minutes": 15}])
    by_rule = {f.rule: f for f in medicare.findings}
    assert "bill G0283 for Medicare" in by_rule["B002"].message and by_rule["B002"].severity == "error"
    assert by_rule["B003"].code == "97010" and by_rule["B003"].severity == "warning"
    assert not {"N003", "N004"} & set(by_rule)  # an MUE of 0 is not a unit limit
    expected = {line.code: line.expected for line in medicare.lines}
    assert expected == {"97014": None, "97010": 0.0, "97110": 28.02}
