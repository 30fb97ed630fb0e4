"""Medicare Physician Fee Schedule files: the relative value file (PPRRVU) and the GPCI file.

PPRRVU (reference README s. 1): CSV with a banner of several rows, then a header whose labels may be split
over two or more rows ("NON-FAC" above "PE RVU"), then data. Columns are found by the joined header text.
Only the global service (blank MOD) is kept.

GPCI (reference README s. 2): a few banner rows, then ``MAC | State | Locality Number | Locality Name |
PW GPCI (without 1.0 floor) | PW GPCI (with 1.0 floor) | PE GPCI | MP GPCI``; older years have one
``PW`` column. Both layouts are read; whether the work floor applies is a dated setting, not a file fact.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from rehabclaim.datafiles import DataFileError

_CODE = re.compile(r"^(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})$")  # CPT 97110, 0770T; HCPCS G0283


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


def _decimal(text: str, where: str, field: str) -> Decimal:
    try:
        return Decimal(text.strip() or "0")
    except InvalidOperation:
        raise DataFileError(f"{where}: field '{field}' must be a number, got {text!r}") from None


def _header_names(rows: list[list[str]]) -> list[str]:
    width = max(len(r) for r in rows)
    return [" ".join(r[i].strip() for r in rows if i < len(r) and r[i].strip()).upper() for i in range(width)]


def _pick(names: list[str], origin: str, label: str, *needles: str, avoid: tuple[str, ...] = ()) -> int:
    for index, name in enumerate(names):
        if all(n in name for n in needles) and not any(a in name for a in avoid):
            return index
    raise DataFileError(f"{origin}: header has no '{label}' column")


def parse_rvus(lines: Iterable[str], origin: str, keep: frozenset[str] | None = None) -> dict[str, Rvu]:
    rows = list(csv.reader(lines))
    first_data = next((i for i, r in enumerate(rows) if r and _CODE.match(r[0].strip())), None)
    if first_data is None:
        raise DataFileError(f"{origin}: no data rows (not a PPRRVU file?)")
    header_rows: list[list[str]] = []
    for row in reversed(rows[:first_data]):
        if not any(cell.strip() for cell in row[1:]):  # a banner line fills only the first cell
            break
        header_rows.insert(0, row)
    if not header_rows:
        raise DataFileError(f"{origin} line {first_data}: no header above the first data row")
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
    for number, row in enumerate(rows[first_data:], start=first_data + 1):
        if not row or not row[0].strip():
            continue
        where = f"{origin} line {number}"
        if len(row) <= max(at.values()):
            raise DataFileError(f"{where}: expected at least {max(at.values()) + 1} columns, got {len(row)}")
        code = row[at["code"]].strip().upper()
        if row[at["mod"]].strip() or (keep is not None and code not in keep):
            continue
        table[code] = Rvu(
            code=code,
            status=row[at["status"]].strip().upper(),
            work=_decimal(row[at["work"]], where, "WORK RVU"),
            pe_nonfacility=_decimal(row[at["pe_nonfacility"]], where, "NON-FAC PE RVU"),
            pe_facility=_decimal(row[at["pe_facility"]], where, "FACILITY PE RVU"),
            mp=_decimal(row[at["mp"]], where, "MP RVU"),
            conversion_factor=_decimal(row[cf_at], where, "CONV FACTOR")
            if cf_at is not None and row[cf_at].strip()
            else None,
            origin=where,
        )
    return table


def parse_gpci(lines: Iterable[str], origin: str) -> dict[tuple[str, str], Gpci]:
    rows = list(csv.reader(lines))
    header_at = next(
        (
            i
            for i, r in enumerate(rows)
            if any("locality" in c.lower() for c in r) and any("pe" in c.lower() for c in r)
        ),
        None,
    )
    if header_at is None:
        raise DataFileError(f"{origin}: no header row with 'Locality' and 'PE' (not a GPCI file?)")
    names = [cell.strip().upper() for cell in rows[header_at]]
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
    table: dict[tuple[str, str], Gpci] = {}
    for number, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if not row or not any(cell.strip() for cell in row):
            continue
        where = f"{origin} line {number}"
        if len(row) <= max(*at.values(), work_at, floored_at):
            raise DataFileError(f"{where}: expected {len(names)} columns, got {len(row)}")
        key = (row[at["mac"]].strip(), row[at["locality"]].strip().zfill(2))
        table[key] = Gpci(
            mac=key[0],
            locality=key[1],
            name=row[at["name"]].strip(),
            state=row[at["state"]].strip(),
            work=_decimal(row[work_at], where, "PW GPCI"),
            work_floored=_decimal(row[floored_at], where, "PW GPCI (with 1.0 floor)"),
            pe=_decimal(row[at["pe"]], where, "PE GPCI"),
            mp=_decimal(row[at["mp"]], where, "MP GPCI"),
            origin=where,
        )
    return table
