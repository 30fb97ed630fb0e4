"""The phrase table: what therapists write -> the code it usually indicates (``data/assistant/phrases.toml``
plus a clinic's drop-in ``assistant/*.toml`` rows, which are tried first). Loading compiles every term to one
regular expression; a bad row refuses the file naming the row and the field."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from rehabclaim.datafiles import DataFileError, load_toml, read_utf8
from rehabclaim.settings import drop_in_files

BUNDLED = "assistant/phrases.toml"
NO_CODE = "none"
DEFAULT_CONFIDENCE = 0.9
_ROW_FIELDS = frozenset(
    {
        "code",
        "terms",
        "abbrev",
        "patterns",
        "near",
        "not_near",
        "needs_minutes",
        "disciplines",
        "addon",
        "group",
        "question",
        "codes",
        "confidence",
        "source",
    }
)
_WORD_LISTS = (
    "negation",
    "distance",
    "distance_after",
    "total_timed",
    "total_treatment",
    "session_in",
    "session_out",
    "rest",
    "assistance",
    "date_labels",
    "plan",
    "cotreat",
    "device_training",
    "device_fitting",
)
DISCIPLINE_LABELS = "discipline_labels"  # [grammar.discipline_labels]: PT/OT/SLP -> its abbreviations


def words_pattern(words: Sequence[str], case_sensitive: bool = False) -> re.Pattern[str] | None:
    """One expression matching any of ``words`` whole (a space also matches '-', '.' or nothing); None for
    no words. Longer words are tried first."""
    if not words:
        return None
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        pieces = [re.escape(piece) for piece in word.split()]
        parts.append(r"[\s.\-]*".join(pieces))
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(parts)})(?![A-Za-z0-9])", flags)


@dataclass(frozen=True, slots=True)
class PhraseRow:
    """One row: the words it matches and when it applies (see the comments in phrases.toml)."""

    index: int
    origin: str
    code: str  # NO_CODE: the words name no billable service
    matchers: tuple[re.Pattern[str], ...]
    near: re.Pattern[str] | None
    not_near: re.Pattern[str] | None
    needs_minutes: bool
    disciplines: frozenset[str]
    addon: bool
    group: bool  # a group service: the services named in its clause were done in the group
    question: str | None
    codes: tuple[str, ...]
    confidence: float
    source: str

    def applies_to(self, discipline: str) -> bool:
        return not self.disciplines or discipline in self.disciplines


@dataclass(frozen=True, slots=True)
class Grammar:
    """The words the note grammar reads (negation, distances, totals...)."""

    feet_above: int
    lists: Mapping[str, re.Pattern[str] | None]
    raw: Mapping[str, tuple[str, ...]]
    labels: Mapping[str, re.Pattern[str] | None]  # discipline -> its abbreviations (case-sensitive)

    def pattern(self, name: str) -> re.Pattern[str] | None:
        return self.lists.get(name)


@dataclass(frozen=True, slots=True)
class PhraseTable:
    rows: tuple[PhraseRow, ...]
    grammar: Grammar


def _strings(value: Any, origin: str, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise DataFileError(f"{origin}: field '{field}' expected a list of non-empty strings")
    return tuple(value)


def _row(raw: Any, index: int, origin: str, known_codes: frozenset[str]) -> PhraseRow:
    where = f"{origin} phrase[{index}]"
    if not isinstance(raw, dict):
        raise DataFileError(f"{where}: expected a table")
    unknown = sorted(set(raw) - _ROW_FIELDS)
    if unknown:
        raise DataFileError(f"{where}: field '{unknown[0]}' is not read")
    code = raw.get("code")
    if not isinstance(code, str) or (code != NO_CODE and code not in known_codes):
        raise DataFileError(f"{where}: field 'code' expected a catalog code or \"none\", got {code!r}")
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise DataFileError(f"{where}: field 'source' is required")
    matchers = [
        words_pattern(_strings(raw.get("terms", []), where, "terms")),
        words_pattern(_strings(raw.get("abbrev", []), where, "abbrev"), case_sensitive=True),
    ]
    for pattern in _strings(raw.get("patterns", []), where, "patterns"):
        try:
            matchers.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise DataFileError(f"{where}: field 'patterns' {pattern!r} is not a regular expression ({exc})") from None
    compiled = tuple(m for m in matchers if m is not None)
    if not compiled:
        raise DataFileError(f"{where}: no terms, abbrev or patterns")
    confidence = raw.get("confidence", DEFAULT_CONFIDENCE)
    if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise DataFileError(f"{where}: field 'confidence' expected a number from 0 to 1")
    question = raw.get("question")
    if question is not None and not isinstance(question, str):
        raise DataFileError(f"{where}: field 'question' expected text")
    return PhraseRow(
        index=index,
        origin=origin,
        code=code,
        matchers=compiled,
        near=words_pattern(_strings(raw.get("near", []), where, "near")),
        not_near=words_pattern(_strings(raw.get("not_near", []), where, "not_near")),
        needs_minutes=bool(raw.get("needs_minutes", False)),
        disciplines=frozenset(_strings(raw.get("disciplines", []), where, "disciplines")),
        addon=bool(raw.get("addon", False)),
        group=bool(raw.get("group", False)),
        question=question,
        codes=_strings(raw.get("codes", []), where, "codes"),
        confidence=float(confidence),
        source=source,
    )


def _rows(document: Mapping[str, Any], origin: str, known_codes: frozenset[str], first: int) -> list[PhraseRow]:
    rows = document.get("phrase", [])
    if not isinstance(rows, list):
        raise DataFileError(f"{origin}: 'phrase' expected [[phrase]] tables")
    return [_row(raw, first + offset, origin, known_codes) for offset, raw in enumerate(rows)]


def _grammar(document: Mapping[str, Any], extra: Sequence[Mapping[str, Any]]) -> Grammar:
    section = document.get("grammar", {})
    raw: dict[str, tuple[str, ...]] = {}
    for name in _WORD_LISTS:
        words = list(_strings(section.get(name, []), BUNDLED, f"grammar.{name}"))
        for added in extra:
            words.extend(_strings(added.get("grammar", {}).get(name, []), "drop-in assistant file", f"grammar.{name}"))
        raw[name] = tuple(words)
    lists = {name: words_pattern(words) for name, words in raw.items()}
    feet_above = section.get("feet_above", 90)
    if not isinstance(feet_above, int) or feet_above < 1:
        raise DataFileError(f"{BUNDLED}: field 'grammar.feet_above' expected a whole number above 0")
    return Grammar(feet_above=feet_above, lists=lists, raw=raw, labels=_labels(section, extra))


def _labels(section: Mapping[str, Any], extra: Sequence[Mapping[str, Any]]) -> dict[str, re.Pattern[str] | None]:
    tables = [(BUNDLED, section.get(DISCIPLINE_LABELS, {}))]
    tables += [("drop-in assistant file", added.get("grammar", {}).get(DISCIPLINE_LABELS, {})) for added in extra]
    words: dict[str, list[str]] = {}
    for origin, table in tables:
        if not isinstance(table, dict):
            raise DataFileError(f"{origin}: field 'grammar.{DISCIPLINE_LABELS}' expected a table")
        for discipline, labels in table.items():
            words.setdefault(discipline, []).extend(
                _strings(labels, origin, f"grammar.{DISCIPLINE_LABELS}.{discipline}")
            )
    return {discipline: words_pattern(labels, case_sensitive=True) for discipline, labels in words.items()}


# Cached per catalog: the bundled file is package data that cannot change while the process runs, and parsing
# it was nearly all of a note's reading time. Drop-in files are still read on every call.
@lru_cache(maxsize=8)
def _bundled(known_codes: frozenset[str]) -> tuple[Mapping[str, Any], tuple[PhraseRow, ...]]:
    document = MappingProxyType(load_toml(BUNDLED))
    return document, tuple(_rows(document, BUNDLED, known_codes, 0))


def load_phrase_table(known_codes: frozenset[str]) -> PhraseTable:
    """Read now (the drop-in folder may change; the bundled file is parsed once per catalog, the regular
    expressions are cached by ``re``). The bundled rows after the drop-in rows (a clinic's abbreviations win);
    codes must be in ``known_codes`` (the catalog). DataFileError naming the file, the row and the field otherwise."""
    document, bundled = _bundled(known_codes)
    clinic_rows: list[PhraseRow] = []
    extra_documents = []
    for path in drop_in_files("assistant", "*.toml"):
        try:
            added = tomllib.loads(read_utf8(path))
        except tomllib.TOMLDecodeError as exc:
            raise DataFileError(f"{path}: {exc}") from None
        extra_documents.append(added)
        clinic_rows.extend(_rows(added, str(path), known_codes, len(clinic_rows)))
    return PhraseTable(rows=(*clinic_rows, *bundled), grammar=_grammar(document, extra_documents))
