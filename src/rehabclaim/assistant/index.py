"""The full-text index ``rehabclaim ask`` searches: our own documentation, nothing else.

Documents: every rule's docstring (id, name, summary, doc), every code of the catalog (its facts and the
source of its row), every payer policy, and the reference notes shipped in ``data/reference`` split by
``##``/``###`` section (a long section in chunks that keep its heading; an unnumbered ``###`` subsection is
cited under its numbered parent, "modifiers.md s. 2. CQ / CO ... > De minimis standard (10%)"). One SQLite
FTS5 table (stdlib ``sqlite3``, ``tokenize='porter unicode61'``) ranked by bm25 with the title weighted over
the body, times each document's prior (a note's preamble, which only introduces the file, counts less).

Built once per set of inputs: the index is keyed by a digest of every document, kept in memory for the
process and in ``<cache dir>/ask-index-<digest>.sqlite`` (written atomically), so a changed note, rule, code
row or payer file gives a new digest and a rebuilt index, and an unchanged one is read back in milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import msgspec

from rehabclaim.atomic import write_atomic
from rehabclaim.diagnoses.icd10 import cache_dir
from rehabclaim.payers import PayerPolicy
from rehabclaim.reference import Reference
from rehabclaim.rules import RULES, Rule

INDEX_VERSION = "2"  # part of the digest: a change to the schema or the documents' shape rebuilds every index
CODE = re.compile(r"(?<![A-Za-z0-9])(?:[0-9]{4}[0-9TF]|[A-V][0-9]{4})(?![A-Za-z0-9])")  # CPT, Cat III, HCPCS II
_HEADING = re.compile(r"^(#{1,3})\s+(.*?)\s*$")
_URL = re.compile(r"https?://[^\s)>\]|,;]+")
STEM = 5  # words are compared by their first letters ("modifiers"/"modifier", "timed"/"time") outside FTS5
_WORD = re.compile(r"[a-z0-9]+")
CHUNK_CHARS = 1800  # a longer section is indexed in chunks of about this size (each under its heading)
SCHEMA = (
    "CREATE VIRTUAL TABLE docs USING fts5(kind UNINDEXED, key UNINDEXED, title, body, codes, "
    "source UNINDEXED, link UNINDEXED, prior UNINDEXED, context, tokenize='porter unicode61')"
)
# bm25 weight per column, in schema order: the title (heading, rule summary, code description) over the body;
# the context (a note's file title) a little: "8-minute rule" is the subject of every section of units.md
WEIGHTS = (0.0, 0.0, 4.0, 1.0, 2.0, 0.0, 0.0, 0.0, 1.0)
_BM25 = f"bm25(docs, {', '.join(map(str, WEIGHTS))})"
PREAMBLE_PRIOR = 0.4  # a note's text before its first section: a legend of tags and sources, rarely the answer
CODE_PRIOR = 0.6  # a code's facts: its title names the code, so it matches every question naming it; the rule
# or the note that explains what the question asks about should come first
_NUMBERED = re.compile(r"^[0-9]+[a-z]?\.")  # "2. CQ / CO", "1a. Evaluation": a section a reader cites by number


@dataclass(frozen=True, slots=True)
class Document:
    kind: str  # rule | code | payer | note
    key: str  # rule id, code, payer key, or "file.md s. heading"
    title: str
    body: str
    codes: str  # the codes the document is about, space-separated (boosted when a question names one)
    source: str  # where its facts come from, as the text writes it
    link: str  # where the full text is: an API path or the note's file in the package
    prior: float = 1.0  # the document's bm25 is multiplied by this (below 1: found, but after its peers)
    context: str = ""  # what the document is part of: a note section's file title

    def row(self) -> tuple[str, str, str, str, str, str, str, float, str]:
        return (
            self.kind,
            self.key,
            self.title,
            self.body,
            self.codes,
            self.source,
            self.link,
            self.prior,
            self.context,
        )


@dataclass(frozen=True, slots=True)
class Row:
    kind: str
    key: str
    title: str
    snippet: str
    codes: frozenset[str]
    source: str
    link: str
    rank: float  # bm25 as SQLite gives it, times the document's prior: lower (more negative) is better


def stems(text: str) -> set[str]:
    """The words of ``text`` by their first STEM letters (a crude stem, for comparing titles with questions)."""
    return {word[:STEM] for word in _WORD.findall(text.lower())}


def codes_in(text: str) -> list[str]:
    """HCPCS/CPT-shaped codes in ``text`` (upper-cased), in order, each once."""
    return list(dict.fromkeys(match.upper() for match in CODE.findall(text)))


def notes_folder() -> Traversable:
    return resources.files("rehabclaim.data").joinpath("reference")


# --- documents -----------------------------------------------------------------------------------------


def _rule_source(doc: str) -> str:
    """The rule docstring's ``Source:`` paragraph, on one line."""
    _, found, rest = doc.partition("Source:")
    return " ".join(rest.split("\n\n")[0].split()) if found else ""


