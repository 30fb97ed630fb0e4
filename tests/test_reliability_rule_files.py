"""Rule and data files (payer profiles, the CMS files, the practice file) are refused whole, naming the
file, the line and the field, before any visit is scrubbed or anything written; never a traceback.

Each test writes a bad file into a drop-in rules folder (``REHABCLAIM_RULES_DIR``) under ``tmp_path`` and
runs the command line on it.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rehabclaim.cli.main import app
from rehabclaim.cms.pfs import parse_gpci, parse_rvus
from rehabclaim.cms.tables import load_cms_tables
from rehabclaim.datafiles import DataFileError, RowError, check_number, plain_decimal, plain_whole_number
from rehabclaim.practice import load_practice
from rehabclaim.reference import load_reference
from tests.conftest import drop

CMS = resources.files("rehabclaim.data").joinpath("cms")
EXAMPLES = resources.files("rehabclaim.data").joinpath("examples")
PPRRVU = "PPRRVU2026_Jul_nonQPP.csv"  # CMS's own files since issue 9 (CPT descriptions blank)
GPCI = "GPCI2026_RVU26C.csv"
NC_GPCI_LINE = 83  # the North Carolina row of GPCI2026.csv
MUE_HEADER = '"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"\n'
PTP_HEADER = "Column 1\tColumn 2\t*\tEffective Date\tDeletion Date\tModifier\tPTP Edit Rationale\n"
PAYER = 'name = "Acme"\nsource = "test"\n\n[units]\nmethod = "cms"\nmax_per_visit = 4\n'


def sample(name: str) -> str:
    return CMS.joinpath(name).read_text(encoding="utf-8")


def line_number(text: str, start: str) -> int:
    """The 1-based line of ``text`` that starts with ``start``."""
    return next(n for n, line in enumerate(text.splitlines(), start=1) if line.startswith(start))


def replace_line(text: str, start: str, new: str) -> str:
    lines = text.splitlines(True)
    at = line_number(text, start) - 1
    return "".join([*lines[:at], new, *lines[at + 1 :]])


def invoke(*args: str) -> Result:
    # a wide "terminal": rich wraps long lines at 80 columns when stderr is not a terminal
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "2000"})


def assert_refused(result: Result, *expected: str) -> str:
    """Exit 2 with a one-line error message holding every ``expected`` part, and no traceback. Returns the
    message."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr
    assert message.startswith("error: ") and message.count("\n") == 1, message
    for part in expected:
        assert part in message, (part, message)
    return message


def visits_file(tmp_path: Path) -> Path:
    path = tmp_path / "visits.jsonl"
    path.write_bytes(EXAMPLES.joinpath("visits.jsonl").read_bytes())
    return path


def claims_file(tmp_path: Path) -> Path:
    path = tmp_path / "claims.jsonl"
    path.write_bytes(EXAMPLES.joinpath("claims.jsonl").read_bytes())
    return path


# --- item 13: payer files are loaded whole when the engine is built --------------------------------------


def test_bad_payer_file_stops_scrub_batch_and_claim_before_any_visit(rules: Path, tmp_path: Path) -> None:
    # no visit names this payer: the file used to be read only when the first visit's payer was looked
    # up, mid-run, and then crashed the command
    bad = drop(rules, "payers/acme.toml", PAYER.replace("max_per_visit = 4", 'max_per_visit = "four"'))
    expected = (str(bad), "line 6", "units.max_per_visit")
    visits, out = visits_file(tmp_path), tmp_path / "out" / "results.jsonl"
    assert_refused(invoke("scrub", str(visits)), *expected)
    assert_refused(invoke("batch", str(visits), "--out", str(out)), *expected)
    assert not out.parent.exists() or not any(out.parent.iterdir())
    x837 = tmp_path / "claims.837"
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    assert_refused(
        invoke("claim", str(claims_file(tmp_path)), "--837", str(x837), "--database-url", database), *expected
    )
    assert not x837.exists()


def test_non_utf8_payer_file_is_refused_naming_file_and_line(rules: Path, tmp_path: Path) -> None:
    bad = drop(rules, "payers/acme.toml", PAYER.replace('name = "Acme"', 'name = "Caf\xe9"').encode("latin-1"))
    expected = (str(bad), "line 1", "not UTF-8")
    assert_refused(invoke("payers"), *expected)
    assert_refused(invoke("payer", "medicare"), *expected)
    assert_refused(invoke("scrub", str(visits_file(tmp_path))), *expected)


