"""Medically unlikely edits (MUE), practitioner table.

Layout (reference ncci-mue.md s. 3): CSV opening with quoted preamble rows, then the header
``HCPCS/CPT Code, Practitioner Services MUE Values, MUE Adjudication Indicator, MUE Rationale``. The
adjudication indicator (MAI) is a digit and text: 1 line edit, 2 date-of-service edit (policy),
3 date-of-service edit (clinical). Columns are found by header text; a bad row refuses the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass

from rehabclaim.datafiles import DataFileError

MAI_MEANING = {"1": "line edit", "2": "date of service edit: policy", "3": "date of service edit: clinical"}


@dataclass(frozen=True, slots=True)
class Mue:
    code: str
    units: int
    indicator: str  # MAI 1, 2 or 3
    rationale: str
    origin: str

    @property
    def per_date_of_service(self) -> bool:
        return self.indicator in ("2", "3")


def _find(header: list[str], words: str, origin: str, number: int) -> int:
    for index, cell in enumerate(header):
        if words in cell.lower():
            return index
    raise DataFileError(f"{origin} line {number}: header has no column containing '{words}'")


def parse_mue(lines: Iterable[str], origin: str, keep: frozenset[str] | None = None) -> dict[str, Mue]:
    table: dict[str, Mue] = {}
    columns: tuple[int, int, int, int] | None = None
    for number, row in enumerate(csv.reader(lines), start=1):
        if columns is None:
            if row and row[0].strip().lower().startswith("hcpcs"):
                columns = (
                    0,
                    _find(row, "mue values", origin, number),
                    _find(row, "adjudication indicator", origin, number),
                    _find(row, "rationale", origin, number),
                )
            continue
        if not any(cell.strip() for cell in row):
            continue
        where = f"{origin} line {number}"
        code_at, units_at, mai_at, why_at = columns
        if len(row) <= max(columns):
            raise DataFileError(f"{where}: expected {max(columns) + 1} columns, got {len(row)}")
        code, units_text, mai_text = row[code_at].strip().upper(), row[units_at].strip(), row[mai_at].strip()
        if not units_text.isdigit():
            raise DataFileError(f"{where}: field 'MUE Values' must be a whole number, got {units_text!r}")
        if mai_text[:1] not in MAI_MEANING:
            raise DataFileError(
                f"{where}: field 'MUE Adjudication Indicator' must start with 1, 2 or 3, got {mai_text!r}"
            )
        if keep is None or code in keep:
            table[code] = Mue(code, int(units_text), mai_text[:1], row[why_at].strip(), where)
    if columns is None:
        raise DataFileError(f"{origin}: no header row starting with 'HCPCS' (not an MUE file?)")
    return table
