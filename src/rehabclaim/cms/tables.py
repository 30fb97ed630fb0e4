"""The CMS rule tables the engine uses: the bundled files, or the official files the user dropped into the
rules folder (``<rules dir>/ncci``, ``/mue``, ``/pfs``), which replace the bundled files of their kind. They
are read from the files as they are when a ``Reference`` is loaded, and kept there, never in this module: a
server sees a new quarter's files by loading a new Reference.

The PTP files of a folder are read as one table, and so are the MUE files: a code two MUE files give
different values refuses both, naming each file and line.

PFS files (PPRRVU, GPCI) are grouped by release. CMS publishes a year's files in January, April, July and
October (RVU26A, B, C, D), and each release applies from its own date. The release is read from the file
name (``RVU26C…`` or ``PPRRVU2026_Jul…``: July 2026), else from the PPRRVU banner ("… July Release"; the
banner's "RELEASED 06/30/2026" is the publication date, not the date the release applies from), else the
file is the year's January release (``GPCI2026.csv``). The files of one release are one table (the QPP and
non-QPP PPRRVU files of a release agree on every RVU), and a code or locality two of them give different
values refuses both. A date of service takes the latest release of its year in force on that date; before
the year's earliest loaded release, that release stands in, and the fee estimate says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Generic, TypeVar

from rehabclaim.catalog import Catalog, load_catalog
from rehabclaim.cms.mue import FACTS as MUE_FACTS
from rehabclaim.cms.mue import Mue, parse_mue
from rehabclaim.cms.pfs import GPCI_FACTS, RVU_FACTS, Gpci, Rvu, parse_gpci, parse_rvus, release_month_in_banner
from rehabclaim.cms.ptp import PtpTable, parse_ptp
from rehabclaim.datafiles import Sourced, merge_rows, read_bytes
from rehabclaim.dates import DateRange
from rehabclaim.settings import drop_in_files

# The bundled files: real CMS rows for the codes in the catalog, except the PTP therapy pairs (a sample: no
# public copy of CMS's therapy pairs was found). Where each was found: data/cms/sources.toml.
BUNDLED = {
    "ncci": ["ptp-practitioner-sample.txt"],
    "mue": ["MCR_MUE_PractitionerServices_Eff_04-01-2026.csv"],
    "rvu": ["PPRRVU2026_Jul_nonQPP.csv"],
    "gpci": ["GPCI2026_RVU26C.csv"],
}
MONTHS = {"JAN": 1, "APR": 4, "JUL": 7, "OCT": 10}
MONTH_NAMES = {1: "January", 4: "April", 7: "July", 10: "October"}
_RELEASE_LETTER = re.compile(r"RVU([0-9]{2})([A-D])", re.IGNORECASE)
_YEAR_AND_MONTH = re.compile(r"(?:PPRRVU|GPCI)[_ -]?([0-9]{4})(?:[_ -]?(Jan|Apr|Jul|Oct))?", re.IGNORECASE)
T = TypeVar("T")
K = TypeVar("K")
R = TypeVar("R", bound=Sourced)


@dataclass(frozen=True, slots=True)
class Release(Generic[K, R]):
    """One release of a PFS file kind: the rows of its files, and the date it applies from."""

    year: int  # 0: the file names no year, and the release serves any year
    effective: date
    name: str  # "July 2026 release (RVU26C)"
    files: tuple[str, ...]
    rows: dict[K, R]

    @property
    def dates(self) -> DateRange:
        """The dates of service the release may apply to: from its own date through the end of its year (a
        later release of the year takes over from that one's date); any date when it names no year."""
        return DateRange(self.effective, date(self.year, 12, 31)) if self.year else DateRange()


@dataclass(frozen=True, slots=True)
class InForce(Generic[K, R]):
    """The release a date of service takes; ``stand_in`` when it applies before its own date."""

    release: Release[K, R]
    stand_in: bool

    @property
    def rows(self) -> dict[K, R]:
        return self.release.rows

    def describe(self) -> str:
        release = self.release
        files = ", ".join(Path(f).name for f in release.files)
        if not self.stand_in:
            return f"{release.name}: {files}"
        return (
            f"{release.name}: {files}; the earliest {release.year} release loaded, standing in before "
            f"{release.effective.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class CmsTables:
    ptp: PtpTable
    mue: dict[str, Mue]
    rvus: tuple[Release[str, Rvu], ...]  # by effective date
    gpci: tuple[Release[tuple[str, str], Gpci], ...]  # by effective date
    files: tuple[str, ...]  # every file loaded, so a result can name the release it used
    # the releases in force by date of service, found once per date (the rules ask per visit)
    _rvus_by_day: dict[date, InForce[str, Rvu] | None] = field(default_factory=dict, compare=False, repr=False)

    def rvus_on(self, day: date) -> InForce[str, Rvu] | None:
        try:
            return self._rvus_by_day[day]
        except KeyError:
            if len(self._rvus_by_day) > 10_000:  # bounded: dates come from input
                self._rvus_by_day.clear()
            found = self._rvus_by_day[day] = in_force(self.rvus, day)
            return found

    def gpci_on(self, day: date) -> InForce[tuple[str, str], Gpci] | None:
        return in_force(self.gpci, day)

    def rvu_on(self, code: str, day: date) -> Rvu | None:
        """The code's PPRRVU row in force on ``day``, if any."""
        found = self.rvus_on(day)
        return None if found is None else found.rows.get(code)


def in_force(releases: tuple[Release[K, R], ...], day: date) -> InForce[K, R] | None:
    """The latest release of the day's year that applies on ``day``; before the year's earliest loaded
    release, that one (a stand-in); else a release that names no year."""
    same_year = [release for release in releases if release.year == day.year]
    started = [release for release in same_year if release.dates.covers(day)]
    if started:
        return InForce(started[-1], stand_in=False)
    if same_year:
        return InForce(same_year[0], stand_in=True)
    any_year = [release for release in releases if release.year == 0]
    return InForce(any_year[-1], stand_in=False) if any_year else None


def release_of(origin: str, banner_month: str | None = None) -> tuple[int, date, str]:
    """The year, the date it applies from and the name of the release a PFS file belongs to: from the file
    name (``RVU26C``, ``PPRRVU2026_Jul``), else the banner's month, else the year's January release."""
    name = Path(origin).name
    letter = _RELEASE_LETTER.search(name)
    dated = _YEAR_AND_MONTH.search(name)
    if dated:
        year = int(dated.group(1))
    elif letter:
        year = 2000 + int(letter.group(1))
    else:
        return 0, date.min, "release of any year (the file name gives no year)"
    if letter:
        month, how = 1 + 3 * "ABCD".index(letter.group(2).upper()), "file name"
    elif dated and dated.group(2):
        month, how = MONTHS[dated.group(2).upper()], "file name"
    elif banner_month:
        month, how = MONTHS[banner_month[:3].upper()], "banner"
    else:
        return year, date(year, 1, 1), f"{year} release (no month named: from January 1)"
    code = f"RVU{year % 100:02d}{'ABCD'[(month - 1) // 3]}"
    return year, date(year, month, 1), f"{MONTH_NAMES[month]} {year} release ({code}, from the {how})"


def _releases(
    parts: list[tuple[str, str | None, dict[K, R]]], facts: Mapping[str, str], name: str
) -> tuple[Release[K, R], ...]:
    grouped: dict[tuple[int, date], tuple[str, list[str], list[dict[K, R]]]] = {}
    for origin, banner_month, rows in parts:
        year, effective, label = release_of(origin, banner_month)
        _, files, tables = grouped.setdefault((year, effective), (label, [], []))
        files.append(origin)
        tables.append(rows)
    return tuple(
        Release(year, effective, label, tuple(files), merge_rows(tables, facts, name))
        for (year, effective), (label, files, tables) in sorted(grouped.items())
    )


def _sources(kind: str, folder: str, pattern: str) -> list[tuple[str, list[str]]]:
    dropped = drop_in_files(folder, pattern)
    if dropped:
        return [(str(p), _lines(read_bytes(p))) for p in dropped]
    bundled = resources.files("rehabclaim.data").joinpath("cms")
    return [(f"cms/{name}", _lines(bundled.joinpath(name).read_bytes())) for name in BUNDLED[kind]]


def _lines(raw: bytes) -> list[str]:
    # CMS text files are Latin-1 (the MUE file's AMA notice has a registered sign) or UTF-8; Latin-1 never
    # fails to decode.
    try:
        return raw.decode("utf-8-sig").splitlines(True)
    except UnicodeDecodeError:
        return raw.decode("latin-1").splitlines(True)


def _load(kind: str, folder: str, pattern: str, parse: Callable[[Iterable[str], str], T]) -> tuple[list[T], list[str]]:
    sources = _sources(kind, folder, pattern)
    return [parse(lines, origin) for origin, lines in sources], [origin for origin, _ in sources]


def load_cms_tables(catalog: Catalog | None = None) -> CmsTables:
    """Load every table from the bundled files or the drop-in folder, as they are now; rows are kept for the
    codes of ``catalog`` (the bundled catalog when None). A malformed file raises DataFileError naming file,
    line and field, and nothing is loaded."""
    keep = frozenset((catalog or load_catalog()).codes)
    ptp_parts, ptp_files = _load("ncci", "ncci", "*", lambda lines, origin: parse_ptp(lines, origin, keep))
    mue_parts, mue_files = _load("mue", "mue", "*", lambda lines, origin: parse_mue(lines, origin, keep))
    rvu_sources = _sources("rvu", "pfs", "PPRRVU*")
    rvu_parts = [
        (origin, release_month_in_banner(lines), parse_rvus(lines, origin, keep)) for origin, lines in rvu_sources
    ]
    gpci_parts, gpci_files = _load("gpci", "pfs", "GPCI*", parse_gpci)
    return CmsTables(
        ptp=PtpTable(edit for part in ptp_parts for edit in part),
        mue=merge_rows(mue_parts, MUE_FACTS, "code"),
        rvus=_releases(rvu_parts, RVU_FACTS, "code"),
        gpci=_releases(
            [(origin, None, part) for origin, part in zip(gpci_files, gpci_parts, strict=True)],
            GPCI_FACTS,
            "MAC and locality",
        ),
        files=tuple(ptp_files + mue_files + [origin for origin, _ in rvu_sources] + gpci_files),
    )