def test_non_utf8_payer_file_in_a_fresh_process(rules: Path, tmp_path: Path) -> None:
    bad = drop(rules, "payers/acme.toml", b'name = "Acme"\nsource = "\xff"\n')
    done = subprocess.run(
        [sys.executable, "-m", "rehabclaim", "scrub", str(visits_file(tmp_path))],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and f"{bad} line 2: not UTF-8" in done.stderr


def test_non_utf8_practice_file_is_refused(tmp_path: Path) -> None:
    practice = tmp_path / "practice.toml"
    practice.write_bytes(b'name = "Clinic"\n# caf\xe9\n')
    expected = (str(practice), "line 2", "not UTF-8")
    assert_refused(invoke("fee", "97110", "--practice", str(practice)), *expected)
    assert_refused(invoke("scrub", str(visits_file(tmp_path)), "--practice", str(practice)), *expected)
    missing = tmp_path / "nowhere.toml"
    assert_refused(invoke("fee", "97110", "--practice", str(missing)), str(missing), "cannot read")


@pytest.mark.parametrize("command", ["fee", "scrub"])
def test_mue_value_superscript_two_is_refused(rules: Path, tmp_path: Path, command: str) -> None:
    # str.isdigit() accepts '²', then int('²') raised
    bad = drop(rules, "mue/mue.csv", f'"preamble"\n{MUE_HEADER}"97110","²","1 Line Edit","x"\n')
    args = ["fee", "97110"] if command == "fee" else ["scrub", str(visits_file(tmp_path))]
    assert_refused(invoke(*args), f"{bad} line 3: field 'MUE Values'", "'²'")


@pytest.mark.parametrize("command", ["fee", "scrub"])
def test_pprrvu_value_infinity_is_refused(rules: Path, tmp_path: Path, command: str) -> None:
    text = sample(PPRRVU)
    bad = drop(rules, "pfs/PPRRVU2026.csv", text.replace("97110,,,A,,0.45,", "97110,,x,A,,Infinity,"))
    args = ["fee", "97110"] if command == "fee" else ["scrub", str(visits_file(tmp_path))]
    assert_refused(invoke(*args), f"{bad} line {line_number(text, '97110,')}: field 'WORK RVU'", "'Infinity'")


@pytest.mark.parametrize("text", ["²", "١٢", "+1", "1.0", " ", ""])
def test_whole_numbers_are_plain_ascii_digits(text: str) -> None:
    with pytest.raises(RowError) as caught:
        plain_whole_number(text, "f.csv", 3, "MUE Values")
    assert (caught.value.origin, caught.value.line, caught.value.field) == ("f.csv", 3, "MUE Values")


@pytest.mark.parametrize("text", ["NaN", "nan", "sNaN", "Infinity", "-inf", "1e3", "1_000", "١٢", "0x10", "-0.01"])
def test_numbers_are_plain_finite_and_not_negative(text: str) -> None:
    with pytest.raises(RowError, match=r"f\.csv line 9: field 'WORK RVU'"):
        plain_decimal(text, "f.csv", 9, "WORK RVU")


def test_row_error_names_file_line_and_field_and_crosses_processes() -> None:
    error = RowError("pfs/PPRRVU2026.csv", 12, "WORK RVU", "must be a number, got 'NaN'")
    assert str(error) == "pfs/PPRRVU2026.csv line 12: field 'WORK RVU' must be a number, got 'NaN'"
    copy = pickle.loads(pickle.dumps(error))  # a batch worker's error reaches the parent whole
    assert (copy.origin, copy.line, copy.field, str(copy)) == (error.origin, 12, "WORK RVU", str(error))


def test_plain_numbers_read_as_before() -> None:
    assert plain_decimal(" 0.45 ", "f", 1, "x") == Decimal("0.45")
    assert plain_decimal(".5", "f", 1, "x") == Decimal("0.5")
    assert plain_decimal("", "f", 1, "x", blank=Decimal(0)) == 0 and plain_whole_number("12", "f", 1, "x") == 12
    assert check_number(Decimal("-1"), "f", 1, "x", minimum=None) == Decimal("-1")
    with pytest.raises(RowError, match="must be a number"):
        plain_decimal("", "f", 1, "x")  # blank only where the caller says what it means


# --- item 15: each bad rule file is refused whole, naming file, line and field -----------------------------


@pytest.mark.parametrize(
    ("cell", "why"),
    [("NaN", "'NaN'"), ("-0.45", "must be 0 or more"), ("0,45", "cells"), ("0.45\x00", "'0.45\\x00'")],
)
def test_bad_rvu_is_refused(rules: Path, cell: str, why: str) -> None:
    text = sample(PPRRVU)
    bad = drop(rules, "pfs/PPRRVU2026.csv", text.replace("97110,,,A,,0.45,", f"97110,,x,A,,{cell},"))
    assert_refused(invoke("fee", "97110"), f"{bad} line {line_number(text, '97110,')}: field '", why)


def test_pprrvu_row_cut_short_is_refused(rules: Path) -> None:
    text = sample(PPRRVU)
    row = next(line for line in text.splitlines() if line.startswith("97110,"))
    cut = ",".join(row.split(",")[:20])  # past MP RVU, short of CONV FACTOR: this used to raise IndexError
    bad = drop(rules, "pfs/PPRRVU2026.csv", replace_line(text, "97110,", cut + "\n"))
    assert_refused(invoke("fee", "97110"), f"{bad} line {line_number(text, '97110,')}: field ", "is missing")


def test_pprrvu_file_ending_mid_row_is_refused(rules: Path) -> None:
    text = sample(PPRRVU)
    cut = text[: text.index("97110,,,A")] + '97110,,"Therapeutic exer'
    bad = drop(rules, "pfs/PPRRVU2026.csv", cut)
    assert_refused(invoke("fee", "97110"), f"{bad} line {line_number(text, '97110,')}: not valid CSV")


def test_rvu_row_with_a_stray_comma_is_refused() -> None:
    text = sample(PPRRVU).replace("97110,,,A", "97110,,Therapeutic, exercise,A")
    with pytest.raises(RowError, match="a comma in an unquoted cell"):
        parse_rvus(text.splitlines(True), "rvu")


@pytest.mark.parametrize(
    ("fees", "field"),
    [
        ('schedule = "percent-of-medicare"\npercent_of_medicare = -10', "fees.percent_of_medicare"),
        ('schedule = "percent-of-medicare"\npercent_of_medicare = nan', "fees.percent_of_medicare"),
        ('schedule = "percent-of-medicare"\npercent_of_medicare = "NaN"', "fees.percent_of_medicare"),
        ('schedule = "percent-of-medicare"\npercent_of_medicare = inf', "fees.percent_of_medicare"),
        ('schedule = "contracted"\ncontracted = { "97110" = -31.50 }', "fees.contracted.97110"),
        ('schedule = "contracted"\ncontracted = { "97110" = "Infinity" }', "fees.contracted.97110"),
    ],
)
def test_bad_payer_fee_figure_is_refused(rules: Path, tmp_path: Path, fees: str, field: str) -> None:
    bad = drop(rules, "payers/acme.toml", f"{PAYER}\n[fees]\n{fees}\n")
    line = PAYER.count("\n") + 4  # the line setting the figure, after a blank line, [fees] and schedule
    assert_refused(invoke("scrub", str(visits_file(tmp_path))), f"{bad} line {line}: {field}", "finite number 0")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("max_per_visit = -1", "line 6: units.max_per_visit: Expected int >= 0"),
        ('max_per_code = { "97110" = -2 }', "line 6: units.max_per_code.97110: must be 0 or more"),
        ('max_per_code = { "97110\\u0000" = 2 }', "line 6: units.max_per_code: '97110\\x00' is not a 5-character"),
        ('max_per_code = { "l3809" = 2 }', "line 6: units.max_per_code: 'l3809' is not a 5-character"),
    ],
)
def test_bad_payer_unit_limit_or_code_is_refused(rules: Path, change: str, expected: str) -> None:
    bad = drop(rules, "payers/acme.toml", PAYER.replace("max_per_visit = 4", change))
    assert_refused(invoke("payer", "acme"), f"{bad} {expected}")


