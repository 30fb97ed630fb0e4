"""ICD-10-CM releases dropped into ``<rules folder>/icd10/`` as CMS order files.

The file is ``icd10cm_order_<fiscal year>.txt`` (any text after the year is allowed, so two files of one
fiscal year can sit side by side), in the CMS layout: fixed width, CRLF or LF line ends, one code a line:
columns 1-5 the order number, 7-13 the code without its dot, 15 ``1`` for a billable (valid for HIPAA)
code or ``0`` for a header, 17-76 the short description, 78 on the long one (reference README s. 4).

Its effective date is October 1 before the fiscal year (``icd10cm_order_2026.txt``: 2025-10-01), unless a
sidecar file of the same name ending ``.toml`` says otherwise; the April update carries the same file name
as its fiscal year's October release, so it needs one::

    effective = 2026-04-01   # within the file's fiscal year
    name = "ICD-10-CM FY2026, April 1, 2026 update"   # optional; else the release calendar's name

A bad file is refused whole, naming the file, the line and the field. A good one is cached like the
package's index, named by a digest of its bytes, so a changed file is read again and an unchanged one is
not parsed twice.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import msgspec

from rehabclaim.datafiles import DataFileError, RowError, convert_toml, decode_utf8, read_bytes, read_utf8
from rehabclaim.dates import DateRange
from rehabclaim.diagnoses.codeset import Release
from rehabclaim.diagnoses.icd10 import index_lines, is_code_shaped, read_or_build
from rehabclaim.diagnoses.releases import ReleaseCalendar
from rehabclaim.errors import quote

KIND = "icd10"
PATTERNS = ("icd10cm_order_*.txt", "icd10cm_order_*.toml")
_NAME = re.compile(r"icd10cm_order_(?P<year>[0-9]{4})(?P<rest>.*)\.(?P<ext>txt|toml)", re.IGNORECASE)
_ORDER_NUMBER = re.compile(r"[0-9]{5}")
# (field, the column it ends before): a line cut short names the first field it lacks
_FIELDS = (("order number", 5), ("code", 13), ("header/billable flag", 15), ("short description", 17))


class Sidecar(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    effective: date
    name: str | None = None


def drop_in_releases(files: list[Path], calendar: ReleaseCalendar, cache: Path) -> list[Release]:
    """The releases in the order files among ``files`` (the ``icd10/`` folder's), each with its sidecar."""
    by_name = {path.name.lower(): path for path in files}
    releases: dict[date, tuple[Release, Path]] = {}
    for path in sorted(files):
        year = _fiscal_year(path)
        if path.suffix.lower() == ".toml":
            if path.with_suffix(".txt").name.lower() not in by_name:
                raise DataFileError(f"{path}: a sidecar without its order file {path.with_suffix('.txt').name}")
            continue
        sidecar = by_name.get(path.with_suffix(".toml").name.lower())
        effective, name = _dating(path, year, sidecar, calendar)
        release = order_release(path, name, effective, cache)
        if effective in releases:
            raise DataFileError(f"{path}: takes effect {effective}, as {releases[effective][1].name} does; keep one")
        releases[effective] = (release, path)
    return [release for release, _ in releases.values()]


def _fiscal_year(path: Path) -> int:
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise DataFileError(f"{path}: name the file icd10cm_order_<fiscal year>.txt, as CMS does")
    return int(match["year"])


def _dating(path: Path, year: int, sidecar: Path | None, calendar: ReleaseCalendar) -> tuple[date, str]:
    """The release's effective date and name: October 1 before the fiscal year, or the sidecar's."""
    effective, name = date(year - 1, 10, 1), None
    if sidecar is not None:
        text = read_utf8(sidecar)
        dated = convert_toml(text, Sidecar, str(sidecar))
        fiscal_year = DateRange(date(year - 1, 10, 1), date(year, 9, 30))
        if not fiscal_year.covers(dated.effective):
            raise DataFileError(
                f"{sidecar}: effective: {dated.effective} is outside fiscal year {year} ({fiscal_year}) that the "
                "file name gives"
            )
        effective, name = dated.effective, dated.name
    title = name or calendar.name_on(effective) or f"ICD-10-CM FY{year}, effective {effective}"
    return effective, f"{title} ({path.name})"


def order_release(path: Path, name: str, effective: date, cache: Path) -> Release:
    """The release in one order file, from the cache when its bytes were read before."""
    raw = read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()[:24]
    codes = read_or_build(cache / f"icd10cm-order-{digest}.tsv", lambda: index_lines(parse_order_file(raw, str(path))))
    return Release(name, effective, codes)


def parse_order_file(raw: bytes, origin: str) -> dict[str, bool]:
    """Every code of a CMS order file with its billable flag; a bad line refuses the file."""
    lines = decode_utf8(raw, origin).split("\n")
    if lines[-1] == "":
        lines.pop()  # the line end of the last line
    codes: dict[str, bool] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        code, billable = _order_line(line.removesuffix("\r"), origin, number)
        if code in codes:
            if codes[code] != billable:
                raise RowError(
                    origin,
                    number,
                    "header/billable flag",
                    f"of {code} is {int(billable)}, but {int(codes[code])} at line {first_line[code]}: "
                    "conflicting duplicate rows (keep one)",
                )
            continue
        codes[code], first_line[code] = billable, number
    if not codes:
        raise DataFileError(f"{origin}: no codes: not a CMS ICD-10-CM order file")
    return codes


def _order_line(line: str, origin: str, number: int) -> tuple[str, bool]:
    """One line's code (no dot) and billable flag, every field checked against the CMS layout."""
    for field, end in _FIELDS:
        if len(line) < end:
            layout = "blank line" if not line.strip() else f"the line has {len(line)} characters"
            raise RowError(origin, number, field, f"is missing ({layout}; CMS order file layout)")
    if not _ORDER_NUMBER.fullmatch(line[:5]):
        raise RowError(origin, number, "order number", f"must be 5 digits in columns 1-5, got {quote(line[:5])}")
    code = line[6:13].rstrip(" ")
    if line[5] != " " or line[13] != " " or not is_code_shaped(code) or line[6:13] != code.ljust(7):
        raise RowError(
            origin,
            number,
            "code",
            f"must be an ICD-10-CM code without its dot in columns 7-13, got {quote(line[5:14])}",
        )
    if line[14] not in "01" or line[15] != " ":
        raise RowError(origin, number, "header/billable flag", f"must be 0 or 1 in column 15, got {quote(line[14:16])}")
    if not line[16:76].strip():
        raise RowError(origin, number, "short description", "is blank")
    return code, line[14] == "1"
