"""Code search that understands the shorthand therapists write ("therex", "NMR", "HP/CP", "e-stim").

Ranking: each query word scores its inverse document frequency when a code's description, keywords or
category hold it (keywords count a little more: they are how clinicians say it); a query phrase found whole
in a keyword or the description adds a bonus; a code typed exactly ranks first. Deleted codes rank lower.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

from rehabclaim.catalog.codes import Catalog, Code, load_catalog
from rehabclaim.datafiles import load_toml

_WORD = re.compile(r"[a-z0-9]+")
KEYWORD_WEIGHT = 1.5
PHRASE_BONUS = 2.0
EXACT_CODE_SCORE = 100.0
DELETED_FACTOR = 0.5


@dataclass(frozen=True, slots=True)
class SearchHit:
    code: Code
    score: float
    matched: tuple[str, ...]


def stem(word: str) -> str:
    """A deliberately small stemmer: enough to match training/train and orthotics/orthotic."""
    for suffix in ("ing", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower())]


# Cached: compiled from shorthand.toml, package data that cannot change while the process runs.
@cache
def _shorthand_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    table: dict[str, str] = load_toml("shorthand.toml")["shorthand"]
    ordered = sorted(table.items(), key=lambda item: -len(item[0]))  # "hp/cp" before "hp"
    return tuple(
        (re.compile(rf"(?<![a-z0-9]){re.escape(key.lower())}(?![a-z0-9])"), expansion) for key, expansion in ordered
    )


def expand_shorthand(query: str) -> str:
    """Append the expansion of every shorthand found in ``query`` (the shorthand itself stays)."""
    text = query.lower()
    expansions = []
    for pattern, expansion in _shorthand_patterns():
        if pattern.search(text):
            expansions.append(expansion)
            text = pattern.sub(" ", text)
    return " ".join([query.lower(), *expansions])


class CodeIndex:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.fields: dict[str, tuple[set[str], set[str]]] = {}
        self.phrases: dict[str, tuple[str, ...]] = {}
        document_frequency: Counter[str] = Counter()
        for code in catalog.codes.values():
            text_words = set(words(f"{code.description} {code.category.replace('_', ' ')}"))
            keyword_words = set(words(" ".join(code.keywords)))
            self.fields[code.code] = (text_words, keyword_words)
            self.phrases[code.code] = tuple(p.lower() for p in (*code.keywords, code.description))
            document_frequency.update(text_words | keyword_words)
        total = len(catalog.codes)
        self.idf = {w: math.log(1 + total / n) for w, n in document_frequency.items()}

    def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        exact = self.catalog.get(query)
        expanded = expand_shorthand(query)
        query_words = list(dict.fromkeys(words(expanded)))
        hits = []
        for code in self.catalog.codes.values():
            score, matched = self._score(code, query_words, expanded)
            if exact is code:
                score += EXACT_CODE_SCORE
            if score > 0:
                factor = DELETED_FACTOR if code.end is not None else 1.0
                hits.append(SearchHit(code, round(score * factor, 3), matched))
        hits.sort(key=lambda h: (-h.score, h.code.code))
        return hits[:limit]

    def _score(self, code: Code, query_words: list[str], expanded: str) -> tuple[float, tuple[str, ...]]:
        text_words, keyword_words = self.fields[code.code]
        score = 0.0
        matched = []
        for word in query_words:
            weight = KEYWORD_WEIGHT if word in keyword_words else 1.0 if word in text_words else 0.0
            if weight:
                score += weight * self.idf.get(word, 0.0)
                matched.append(word)
        if matched and any(self._phrase_in(phrase, expanded) for phrase in self.phrases[code.code]):
            score += PHRASE_BONUS
        return score, tuple(matched)

    @staticmethod
    def _phrase_in(phrase: str, expanded: str) -> bool:
        return " " in phrase and phrase in expanded


# Cached: built from the bundled catalog only (package data, never stale; see ``load_catalog``). Search
# over another catalog builds its own ``CodeIndex``.
@cache
def code_index() -> CodeIndex:
    return CodeIndex(load_catalog())


def search_codes(query: str, limit: int = 10) -> list[SearchHit]:
    return code_index().search(query, limit)
