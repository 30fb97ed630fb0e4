"""The CMS rule tables the engine uses, loaded once: the bundled samples, or the official files the user
dropped into the rules folder (``<rules dir>/ncci``, ``/mue``, ``/pfs``), which replace the samples.

Several files of a kind are read as one table: a code (MUE, PPRRVU of one year) or locality (GPCI of one
year) that two files give different values refuses both, naming each file and line."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

from rehabclaim.catalog import load_catalog
from rehabclaim.cms.mue import FACTS as MUE_FACTS
from rehabclaim.cms.mue import Mue, parse_mue
from rehabclaim.cms.pfs import GPCI_FACTS, RVU_FACTS, Gpci, Rvu, parse_gpci, parse_rvus
from rehabclaim.cms.ptp import PtpTable, parse_ptp
from rehabclaim.datafiles import Sourced, merge_rows, read_bytes
from rehabclaim.settings import drop_in_files

BUNDLED = {
    "ncci": ["ptp-practitioner-sample.txt"],
    "mue": ["mue-practitioner-sample.csv"],
    "rvu": ["PPRRVU2026_Jan_nonQPP-sample.csv"],
    "gpci": ["GPCI2026-sample.csv"],
}
T = TypeVar("T")
K = TypeVar("K")
R = TypeVar("R", bound=Sourced)


@dataclass(frozen=True, slots=True)
class CmsTables:
    ptp: PtpTable
    mue: dict[str, Mue]
    rvus: dict[int, dict[str, Rvu]]  # by the year in the file name (PPRRVU2026...); 0: any year
    gpci: dict[int, dict[tuple[str, str], Gpci]]  # by the year in the file name (GPCI2026...)
    files: tuple[str, ...]  # every file loaded, so a result can name the release it used

    def rvus_for(self, year: int) -> dict[str, Rvu] | None:
        return self.rvus.get(year) or self.rvus.get(0)

    def gpci_for(self, year: int) -> dict[tuple[str, str], Gpci] | None:
        return self.gpci.get(year) or self.gpci.get(0)


def _sources(kind: str, folder: str, pattern: str) -> list[tuple[str, Iterable[str]]]:
    dropped = drop_in_files(folder, pattern)
    if dropped:
        return [(str(p), _lines(p)) for p in dropped]
    bundled = resources.files("rehabclaim.data").joinpath("cms")
    return [
        (f"cms/{name}", bundled.joinpath(name).read_text(encoding="utf-8").splitlines(True)) for name in BUNDLED[kind]
    ]


def _lines(path: Path) -> list[str]:
    # CMS text files are Latin-1 or UTF-8 depending on the year; Latin-1 never fails to decode.
    raw = read_bytes(path)
    try:
        return raw.decode("utf-8-sig").splitlines(True)
    except UnicodeDecodeError:
        return raw.decode("latin-1").splitlines(True)


def year_of(origin: str) -> int:
    found = re.search(r"(?:PPRRVU|GPCI)[_ -]?(\d{4})", Path(origin).name, re.IGNORECASE)
    return int(found.group(1)) if found else 0


def _by_year(parts: list[dict[K, R]], files: list[str], facts: dict[str, str], name: str) -> dict[int, dict[K, R]]:
    years: dict[int, list[dict[K, R]]] = {}
    for part, origin in zip(parts, files, strict=True):
        years.setdefault(year_of(origin), []).append(part)
    return {year: merge_rows(same_year, facts, name) for year, same_year in years.items()}


def _load(kind: str, folder: str, pattern: str, parse: Callable[[Iterable[str], str], T]) -> tuple[list[T], list[str]]:
    sources = _sources(kind, folder, pattern)
    return [parse(lines, origin) for origin, lines in sources], [origin for origin, _ in sources]


@cache
def cms_tables() -> CmsTables:
    """The tables for this process, loaded once."""
    return load_cms_tables()


def load_cms_tables() -> CmsTables:
    """Load every table from the bundled samples or the drop-in folder; a malformed file raises
    DataFileError naming file, line and field, and nothing is loaded."""
    keep = frozenset(load_catalog().codes)
    ptp_parts, ptp_files = _load("ncci", "ncci", "*", lambda lines, origin: parse_ptp(lines, origin, keep))
    mue_parts, mue_files = _load("mue", "mue", "*", lambda lines, origin: parse_mue(lines, origin, keep))
    rvu_parts, rvu_files = _load("rvu", "pfs", "PPRRVU*", lambda lines, origin: parse_rvus(lines, origin, keep))
    gpci_parts, gpci_files = _load("gpci", "pfs", "GPCI*", parse_gpci)
    return CmsTables(
        ptp=PtpTable(edit for part in ptp_parts for edit in part),
        mue=merge_rows(mue_parts, MUE_FACTS, "code"),
        rvus=_by_year(rvu_parts, rvu_files, RVU_FACTS, "code"),
        gpci=_by_year(gpci_parts, gpci_files, GPCI_FACTS, "MAC and locality"),
        files=tuple(ptp_files + mue_files + rvu_files + gpci_files),
    )
