"""Medically unlikely edits (MUE), practitioner table.

Layout (reference ncci-mue.md s. 3): CSV opening with quoted preamble rows, then the header
``HCPCS/CPT Code, Practitioner Services MUE Values, MUE Adjudication Indicator, MUE Rationale``. The
adjudication indicator (MAI) is a digit and text: 1 line edit, 2 date-of-service edit (policy),
3 date-of-service edit (clinical). Columns are found by header text; a bad row refuses the file, and so
does a code listed twice with different values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rehabclaim.datafiles import (
    DataFileError,
    RowError,
    add_row,
    check_width,
    csv_records,
    plain_code,
    plain_whole_number,
)
from rehabclaim.errors import quote

MAI_MEANING = {"1": "line edit", "2": "date of service edit: policy", "3": "date of service edit: clinical"}
FACTS = {"units": "MUE Values", "indicator": "MUE Adjudication Indicator"}  # what two rows of a code must agree on


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
    """Every row is checked; only codes in ``keep`` (all when None) are returned."""
    table: dict[str, Mue] = {}
    header: list[str] | None = None
    columns: tuple[int, int, int, int] = (0, 0, 0, 0)
    for number, row in csv_records(lines, origin):
        if header is None:
            if row and row[0].strip().lower().startswith("hcpcs"):
                header = [" ".join(cell.split()) for cell in row]  # the real header wraps "HCPCS/\nCPT Code"
                columns = (
                    0,
                    _find(row, "mue values", origin, number),
                    _find(row, "adjudication indicator", origin, number),
                    _find(row, "rationale", origin, number),
                )
            continue
        if not any(cell.strip() for cell in row):
            continue
        check_width(row, header, origin, number)
        mue = _row(row, columns, origin, number)
        add_row(table, mue.code, mue, FACTS, f"code {mue.code}")
    if header is None:
        raise DataFileError(f"{origin}: no header row starting with 'HCPCS' (not an MUE file?)")
    return table if keep is None else {code: mue for code, mue in table.items() if code in keep}


def _row(row: list[str], columns: tuple[int, int, int, int], origin: str, number: int) -> Mue:
    code_at, units_at, mai_at, why_at = columns
    mai_text = row[mai_at].strip()
    if mai_text[:1] not in MAI_MEANING:
        raise RowError(
            origin, number, "MUE Adjudication Indicator", f"must start with 1, 2 or 3, got {quote(mai_text)}"
        )
    return Mue(
        code=plain_code(row[code_at], origin, number, "HCPCS/CPT Code"),
        units=plain_whole_number(row[units_at], origin, number, "MUE Values"),
        indicator=mai_text[:1],
        rationale=row[why_at].strip(),
        origin=f"{origin} line {number}",
    )