def rule_documents(rules: Iterable[Rule]) -> Iterator[Document]:
    for rule in rules:
        text = f"{rule.summary}\n{rule.doc}"
        yield Document(
            "rule",
            rule.id,
            f"{rule.id} {rule.name}: {rule.summary}",
            rule.doc,
            " ".join(codes_in(text)),
            _rule_source(rule.doc),
            f"/v1/rules/{rule.id}",
        )


# Cached: the rules are code, registered at import; they cannot change while the process runs.
@cache
def _bundled_rule_documents() -> tuple[Document, ...]:
    return tuple(rule_documents(RULES))


def code_documents(reference: Reference) -> Iterator[Document]:
    for code in sorted(reference.catalog.codes.values(), key=lambda c: c.code):
        conflicts = ", ".join(code.same_region_conflicts)
        facts = [
            f"{code.kind} code, {code.category.replace('_', ' ')}, {'timed' if code.timed else 'untimed'}",
            "a therapy service (GP/GO/GN)" if code.therapy else "not a therapy service",
            f"usually billed by {', '.join(code.disciplines)}" if code.disciplines else "",
            f"add-on of {', '.join(code.addon_of)}" if code.addon_of else "",
            f"later encounters: {code.subsequent_code}" if code.subsequent_code else "",
            f"effective {code.effective}" if code.effective else "",
            f"ended {code.end}, replaced by {code.replaced_by}" if code.end else "",
            f"not with {conflicts} for the same region" if conflicts else "",
            f"keywords: {', '.join(code.keywords)}" if code.keywords else "",
        ]
        related = [code.code, *code.addon_of, code.subsequent_code or "", code.replaced_by or ""]
        yield Document(
            "code",
            code.code,
            f"{code.code} {code.description}",
            "; ".join(fact for fact in facts if fact),
            " ".join(filter(None, related)),
            code.source,
            f"/v1/codes/{code.code}",
            CODE_PRIOR,
        )


def _flatten(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}{key} " if prefix or key else prefix)
    elif value not in (None, [], ""):
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        yield f"{prefix.replace('_', ' ')}{shown}"


def payer_documents(policies: Iterable[PayerPolicy]) -> Iterator[Document]:
    skipped = {"name", "source", "key", "origin", "configured"}
    for policy in policies:
        fields = {k: v for k, v in msgspec.to_builtins(policy).items() if k not in skipped}
        yield Document(
            "payer",
            policy.key,
            f"{policy.name} payer policy",
            "; ".join(_flatten(fields)),
            " ".join(codes_in(msgspec.json.encode(fields).decode())),
            f"{policy.source} ({policy.origin})" if policy.origin else policy.source,
            f"/v1/payers/{policy.key}",
        )


