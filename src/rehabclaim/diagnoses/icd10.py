"""ICD-10-CM code spelling, and the compact code index of a release, built once and cached on disk.

Importing ``simple-icd-10-cm`` costs about 2 s and 190 MB, too much for each CLI call or batch worker. The
first use writes every category/subcategory code with a billable flag to a small text file in the cache
folder, named by the package version; later processes read that file (tens of milliseconds). A drop-in CMS
order file is cached the same way, named by a digest of its bytes. Cache files are written through
``rehabclaim.atomic`` (a temporary file renamed into place), so concurrent first runs never see half a file
and a failed build leaves nothing behind; they hold no patient data, so they get the usual mode.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rehabclaim.atomic import write_atomic
from rehabclaim.datafiles import DataFileError

PACKAGE = "simple-icd-10-cm"
# a letter, a digit, a letter or digit (C4A, M1A), then up to four more: every ICD-10-CM code has this shape
_CODE_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")


def normalize(code: str) -> str:
    """Upper case, no dot, no spaces: how the index stores codes."""
    return code.strip().upper().replace(".", "")


def with_dot(code: str) -> str:
    """ICD-10-CM writes a dot after the third character."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def is_code_shaped(normalized: str) -> bool:
    """Whether a normalized string could be an ICD-10-CM code on some date (``BACKPAIN`` never is)."""
    return _CODE_SHAPE.fullmatch(normalized) is not None


def cache_dir() -> Path:
    explicit = os.environ.get("REHABCLAIM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rehabclaim"


def package_version() -> str | None:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def package_index(folder: Path, installed: str) -> dict[str, bool]:
    """The installed package's code index, from the cache (built on first use)."""
    return read_or_build(folder / f"icd10cm-index-{installed}.tsv")


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


def index_lines(codes: dict[str, bool]) -> list[str]:
    """A code index as cache lines (the inverse of reading the cache)."""
    return [f"{code}\t{1 if billable else 0}" for code, billable in codes.items()]


def read_or_build(path: Path, derive: Callable[[], list[str]] | None = None) -> dict[str, bool]:
    """The index cached at ``path``; when there is none, ``derive`` (the package by default) builds it first."""
    if path.exists():
        text = path.read_text(encoding="ascii")
    else:
        text = "".join(f"{line}\n" for line in (derive or _derive_index_lines)())
        with contextlib.suppress(OSError):  # a cache folder that cannot be written: built again next time
            write_atomic(path, text.encode("ascii"), private=False)
    fields = text.replace("\n", "\t").split("\t")  # one split: twice as fast as a split per line
    if fields[-1] != "" or len(fields) % 2 != 1:
        raise DataFileError(f"{path}: a damaged cache file (not code<TAB>flag lines); delete it to rebuild it")
    return dict(zip(fields[0:-1:2], (flag == "1" for flag in fields[1::2]), strict=True))


_read_or_build = read_or_build  # the name earlier callers and tests use
