"""NCCI procedure-to-procedure (PTP) edits, practitioner files (``ccipra-v<ver>r<rev>-f1..f4``).

Layout (reference ncci-mue.md s. 2): tab-delimited text; a copyright preamble; a header row holding
"Column 1" and "Column 2"; legend rows under it; then data rows: column 1 code, column 2 code, prior-1996
flag, effective date ``YYYYMMDD``, deletion date ``YYYYMMDD`` or ``*``, modifier indicator 0/1/9 and a
rationale. Columns are found by header text, never by position. A malformed data row refuses the file
with its line and field named, and so does an edit deleted before it took effect or a code that is not a
plain HCPCS/CPT code. Only pairs whose codes are both in ``keep`` are kept: the engine knows nothing of
other codes, and a full quarter holds over a million edits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from rehabclaim.datafiles import DataFileError, RowError, plain_code, yyyymmdd
from rehabclaim.errors import quote

INDICATORS = frozenset({"0", "1", "9"})
HEADERS = {
    "column_1": "column 1",
    "column_2": "column 2",
    "effective": "effective date",
    "deletion": "deletion date",
    "modifier": "modifier",
    "rationale": "rationale",
}


@dataclass(frozen=True, slots=True)
class PtpEdit:
    column_1: str
    column_2: str
    effective: date
    deletion: date | None  # the edit no longer applies on and after this date
    indicator: str  # 0 never together; 1 a distinct-service modifier may bypass; 9 not applicable
    rationale: str
    origin: str  # file and line it came from

    def active_on(self, day: date) -> bool:
        return self.effective <= day and (self.deletion is None or day < self.deletion)


def _columns(header: list[str], origin: str, number: int) -> dict[str, int]:
    lowered = [cell.strip().lower() for cell in header]
    found = {}
    for name, text in HEADERS.items():
        matches = [
            i for i, cell in enumerate(lowered) if cell.startswith(text) or (text == "rationale" and text in cell)
        ]
        if not matches:
            raise DataFileError(f"{origin} line {number}: header has no '{text}' column")
        found[name] = matches[0]
    return found


def parse_ptp(lines: Iterable[str], origin: str, keep: frozenset[str] | None = None) -> list[PtpEdit]:
    edits: list[PtpEdit] = []
    columns: dict[str, int] | None = None
    for number, raw in enumerate(lines, start=1):
        cells = raw.rstrip("\r\n").split("\t")
        if columns is None:
            joined = raw.lower()
            if "column 1" in joined and "column 2" in joined:
                columns = _columns(cells, origin, number)
            continue
        effective_text = cells[columns["effective"]].strip() if len(cells) > columns["effective"] else ""
        if not (len(effective_text) == 8 and effective_text.isascii() and effective_text.isdigit()):
            if any(cell.strip() for cell in cells[:2]):
                raise RowError(
                    origin, number, "Effective Date", f"must be a date YYYYMMDD, got {quote(effective_text)}"
                )
            continue  # legend rows under the header, blank lines
        edit = _edit(cells, columns, origin, number)
        if keep is None or (edit.column_1 in keep and edit.column_2 in keep):
            edits.append(edit)
    if columns is None:
        raise DataFileError(f"{origin}: no header row with 'Column 1' and 'Column 2' (not a PTP file?)")
    return edits


def _edit(cells: list[str], columns: dict[str, int], origin: str, number: int) -> PtpEdit:
    def cell(name: str) -> str:
        index = columns[name]
        return cells[index].strip() if index < len(cells) else ""

    indicator = cell("modifier")
    if indicator not in INDICATORS:
        raise RowError(origin, number, "Modifier", f"must be 0, 1 or 9, got {quote(indicator)}")
    effective = yyyymmdd(cell("effective"), origin, number, "Effective Date")
    deletion_text = cell("deletion")
    deletion = None if deletion_text in ("*", "") else yyyymmdd(deletion_text, origin, number, "Deletion Date")
    if deletion is not None and deletion < effective:
        # equal dates are an edit that never applied; earlier is a corrupt row, not a rule
        raise RowError(origin, number, "Deletion Date", f"{quote(deletion_text)} is before the effective date")
    return PtpEdit(
        column_1=plain_code(cell("column_1"), origin, number, "Column 1"),
        column_2=plain_code(cell("column_2"), origin, number, "Column 2"),
        effective=effective,
        deletion=deletion,
        indicator=indicator,
        rationale=cell("rationale"),
        origin=f"{origin} line {number}",
    )


class PtpTable:
    """Edits by unordered code pair, so a lookup does not need to know which code is column 1."""

    def __init__(self, edits: Iterable[PtpEdit]) -> None:
        self.by_pair: dict[frozenset[str], list[PtpEdit]] = {}
        self.partners: dict[str, set[str]] = {}  # every code paired with a code in some edit
        for edit in edits:
            self.by_pair.setdefault(frozenset((edit.column_1, edit.column_2)), []).append(edit)
            self.partners.setdefault(edit.column_1, set()).add(edit.column_2)
            self.partners.setdefault(edit.column_2, set()).add(edit.column_1)

    def active(self, code_a: str, code_b: str, day: date) -> PtpEdit | None:
        """The edit in force on ``day`` for the pair (indicator 9 edits do not apply)."""
        for edit in self.by_pair.get(frozenset((code_a, code_b)), ()):
            if edit.active_on(day) and edit.indicator != "9":
                return edit
        return None

    def __len__(self) -> int:
        return sum(len(edits) for edits in self.by_pair.values())