def file_title(text: str) -> str:
    """A note's ``#`` title (empty when it has none)."""
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match is not None and len(match[1]) == 1:
            return match[2].strip("# ")
    return ""


def _sections(text: str) -> Iterator[tuple[str, str, str, bool]]:
    """(id heading, title, body, preamble) per ``##``/``###`` section; the text before the first is under
    the file's title (its id heading), with preamble true."""
    top = parent = ""
    heading, lines = "", []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match is None:
            lines.append(line)
            continue
        if heading or top:
            yield _section(top, parent, heading, lines)
        level, name = len(match[1]), match[2].strip("# ")
        lines = []
        if level == 1:
            top, parent, heading = name, "", ""
        elif level == 2:
            parent = heading = name
        else:
            heading = name
    if heading or top:
        yield _section(top, parent, heading, lines)


def _section(top: str, parent: str, heading: str, lines: list[str]) -> tuple[str, str, str, bool]:
    return _id_heading(top, parent, heading), _title(top, parent, heading), "\n".join(lines).strip(), not heading


def _unnumbered_subsection(parent: str, heading: str) -> bool:
    return heading != parent and bool(_NUMBERED.match(parent)) and not _NUMBERED.match(heading)


def _id_heading(top: str, parent: str, heading: str) -> str:
    """How a section is cited: its heading; an unnumbered ``###`` under a numbered ``##`` is part of that
    section ("s. 2. CQ / CO ... > De minimis standard (10%)"), so it is cited as such."""
    if _unnumbered_subsection(parent, heading):
        return f"{parent} > {heading}"
    return heading or top


def _title(top: str, parent: str, heading: str) -> str:
    """A section's own heading (a numbered ``###`` does not repeat its parent's: the parent section ranks for
    its own words; an unnumbered one is part of its parent, named with it); the text before the first
    section is titled by the file's title."""
    if _unnumbered_subsection(parent, heading):
        return f"{parent}: {heading}"
    return heading or top


def _chunks(body: str) -> Iterator[str]:
    """``body`` in pieces of about CHUNK_CHARS, cut between lines (a table row, a paragraph)."""
    piece: list[str] = []
    size = 0
    for line in body.splitlines():
        if size + len(line) > CHUNK_CHARS and piece:
            yield "\n".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += len(line) + 1
    if piece:
        yield "\n".join(piece)


def note_documents(folder: Traversable) -> Iterator[Document]:
    """The sections of every ``.md`` file in ``folder``, read now (a changed note is seen at once)."""
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            yield from _note_documents(entry.name, entry.read_bytes().decode("utf-8"))


# Cached by the file's name and whole text: a changed note is a new key, split again.
@lru_cache(maxsize=64)
def _note_documents(name: str, text: str) -> tuple[Document, ...]:
    found = []
    context = file_title(text)
    for heading, title, body, preamble in _sections(text):
        for chunk in _chunks(body) if body else [""]:
            urls = list(dict.fromkeys(_URL.findall(chunk)))[:2]
            found.append(
                Document(
                    "note",
                    f"{name} s. {heading}",
                    title,
                    chunk,
                    " ".join(codes_in(f"{title}\n{chunk}")),
                    "; ".join([name, *urls]),
                    f"rehabclaim/data/reference/{name}",
                    PREAMBLE_PRIOR if preamble else 1.0,
                    "" if preamble else context,  # the preamble's title is the file's already
                )
            )
    return tuple(found)


def documents(reference: Reference, notes: Traversable | None = None) -> list[Document]:
    """Every document ``ask`` searches, in a stable order."""
    return [
        *_bundled_rule_documents(),
        *code_documents(reference),
        *payer_documents(reference.payers[key] for key in sorted(reference.payers)),
        *note_documents(notes or notes_folder()),
    ]


def digest(docs: list[Document]) -> str:
    hasher = hashlib.sha256(f"{INDEX_VERSION}\n{SCHEMA}\n{WEIGHTS}\n".encode())
    hasher.update(msgspec.json.encode([doc.row() for doc in docs]))
    return hasher.hexdigest()


