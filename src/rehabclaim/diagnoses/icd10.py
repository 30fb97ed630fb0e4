"""A compact index of the ICD-10-CM code set, derived once from ``simple-icd-10-cm`` and cached.

Importing that package costs about 2 s and 190 MB, too much for each CLI call or batch worker. The first
use writes every category/subcategory code with a billable flag to a small text file in the cache folder,
named by the package version; later processes read that file (tens of milliseconds). It is written through
``rehabclaim.atomic`` (a temporary file renamed into place), so concurrent first runs never see half a file
and a failed build leaves nothing behind; it holds no patient data, so it gets the usual mode.
"""

from __future__ import annotations

import bisect
import os
import warnings
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.metadata import version
from itertools import islice
from pathlib import Path

from rehabclaim.atomic import write_atomic
from rehabclaim.datafiles import load_toml

PACKAGE = "simple-icd-10-cm"


def normalize(code: str) -> str:
    """Upper case, no dot, no spaces: how the index stores codes."""
    return code.strip().upper().replace(".", "")


def with_dot(code: str) -> str:
    """ICD-10-CM writes a dot after the third character."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def cache_dir() -> Path:
    explicit = os.environ.get("REHABCLAIM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rehabclaim"


@dataclass(frozen=True, slots=True)
class Release:
    package_version: str
    name: str
    valid_from: date | None
    valid_through: date | None

    def covers(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_through is None or day <= self.valid_through
        )


class DiagnosisIndex:
    """Which ICD-10-CM codes exist and which are billable (leaf) codes."""

    def __init__(self, billable_by_code: dict[str, bool], release: Release) -> None:
        self.billable_by_code = billable_by_code
        self.release = release
        self._billable_sorted = sorted(c for c, b in billable_by_code.items() if b)

    def lookup(self, code: str) -> bool | None:
        """True for a billable code, False for a category with codes below it, None for no such code."""
        return self.billable_by_code.get(normalize(code))

    def is_billable(self, code: str) -> bool:
        return self.lookup(code) is True

    def exists(self, code: str) -> bool:
        return self.lookup(code) is not None

    def billable_children(self, code: str, limit: int = 10) -> list[str]:
        """Billable codes under a category, with dots, in code order."""
        prefix = normalize(code)
        found: list[str] = []
        for candidate in islice(self._billable_sorted, bisect.bisect_left(self._billable_sorted, prefix), None):
            if not candidate.startswith(prefix) or len(found) >= limit:
                break
            if candidate != prefix:
                found.append(with_dot(candidate))
        return found


def _release(package_version: str) -> Release:
    row = load_toml("icd10cm.toml").get("release", {}).get(package_version)
    if row is None:
        return Release(package_version, f"{PACKAGE} {package_version} (release dates not recorded)", None, None)
    return Release(package_version, row["name"], row.get("valid_from"), row.get("valid_through"))


def _derive_index_lines() -> list[str]:
    with warnings.catch_warnings():  # the package uses deprecated importlib.resources calls
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd  # slow import, paid once per package version

    lines = []
    for code in icd.get_all_codes(with_dots=False):
        if icd.is_chapter_or_block(code):
            continue
        lines.append(f"{normalize(code)}\t{1 if icd.is_leaf(code) else 0}")
    return lines


def _read_or_build(path: Path) -> dict[str, bool]:
    if not path.exists():
        write_atomic(path, ("\n".join(_derive_index_lines()) + "\n").encode("ascii"), private=False)
    index = {}
    with path.open(encoding="ascii") as lines:
        for line in lines:
            code, flag = line.rstrip("\n").split("\t")
            index[code] = flag == "1"
    return index


@cache
def diagnosis_index() -> DiagnosisIndex:
    package_version = version(PACKAGE)
    path = cache_dir() / f"icd10cm-index-{package_version}.tsv"
    return DiagnosisIndex(_read_or_build(path), _release(package_version))
