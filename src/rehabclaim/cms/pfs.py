"""Medicare Physician Fee Schedule files: the relative value file (PPRRVU) and the GPCI file.

PPRRVU (reference README s. 1): CSV with a banner of several rows, then a header whose labels may be split
over two or more rows ("NON-FAC" above "PE RVU"), then data. Columns are found by the joined header text.
Only the global service (blank MOD) is kept.

GPCI (reference README s. 2): a few banner rows, then ``MAC | State | Locality Number | Locality Name |
PW GPCI (without 1.0 floor) | PW GPCI (with 1.0 floor) | PE GPCI | MP GPCI``; older years have one
``PW`` column. Both layouts are read; whether the work floor applies is a dated setting, not a file fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
MAC = re.compile(r"[0-9]{5}")  # a Medicare Administrative Contractor number: 11502
LOCALITY_NUMBER = re.compile(r"[0-9]{1,2}")  # 00, or 1 (read as 01)
# What two rows for the same key must agree on (attribute -> the file's label): else the last would win.
RVU_FACTS = {
    "status": "STATUS CODE",
    "work": "WORK RVU",
    "pe_nonfacility": "NON-FAC PE RVU",
    "pe_facility": "FACILITY PE RVU",
    "mp": "MP RVU",
    "conversion_factor": "CONV FACTOR",
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
    conversion_factor: Decimal | None
    origin: str


@dataclass(frozen=True, slots=True)
class Gpci:
    mac: str
    locality: str
    name: str
    state: str
    work: Decimal  # without the 1.0 floor
    work_floored: Decimal  # with the 1.0 floor (equal to ``work`` in layouts without the column)
    pe: Decimal
    mp: Decimal
    origin: str


def _header_names(rows: list[list[str]]) -> list[str]:
    width = max(len(r) for r in rows)
    return [" ".join(r[i].strip() for r in rows if i < len(r) and r[i].strip()).upper() for i in range(width)]


def _pick(names: list[str], origin: str, label: str, *needles: str, avoid: tuple[str, ...] = ()) -> int:
    for index, name in enumerate(names):
        if all(n in name for n in needles) and not any(a in name for a in avoid):
            return index
    raise DataFileError(f"{origin}: header has no '{label}' column")


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
        if not any(cell.strip() for cell in row[1:]):  # a banner line fills only the first cell
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
    }
    cf_at = next((i for i, n in enumerate(names) if "CONV" in n and "FACTOR" in n), None)
    table: dict[str, Rvu] = {}
    for number, row in rows[first_data:]:
        if not row or not row[0].strip():
            continue
        check_width(row, names, origin, number)
        code = plain_code(row[at["code"]], origin, number, "HCPCS")
        if row[at["mod"]].strip() or (keep is not None and code not in keep):
            continue  # a year's file holds ~19,000 rows: only the global rows of codes in use are read
        add_row(table, code, _rvu(code, row, at, cf_at, origin, number), RVU_FACTS, f"code {code}")
    return table


def _rvu(code: str, row: list[str], at: dict[str, int], cf_at: int | None, origin: str, number: int) -> Rvu:
    def rvu(name: str, label: str) -> Decimal:
        return plain_decimal(row[at[name]], origin, number, label, blank=ZERO)

    status = row[at["status"]].strip().upper()
    if not _STATUS.fullmatch(status):
        raise RowError(origin, number, "STATUS CODE", f"must be one letter, got {quote(row[at['status']])}")
    conversion = row[cf_at] if cf_at is not None else ""
    return Rvu(
        code=code,
        status=status,
        work=rvu("work", "WORK RVU"),
        pe_nonfacility=rvu("pe_nonfacility", "NON-FAC PE RVU"),
        pe_facility=rvu("pe_facility", "FACILITY PE RVU"),
        mp=rvu("mp", "MP RVU"),
        conversion_factor=plain_decimal(conversion, origin, number, "CONV FACTOR") if conversion.strip() else None,
        origin=f"{origin} line {number}",
    )


def parse_gpci(lines: Iterable[str], origin: str) -> dict[tuple[str, str], Gpci]:
    rows = list(csv_records(lines, origin))
    header_at = next(
        (
            i
            for i, (_, r) in enumerate(rows)
            if any("locality" in c.lower() for c in r) and any("pe" in c.lower() for c in r)
        ),
        None,
    )
    if header_at is None:
        raise DataFileError(f"{origin}: no header row with 'Locality' and 'PE' (not a GPCI file?)")
    names = [cell.strip().upper() for cell in rows[header_at][1]]
    at = {
        "mac": _pick(names, origin, "MAC", "MAC"),
        "state": _pick(names, origin, "State", "STATE"),
        "locality": _pick(names, origin, "Locality Number", "LOCALITY", avoid=("NAME",)),
        "name": _pick(names, origin, "Locality Name", "NAME"),
        "pe": _pick(names, origin, "PE GPCI", "PE"),
        "mp": _pick(names, origin, "MP GPCI", "MP"),
    }
    without_floor = next((i for i, n in enumerate(names) if "PW" in n and "WITHOUT" in n), None)
    with_floor = next((i for i, n in enumerate(names) if "PW" in n and "WITH " in f"{n} " and "WITHOUT" not in n), None)
    plain = next((i for i, n in enumerate(names) if n.startswith("PW") or n.endswith(" PW") or n == "PW GPCI"), None)
    work_at = without_floor if without_floor is not None else plain
    if work_at is None:
        raise DataFileError(f"{origin}: header has no 'PW GPCI' column")
    floored_at = with_floor if with_floor is not None else work_at
    columns = {**at, "work": work_at, "work_floored": floored_at}
    table: dict[tuple[str, str], Gpci] = {}
    for number, row in rows[header_at + 1 :]:
        if not row or not any(cell.strip() for cell in row):
            continue
        check_width(row, names, origin, number)
        gpci = _gpci(row, columns, origin, number)
        add_row(table, (gpci.mac, gpci.locality), gpci, GPCI_FACTS, f"MAC {gpci.mac} locality {gpci.locality}")
    return table


def _gpci(row: list[str], at: dict[str, int], origin: str, number: int) -> Gpci:
    def index(name: str, label: str) -> Decimal:
        return plain_decimal(row[at[name]], origin, number, label)

    mac, locality = row[at["mac"]].strip(), row[at["locality"]].strip()
    if not MAC.fullmatch(mac):
        raise RowError(origin, number, "MAC", f"must be 5 digits, got {quote(row[at['mac']])}")
    if not LOCALITY_NUMBER.fullmatch(locality):
        raise RowError(origin, number, "Locality Number", f"must be 1 or 2 digits, got {quote(row[at['locality']])}")
    return Gpci(
        mac=mac,
        locality=locality.zfill(2),
        name=row[at["name"]].strip(),
        state=row[at["state"]].strip(),
        work=index("work", "PW GPCI"),
        work_floored=index("work_floored", "PW GPCI (with 1.0 floor)"),
        pe=index("pe", "PE GPCI"),
        mp=index("mp", "MP GPCI"),
        origin=f"{origin} line {number}",
    )