def test_bad_payer_days_and_dates_are_refused(rules: Path) -> None:
    drop(rules, "payers/acme.toml", PAYER + "\n[claims]\ntimely_filing_days = 0\n")
    assert_refused(invoke("payers"), "line 9: claims.timely_filing_days: Expected int >= 1")
    drop(rules, "payers/acme.toml", PAYER + "\n[telehealth]\nallowed_from = 2026-02-01\nallowed_through = 2026-01-31\n")
    assert_refused(invoke("payers"), "line 10: telehealth.allowed_through: 2026-01-31 is before allowed_from")


def test_ncci_deletion_before_effective_is_refused(rules: Path) -> None:
    bad = drop(rules, "ncci/ccipra-v321r0-f1.txt", f"{PTP_HEADER}97110\t97140\t\t20250101\t20241231\t1\tx\n")
    assert_refused(invoke("fee", "97110"), f"{bad} line 2: field 'Deletion Date' '20241231' is before the effective")


def test_ncci_deletion_on_the_effective_date_is_an_edit_that_never_applied(rules: Path) -> None:
    drop(rules, "ncci/ccipra-v321r0-f1.txt", f"{PTP_HEADER}97110\t97140\t\t20250101\t20250101\t1\tx\n")
    assert len(load_cms_tables().ptp) == 1


