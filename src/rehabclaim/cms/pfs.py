"""Medicare Physician Fee Schedule files: the relative value file (PPRRVU) and the GPCI file.

PPRRVU, as CMS publishes it (``PPRRVU2026_Jul_nonQPP.csv``, RVU26C): banner rows with one filled cell ("2026
National Physician Fee Schedule Relative Value File July Release", the AMA notices, "RELEASED 06/30/2026"),
then a header whose labels are split over several rows ("NON-FAC" above "PE RVU", "MULT" above "PROC"), then
data. Columns are found by the joined header text, so a new column (2026 adds ``PRIC IND``) moves nothing.
Only the global service (blank MOD) is kept. Read as published: the status code, the work, non-facility PE,
facility PE and MP RVUs with the two NA flags (a therapy code's facility PE equals its non-facility PE and
is flagged NA, so the setting does not change a therapy fee), the multiple procedure indicator ``MULT PROC`` (5:
the therapy multiple procedure payment reduction applies; 0 for 92610, 97129, 97130) and the conversion
factor.

GPCI (Addendum E, ``GPCI2026.csv``): a title row, then ``Medicare Administrative Contractor (MAC) | State |
Locality Number | Locality Name | 2026 PW GPCI (with 1.0 Floor)*** | 2026 PE GPCI | 2026 MP GPCI``. Labels
may start with the year and end in footnote stars. The work GPCI comes without and with the 1.0 floor
(RVU26A), with it only (RVU26B onward), or, in older years, as one ``PW`` column. Footnote rows follow the
data ("MAC Assignments as of ...", "*Work GPCI reflects a 1.5 floor in Alaska ..."): a row with text in its
first cell only is a note, never a locality.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from rehabclaim.datafiles import (
    ZERO,
    DataFileError,
    RowError,
    add_row,
    check_width,
    csv_records,
    plain_code,
    plain_decimal,
)
from rehabclaim.errors import quote

_CODE = re.compile(r"^(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})$")  # CPT 97110, 0770T; HCPCS G0283
_STATUS = re.compile(r"[A-Z]")
_INDICATOR = re.compile(r"[0-9]")
_DIGITS = re.compile(r"[0-9]+")
_RELEASE_IN_BANNER = re.compile(r"\b(January|April|July|October)\s+Release\b", re.IGNORECASE)
MAC = re.compile(r"[0-9]{5}")  # a Medicare Administrative Contractor number: 11502
LOCALITY_NUMBER = re.compile(r"[0-9]{1,2}")  # 00, or 1 (read as 01)
ONE = Decimal(1)
# MULT PROC 5: "subject to 50% of the practice expense component for certain therapy services" (PFS relative
# value file layout); every other value leaves the code out of the therapy MPPR.
THERAPY_MPPR = "5"
# Status codes with RVUs the fee schedule pays (PFS relative value file layout): A active; R restricted
# coverage, paid under the fee schedule when Medicare's coverage conditions are met (97026 infrared).
PRICED_STATUSES = frozenset({"A", "R"})
STATUS_MEANING = {
    "A": "active, paid separately",
    "B": "bundled: never paid separately",
    "C": "priced by the contractor case by case",
    "D": "deleted this year",
    "E": "excluded from the fee schedule by regulation",
    "F": "deleted, no grace period",
    "G": "not valid for Medicare: another code is used",
    "H": "deleted modifier",
    "I": "not valid for Medicare: Medicare uses another code",
    "J": "anesthesia service",
    "M": "measurement code, not paid",
    "N": "not covered by Medicare",
    "P": "bundled or excluded",
    "R": "restricted coverage: paid only when Medicare's coverage conditions are met",
    "T": "paid only when no other fee schedule service is billed that day",
    "X": "excluded by statute",
}
# What two rows for the same key must agree on (attribute -> the file's label): else the last would win. Not
# the conversion factor: the QPP and non-QPP files of one release differ only in it, and the fee takes the
# factor from medicare-payment.toml.
RVU_FACTS = {
    "status": "STATUS CODE",
    "work": "WORK RVU",
    "pe_nonfacility": "NON-FAC PE RVU",
    "pe_facility": "FACILITY PE RVU",
    "mp": "MP RVU",
    "mult_proc": "MULT PROC",
}
GPCI_FACTS = {"work": "PW GPCI", "work_floored": "PW GPCI (with 1.0 floor)", "pe": "PE GPCI", "mp": "MP GPCI"}


@dataclass(frozen=True, slots=True)
class Rvu:
    code: str
    status: str
    work: Decimal
    pe_nonfacility: Decimal
    pe_facility: Decimal
    mp: Decimal
    mult_proc: str  # the MULT PROC indicator: 5 = the therapy MPPR applies
    conversion_factor: Decimal | None
    origin: str
    nonfacility_na: bool = False  # "NA": the service is not priced in that setting
    facility_na: bool = False

    @property
    def therapy_mppr(self) -> bool:
        return self.mult_proc == THERAPY_MPPR

    @property
    def priced(self) -> bool:
        """Paid on the fee schedule from its RVUs (a status R code without RVUs is priced by the contractor)."""
        return self.status in PRICED_STATUSES and bool(self.work or self.pe_nonfacility or self.pe_facility)


@dataclass(frozen=True, slots=True)
class Gpci:
    mac: str
    locality: str
    name: str
    state: str
    work: Decimal | None  # without the 1.0 floor; None when the release publishes only the floored column
    work_floored: Decimal | None  # with the 1.0 floor; None when the release publishes only the plain column
    pe: Decimal
    mp: Decimal
    origin: str


def release_month_in_banner(lines: Iterable[str], scan: int = 20) -> str | None:
    """The release a PPRRVU banner names ("... Relative Value File July Release" -> ``July``), or None."""
    for number, line in enumerate(lines):
        if number >= scan:
            break
        found = _RELEASE_IN_BANNER.search(line)
        if found:
            return found.group(1).capitalize()
    return None


def _header_names(rows: list[list[str]]) -> list[str]:
    width = max(len(r) for r in rows)
    return [" ".join(r[i].strip() for r in rows if i < len(r) and r[i].strip()).upper() for i in range(width)]


def _find(names: list[str], *needles: str, avoid: tuple[str, ...] = ()) -> int | None:
    for index, name in enumerate(names):
        if all(n in name for n in needles) and not any(a in name for a in avoid):
            return index
    return None


def _pick(names: list[str], origin: str, label: str, *needles: str, avoid: tuple[str, ...] = ()) -> int:
    found = _find(names, *needles, avoid=avoid)
    if found is None:
        raise DataFileError(f"{origin}: header has no '{label}' column")
    return found


def _filled(row: list[str]) -> int:
    return sum(1 for cell in row if cell.strip())


def parse_rvus(lines: Iterable[str], origin: str, keep: frozenset[str] | None = None) -> dict[str, Rvu]:
    """The global rows of codes in ``keep`` (all when None). Every row must have a cell under each header
    column and a plain code (a file cut off or shifted is refused); the rows read must hold plain numbers
    0 or more, and a code listed twice must repeat its values."""
    rows = list(csv_records(lines, origin))
    first_data = next((i for i, (_, r) in enumerate(rows) if r and _CODE.match(r[0].strip())), None)
    if first_data is None:
        raise DataFileError(f"{origin}: no data rows (not a PPRRVU file?)")
    header_rows: list[list[str]] = []
    for _, row in reversed(rows[:first_data]):
        if _filled(row) <= 1:  # a blank row, or a banner row (its text fills one cell)
            break
        header_rows.insert(0, row)
    if not header_rows:
        raise DataFileError(f"{origin} line {rows[first_data][0]}: no header above the first data row")
    names = _header_names(header_rows)
    at = {
        "code": _pick(names, origin, "HCPCS", "HCPCS"),
        "mod": _pick(names, origin, "MOD", "MOD", avoid=("MODIFIER",)),
        "status": _pick(names, origin, "STATUS CODE", "STATUS"),
        "work": _pick(names, origin, "WORK RVU", "WORK", "RVU"),
        "pe_nonfacility": _pick(names, origin, "NON-FAC PE RVU", "NON-FAC", "PE RVU"),
        "pe_facility": _pick(names, origin, "FACILITY PE RVU", "FACILITY", "PE RVU", avoid=("NON",)),
        "mp": _pick(names, origin, "MP RVU", "MP RVU"),
        "mult_proc": _pick(names, origin, "MULT PROC", "MULT", "PROC"),
    }
    optional = {
        "conversion_factor": _find(names, "CONV", "FACTOR"),
        "nonfacility_na": _find(names, "NON-FAC", "NA INDICATOR"),
        "facility_na": _find(names, "FACILITY", "NA INDICATOR", avoid=("NON",)),
    }
    table: dict[str, Rvu] = {}
    for number, row in rows[first_data:]:
        if not row or not row[0].strip():
            continue
        check_width(row, names, origin, number)
        code = plain_code(row[at["code"]], origin, number, "HCPCS")
        if row[at["mod"]].strip() or (keep is not None and code not in keep):
            continue  # a year's file holds ~19,000 rows: only the global rows of codes in use are read
        add_row(table, code, _rvu(code, row, at, optional, origin, number), RVU_FACTS, f"code {code}")
    return table


def _rvu(
    code: str, row: list[str], at: dict[str, int], optional: dict[str, int | None], origin: str, number: int
) -> Rvu:
    def rvu(name: str, label: str) -> Decimal:
        return plain_decimal(row[at[name]], origin, number, label, blank=ZERO)

    def cell(name: str) -> str:
        index = optional[name]
        return "" if index is None else row[index].strip()

    status = row[at["status"]].strip().upper()
    if not _STATUS.fullmatch(status):
        raise RowError(origin, number, "STATUS CODE", f"must be one letter, got {quote(row[at['status']])}")
    mult_proc = row[at["mult_proc"]].strip()
    if not _INDICATOR.fullmatch(mult_proc):
        raise RowError(origin, number, "MULT PROC", f"must be one digit, got {quote(row[at['mult_proc']])}")
    conversion = cell("conversion_factor")
    return Rvu(
        code=code,
        status=status,
        work=rvu("work", "WORK RVU"),
        pe_nonfacility=rvu("pe_nonfacility", "NON-FAC PE RVU"),
        pe_facility=rvu("pe_facility", "FACILITY PE RVU"),
        mp=rvu("mp", "MP RVU"),
        mult_proc=mult_proc,
        conversion_factor=plain_decimal(conversion, origin, number, "CONV FACTOR") if conversion else None,
        origin=f"{origin} line {number}",
        nonfacility_na=_na_flag(cell("nonfacility_na"), origin, number, "NON-FAC NA INDICATOR"),
        facility_na=_na_flag(cell("facility_na"), origin, number, "FACILITY NA INDICATOR"),
    )


def _na_flag(text: str, origin: str, number: int, field: str) -> bool:
    if text.upper() not in ("", "NA"):
        raise RowError(origin, number, field, f"must be NA or blank, got {quote(text)}")
    return bool(text)


# --- GPCI -------------------------------------------------------------------------------------------


def _gpci_label(cell: str) -> str:
    """``2026 PW GPCI (with 1.0 Floor)***`` -> ``PW GPCI (WITH 1.0 FLOOR)``: no year, no footnote stars."""
    return re.sub(r"^[0-9]{4}\s+", "", cell.strip().rstrip("*").strip()).upper()


def _is_note(row: list[str]) -> bool:
    """A footnote or caption row: text in the first cell only, and not a locality row cut short (digits)."""
    first = row[0].strip() if row else ""
    return bool(first) and _filled(row) == 1 and not _DIGITS.fullmatch(first)


def parse_gpci(lines: Iterable[str], origin: str) -> dict[tuple[str, str], Gpci]:
    rows = list(csv_records(lines, origin))
    header_at = next(
        (
            i
            for i, (_, r) in enumerate(rows)
            if any("LOCALITY" in _gpci_label(c) for c in r) and any(_gpci_label(c).startswith("PE") for c in r)
        ),
        None,
    )
    if header_at is None:
        raise DataFileError(f"{origin}: no header row with 'Locality' and 'PE GPCI' (not a GPCI file?)")
    names = [_gpci_label(cell) for cell in rows[header_at][1]]
    at, work = _gpci_columns(names, origin)
    table: dict[tuple[str, str], Gpci] = {}
    for number, row in rows[header_at + 1 :]:
        if not any(cell.strip() for cell in row) or _is_note(row):
            continue
        check_width(row, names, origin, number)
        gpci = _gpci(row, at, work, origin, number)
        add_row(table, (gpci.mac, gpci.locality), gpci, GPCI_FACTS, f"MAC {gpci.mac} locality {gpci.locality}")
    return table


def _gpci_columns(names: list[str], origin: str) -> tuple[dict[str, int], tuple[int | None, int | None]]:
    """The columns by label, and the work GPCI columns (without the floor, with it): a layout with one
    plain ``PW`` column gives it for both."""

    def first(test: Callable[[str], bool], label: str) -> int:
        found = next((i for i, name in enumerate(names) if test(name)), None)
        if found is None:
            raise DataFileError(f"{origin}: header has no '{label}' column")
        return found

    work = [i for i, name in enumerate(names) if name.startswith("PW")]
    if not work:
        raise DataFileError(f"{origin}: header has no 'PW GPCI' column")
    without_floor = next((i for i in work if "WITHOUT" in names[i]), None)
    with_floor = next((i for i in work if re.search(r"\bWITH\b", names[i])), None)
    plain = next((i for i in work if i not in (without_floor, with_floor)), None)
    at = {
        "mac": first(lambda n: "MAC" in n or "CONTRACTOR" in n, "MAC"),
        "state": first(lambda n: "STATE" in n, "State"),
        "locality": first(lambda n: "LOCALITY" in n and "NAME" not in n, "Locality Number"),
        "name": first(lambda n: "NAME" in n, "Locality Name"),
        "pe": first(lambda n: n.startswith("PE"), "PE GPCI"),
        "mp": first(lambda n: n.startswith("MP"), "MP GPCI"),
    }
    return at, (without_floor if without_floor is not None else plain, with_floor if with_floor is not None else plain)


def _gpci(row: list[str], at: dict[str, int], work: tuple[int | None, int | None], origin: str, number: int) -> Gpci:
    def index(column: int, label: str) -> Decimal:
        return plain_decimal(row[column], origin, number, label)

    mac, locality = row[at["mac"]].strip(), row[at["locality"]].strip()
    if not MAC.fullmatch(mac):
        raise RowError(origin, number, "MAC", f"must be 5 digits, got {quote(row[at['mac']])}")
    if not LOCALITY_NUMBER.fullmatch(locality):
        raise RowError(origin, number, "Locality Number", f"must be 1 or 2 digits, got {quote(row[at['locality']])}")
    without_floor, with_floor = work
    return Gpci(
        mac=mac,
        locality=locality.zfill(2),
        name=row[at["name"]].strip(),
        state=row[at["state"]].strip(),
        work=None if without_floor is None else index(without_floor, "PW GPCI"),
        work_floored=None if with_floor is None else index(with_floor, "PW GPCI (with 1.0 floor)"),
        pe=index(at["pe"], "PE GPCI"),
        mp=index(at["mp"], "MP GPCI"),
        origin=f"{origin} line {number}",
    )