# --- the index -----------------------------------------------------------------------------------------


class Index:
    """One in-memory FTS5 database, shared by threads (queries are serialised: each takes milliseconds)."""

    def __init__(self, connection: sqlite3.Connection, built: bool, docs: list[Document]) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self.built = built  # True: built in this process; False: read from the cache file
        counts: dict[str, int] = {}
        for doc in docs:
            for stem in stems(f"{doc.title} {doc.body}"):
                counts[stem] = counts.get(stem, 0) + 1
        self._idf = {stem: math.log(1 + len(docs) / count) for stem, count in counts.items()}
        self._idf_unseen = math.log(1 + len(docs))

    def idf(self, stem: str) -> float:
        """How rare a word (by its stem) is among the documents: a rare one says more about the question."""
        return self._idf.get(stem, self._idf_unseen)

    def search(self, match: str, limit: int) -> list[Row]:
        sql = (
            f"SELECT kind, key, title, snippet(docs, 3, '', '', ' … ', 24), codes, source, link, "
            f"{_BM25} * prior AS score FROM docs WHERE docs MATCH ? ORDER BY score LIMIT ?"
        )
        with self._lock:
            rows = self._connection.execute(sql, (match, limit)).fetchall()
        return [
            Row(kind, key, title, snippet, frozenset(codes.split()), source, link, rank)
            for kind, key, title, snippet, codes, source, link, rank in rows
        ]

    def sections(self, cited: list[str], rank: float) -> list[Row]:
        """The first chunk of each document whose key is one of ``cited`` or a section of it ("units.md s. 3"
        -> "units.md s. 3. Allocating ..."), ranked ``rank``: found by key, not by the words of a question."""
        found: list[Row] = []
        sql = (
            "SELECT kind, key, title, substr(body, 1, 160), codes, source, link FROM docs "
            "WHERE key = ? OR substr(key, 1, ?) IN (?, ?) ORDER BY rowid LIMIT 1"
        )
        with self._lock:
            for cite in cited:
                row = self._connection.execute(sql, (cite, len(cite) + 1, cite + ".", cite + " ")).fetchone()
                if row is not None:
                    kind, key, title, snippet, codes, source, link = row
                    found.append(Row(kind, key, title, snippet, frozenset(codes.split()), source, link, rank))
        return found


def _build(docs: list[Document]) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.execute(SCHEMA)
    connection.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (doc.row() for doc in docs))
    connection.commit()
    return connection


def _read_cached(path: Path) -> sqlite3.Connection | None:
    try:
        data = path.read_bytes()
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.deserialize(data)
        connection.execute("SELECT count(*) FROM docs").fetchone()
        return connection
    except (OSError, sqlite3.Error):
        return None  # absent or damaged: built again


_INDEXES_KEPT = 4  # indexes alive at once in one process (a server reloading its reference, say)
_indexes: dict[str, Index] = {}
_indexes_lock = threading.Lock()


def cache_path(key: str) -> Path:
    return cache_dir() / f"ask-index-{key[:24]}.sqlite"


def open_index(docs: list[Document]) -> Index:
    """The index of ``docs``: this process's, else the cache file's, else built now (and cached)."""
    key = digest(docs)
    found = _indexes.get(key)
    if found is not None:
        return found
    path = cache_path(key)
    connection = _read_cached(path)
    built = connection is None
    if connection is None:
        connection = _build(docs)
        with contextlib.suppress(OSError):  # a cache folder that cannot be written: built again next time
            write_atomic(path, connection.serialize(), private=False)
    index = Index(connection, built, docs)
    with _indexes_lock:
        if len(_indexes) >= _INDEXES_KEPT:
            _indexes.pop(next(iter(_indexes)))
        _indexes[key] = index
    return index