@pytest.mark.parametrize(
    ("relative", "content", "expected"),
    [
        (
            "ncci/ccipra-v321r0-f1.txt",
            f"{PTP_HEADER}97110\x00\t97140\t\t20250101\t*\t1\tx\n",
            "line 2: field 'Column 1'",
        ),
        ("ncci/ccipra-v321r0-f1.txt", f"{PTP_HEADER}97110\t9714\t\t20250101\t*\t1\tx\n", "line 2: field 'Column 2'"),
        ("mue/mue.csv", f'{MUE_HEADER}"9711\x000","2","1 Line Edit","x"\n', "line 2: field 'HCPCS/CPT Code'"),
    ],
)
def test_code_with_a_nul_byte_or_the_wrong_length_is_refused(
    rules: Path, relative: str, content: str, expected: str
) -> None:
    bad = drop(rules, relative, content)
    assert_refused(invoke("fee", "97110"), f"{bad} {expected}", "5-character HCPCS/CPT code")


def test_conflicting_duplicate_mue_rows_are_refused_naming_both_lines(rules: Path) -> None:
    bad = drop(rules, "mue/mue.csv", f'{MUE_HEADER}"97110","2","1 Line Edit","x"\n"97110","20","1 Line Edit","x"\n')
    assert_refused(invoke("fee", "97110"), f"{bad} line 3: field 'MUE Values'", f"is '20', but '2' at {bad} line 2")


def test_agreeing_duplicate_rows_are_fine(rules: Path) -> None:
    drop(rules, "mue/mue.csv", f'{MUE_HEADER}"97110","2","1 Line Edit","x"\n"97110","2","1 Line Edit","y"\n')
    gpci = sample(GPCI)
    drop(rules, "pfs/GPCI2026.csv", gpci + "11502,NC,0,NORTH CAROLINA,1.0,0.933,0.639\n")
    tables = load_cms_tables()
    assert tables.mue["97110"].units == 2 and tables.gpci[0].rows[("11502", "00")].pe == Decimal("0.933")


def test_conflicting_duplicate_gpci_row_is_refused(rules: Path) -> None:
    # the last row used to win: Austin's GPCIs for North Carolina
    gpci = sample(GPCI)
    bad = drop(rules, "pfs/GPCI2026.csv", gpci + "11502,NC,00,NORTH CAROLINA,1.014,1.029,9.781\n")
    last = gpci.count("\n") + 1
    assert_refused(
        invoke("fee", "97110"), f"{bad} line {last}: field 'PW GPCI (with 1.0 floor)'", f"at {bad} line {NC_GPCI_LINE}"
    )


def test_conflicting_rows_in_two_files_of_one_year_are_refused(rules: Path) -> None:
    gpci = sample(GPCI)
    first = drop(rules, "pfs/GPCI2026.csv", gpci)
    second = drop(rules, "pfs/GPCI2026-revised.csv", gpci.replace("0.933", "0.940"))
    # files are read in name order: GPCI2026-revised.csv first
    assert_refused(
        invoke("fee", "97110"), f"{first} line {NC_GPCI_LINE}: field 'PE GPCI'", f"'0.933', but '0.940' at {second}"
    )


