"""The citations of the engine's explanations, from ``data/citations.toml``, keyed by what is explained.

An explanation (a line's ``why`` or ``expected_why``) takes its citation words from here (``cited``), and
``scrub --trace`` cites the reference note and section that hold the fact (``Citation.path`` and
``Citation.key``). The notes are the package's copies in ``data/reference/``.
"""

from __future__ import annotations

import re
from importlib import resources

import msgspec

from rehabclaim.datafiles import DataFileError, convert_toml, decode_utf8

ORIGIN = "citations.toml"
NOTES = "reference"  # the package's reference notes: data/reference/<note>
_HEADING = re.compile(r"^#{2,}\s+(\d+[a-z]?)\.\s", re.MULTILINE)  # "## 3. ...", "### 1d. ..."


class Citation(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where a fact the engine explains is written down."""

    note: str  # a note in data/reference/
    section: str  # the number of its section heading
    source: str  # the public source the note gives
    text: str = ""  # the words an explanation prints (empty: only the trace cites it)

    @property
    def path(self) -> str:
        """The note's path in the package's data folder."""
        return f"{NOTES}/{self.note}"

    @property
    def key(self) -> str:
        return f"s. {self.section}"


def _load() -> dict[str, Citation]:
    raw = resources.files("rehabclaim.data").joinpath(ORIGIN).read_bytes()
    return convert_toml(decode_utf8(raw, ORIGIN), dict[str, Citation], ORIGIN)


# Read once, on import (the unit and fee modules take their words from it then): package data only, which
# cannot change while the process runs.
_CITATIONS = _load()


def citations() -> dict[str, Citation]:
    """Every citation, by what it explains (a copy: callers may not change the table)."""
    return dict(_CITATIONS)


def citation(what: str) -> Citation:
    """The citation for ``what`` (a key of citations.toml); DataFileError when the file has none."""
    found = _CITATIONS.get(what)
    if found is None:
        raise DataFileError(f"{ORIGIN}: no [{what}] citation")
    return found


def cited(what: str) -> str:
    """The words an explanation prints for ``what``; DataFileError when the entry has none."""
    text = citation(what).text
    if not text:
        raise DataFileError(f"{ORIGIN}: [{what}] text: required where an explanation prints the citation")
    return text


def note_sections(note: str) -> frozenset[str]:
    """The section numbers of a shipped reference note's headings (empty when the package has no such note)."""
    found = resources.files("rehabclaim.data").joinpath(NOTES, note)
    if not found.is_file():
        return frozenset()
    return frozenset(_HEADING.findall(found.read_text(encoding="utf-8")))
