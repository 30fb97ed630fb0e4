"""NCCI procedure-to-procedure (PTP) edits, practitioner files (``ccipra-v<ver>r<rev>-f1..f4``).

Layout, as CMS publishes it (``ccipra-v322r0-f1.txt``, 2026 Q3): tab-delimited text, Latin-1; a copyright
line and a ``Column1/Column2 Edits`` title line; a header wrapped over four rows ("Column 1", "Column 2",
"*=in existence" above "prior to 1996", "Effective" above "Date", "Deletion" above "Date" above "*=no
data", "Modifier" above "0=not allowed" ...); then data rows: column 1 code, column 2 code, prior-1996 flag,
effective date ``YYYYMMDD``, deletion date ``YYYYMMDD`` or ``*``, modifier indicator 0/1/9 and a rationale
("Misuse of Column Two code with Column One code"). The header starts at the row whose first two cells are
"Column 1" and "Column 2" and runs to the first data row; columns are found by the text of each column's
header cells joined, never by position. A malformed data row refuses the file with its line and field
named, and so does an edit deleted before it took effect or a code that is not a plain HCPCS/CPT code.
Only pairs whose codes are both in ``keep`` are kept: the engine knows nothing of other codes, and a full
quarter holds over 2.6 million edits.

Dates. An edit applies from its effective date through its deletion date: the deletion date is the last
date of service the edit covers. CMS's files write it as the last day of the quarter before the quarterly
release that deleted the edit (``20231231``, ``20260630``), and edits on codes CPT deleted end on the code's
last valid day (99241, deleted from CPT on 2023-01-01: deletion date ``20221231``). An edit whose deletion
date equals its effective date never applied: CMS deleted it back to its start and gives it modifier
indicator 9, "not applicable" (``0001A``/``90473``: ``20220101``, ``20220101``, 9), as AAPC's coding alerts
explain indicator 9 ("the deletion date is the same as the effective date - bundles that were, essentially,
never effective").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from rehabclaim.datafiles import DataFileError, RowError, plain_code, yyyymmdd
from rehabclaim.dates import DateRange
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
    deletion: date | None  # the last date the edit applies; equal to ``effective``: it never applied
    indicator: str  # 0 never together; 1 a distinct-service modifier may bypass; 9 not applicable
    rationale: str
    origin: str  # file and line it came from
    # effective through deletion, both included; None for an edit deleted on its effective date (never in
    # force). Found once: the scrub asks per pair of billed codes.
    in_force: DateRange | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        never = self.deletion is not None and self.deletion == self.effective
        object.__setattr__(self, "in_force", None if never else DateRange(self.effective, self.deletion))

    def active_on(self, day: date) -> bool:
        return self.in_force is not None and self.in_force.covers(day)


def _columns(header_rows: list[list[str]], origin: str, number: int) -> dict[str, int]:
    """Each column's index, from its header cells joined over the wrapped header rows ("Effective" over
    "Date" reads "effective date")."""
    width = max(len(row) for row in header_rows)
    joined = [
        " ".join(" ".join(row[i].split()) for row in header_rows if i < len(row) and row[i].strip()).lower()
        for i in range(width)
    ]
    found = {}
    for name, text in HEADERS.items():
        matches = [
            i for i, cell in enumerate(joined) if cell.startswith(text) or (name == "rationale" and text in cell)
        ]
        if not matches:
            raise DataFileError(f"{origin} line {number}: header has no '{text}' column")
        found[name] = matches[0]
    return found


def _is_header(cells: list[str]) -> bool:
    return len(cells) > 1 and cells[0].strip().lower() == "column 1" and cells[1].strip().lower() == "column 2"


def _is_data(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells[:2])


def parse_ptp(lines: Iterable[str], origin: str, keep: frozenset[str] | None = None) -> list[PtpEdit]:
    edits: list[PtpEdit] = []
    header: list[list[str]] = []  # the wrapped header rows, until the first data row
    header_line = 0
    columns: dict[str, int] | None = None
    for number, raw in enumerate(lines, start=1):
        cells = raw.rstrip("\r\n").split("\t")
        if columns is None:
            if not header:
                if _is_header(cells):
                    header, header_line = [cells], number
                continue
            if not _is_data(cells):
                header.append(cells)  # "prior to 1996", "Date", "*=no data", "0=not allowed", ...
                continue
            columns = _columns(header, origin, header_line)
        if not _is_data(cells):
            continue  # blank lines
        edit = _edit(cells, columns, origin, number)
        if keep is None or (edit.column_1 in keep and edit.column_2 in keep):
            edits.append(edit)
    if not header:
        raise DataFileError(f"{origin}: no header row starting 'Column 1', 'Column 2' (not a PTP file?)")
    if columns is None:
        _columns(header, origin, header_line)  # a header without data: still refuse a header that is wrong
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


# an edit that may apply, with the first and last dates of service it covers (no deletion date: date.max)
DatedEdit = tuple[date, date, PtpEdit]


class PtpTable:
    """Edits by unordered code pair, so a lookup does not need to know which code is column 1."""

    def __init__(self, edits: Iterable[PtpEdit]) -> None:
        self.by_pair: dict[frozenset[str], list[PtpEdit]] = {}
        self.partners: dict[str, set[str]] = {}  # every code paired with a code in some edit
        for edit in edits:
            self.by_pair.setdefault(frozenset((edit.column_1, edit.column_2)), []).append(edit)
            self.partners.setdefault(edit.column_1, set()).add(edit.column_2)
            self.partners.setdefault(edit.column_2, set()).add(edit.column_1)
        # per code, per partner (both ways round), the pair's edits that may apply on some date, in file order:
        # what the scrub reads for each pair of billed codes, the date of service picking the edit in force
        self.applicable: dict[str, dict[str, tuple[DatedEdit, ...]]] = {}
        for pair, listed in self.by_pair.items():
            dated = tuple(_dated(edit) for edit in listed if edit.in_force is not None and edit.indicator != "9")
            if dated:
                codes = sorted(pair)
                code_a, code_b = codes[0], codes[-1]  # one code when column 1 is column 2
                self.applicable.setdefault(code_a, {})[code_b] = dated
                self.applicable.setdefault(code_b, {})[code_a] = dated

    def active(self, code_a: str, code_b: str, day: date) -> PtpEdit | None:
        """The edit in force on ``day`` for the pair (indicator 9 edits do not apply)."""
        return in_force_on(self.applicable.get(code_a, {}).get(code_b, ()), day)

    def __len__(self) -> int:
        return sum(len(edits) for edits in self.by_pair.values())


def in_force_on(dated: tuple[DatedEdit, ...], day: date) -> PtpEdit | None:
    """The first of a pair's edits (``PtpTable.applicable``) in force on ``day``."""
    for first, last, edit in dated:
        if first <= day <= last:
            return edit
    return None


def _dated(edit: PtpEdit) -> DatedEdit:
    return edit.effective, date.max if edit.deletion is None else edit.deletion, edit