def test_bad_gpci_cells_are_refused() -> None:
    gpci = sample(GPCI)
    with pytest.raises(RowError, match=f"line {NC_GPCI_LINE}: field 'PE GPCI' must be a number, got ''"):
        parse_gpci(gpci.replace("0.933", "").splitlines(True), "gpci")  # a blank GPCI used to read as 0
    with pytest.raises(RowError, match=f"line {NC_GPCI_LINE}: field 'MAC'"):
        parse_gpci(gpci.replace("11502,NC", "1150\x002,NC").splitlines(True), "gpci")


# --- drop-in file names -----------------------------------------------------------------------------------


def test_lowercase_file_names_are_read(rules: Path) -> None:
    drop(rules, "pfs/pprrvu2026_jan.csv", sample(PPRRVU).replace(",0.45,0.41,", ",0.50,0.41,"))
    drop(rules, "PAYERS/Acme.TOML", PAYER)
    result = invoke("fee", "97110", "--json")
    assert result.exit_code == 0, result.stderr
    assert "pprrvu2026_jan.csv" in result.stdout and '"per_unit":29.69' in result.stdout
    acme = load_reference().payer("acme")
    assert acme.configured and acme.units.max_per_visit == 4


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("pfs/notes.txt", "pfs/ takes only files named PPRRVU*, GPCI*"),
        ("pfs/rvu26a/PPRRVU2026.csv", "put the files directly in"),
        ("payers/acme.yaml", "payers/ takes only files named *.toml"),
        ("PPRRVU2026.csv", "the rules folder holds only payers/, ncci/, mue/, pfs/"),
        ("gpci/GPCI2026.csv", "the rules folder holds only"),
    ],
)
def test_files_no_kind_reads_are_refused(rules: Path, tmp_path: Path, relative: str, expected: str) -> None:
    drop(rules, relative, "x\n")
    assert_refused(invoke("fee", "97110"), expected)
    assert_refused(invoke("scrub", str(visits_file(tmp_path))), expected)


def test_the_same_folder_or_payer_spelled_twice_is_refused(rules: Path) -> None:
    drop(rules, "payers/acme.toml", PAYER)
    drop(rules, "payers/ACME.toml", PAYER)
    assert_refused(invoke("payers"), "the same payer as", "keep one")
    (rules / "payers" / "ACME.toml").unlink()
    drop(rules, "Payers/other.toml", PAYER)
    assert_refused(invoke("payers"), "the same folder as")


def test_a_rules_folder_that_is_not_there_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHABCLAIM_RULES_DIR", str(tmp_path / "typo"))
    assert_refused(invoke("payers"), "typo: the rules folder (REHABCLAIM_RULES_DIR) is not a folder")


# --- item 18: bad values are quoted short ---------------------------------------------------------------


def test_bad_values_are_quoted_short(rules: Path) -> None:
    long_value = "7" * 30 + "x" * 5000
    bad = drop(rules, "mue/mue.csv", f'{MUE_HEADER}"97110","{long_value}","1 Line Edit","x"\n')
    message = assert_refused(invoke("fee", "97110"), f"{bad} line 2: field 'MUE Values'")
    assert "(5030 characters)" in message and "x" * 25 not in message


def test_practice_charges_and_locality_are_checked(tmp_path: Path) -> None:
    practice = tmp_path / "practice.toml"
    base = 'name = "Clinic"\n\n[locality]\nmac = "11502"\nnumber = "00"\n\n[charges]\n'
    practice.write_text(base + '"97110" = nan\n')
    with pytest.raises(DataFileError, match=r"practice.toml line 8: charges.97110: must be a finite number"):
        load_practice(practice)
    practice.write_text(base.replace('"11502"', '"11502 "'))
    with pytest.raises(DataFileError, match=r"practice.toml line 4: locality.mac: must be 5 digits"):
        load_practice(practice)
    assert_refused(invoke("fee", "97110", "--locality", "11502:\x00"), "--locality", "'11502:\\x00'")
    assert_refused(invoke("fee", "9711\x00"), "code: expected a 5-character HCPCS/CPT code")
