"""``rehabclaim ask``: a coding question answered from our own documentation, ranked, with the rule ids and
sources quoted; a concrete case in the question is answered by running the engine.

How a question is read (words from ``data/ask.toml``, shorthand from ``data/shorthand.toml``):

- shorthand is expanded ("ther ex" -> therapeutic exercise -> 97110, via the catalog's search); a shorthand
  of one or two letters (TE, MT, US, HP) counts only when written in capitals, so "us" or "te" in a sentence
  is not ultrasound or therapeutic exercise;
- billers' words are widened with ``ask.toml``'s synonyms ("base code" -> primary code, "OT" -> occupational
  therapy GO), words only, never a code;
- the words left after the stop words, and any code, are searched (FTS5, bm25); a code named in the question
  boosts the documents about it, more when their title names it (a modifier named likewise); a document
  whose title holds more of the question's words ranks up (the section *about* the question over one that
  mentions it);
- a concrete case is computed: codes with minutes ("units for 97110 33 min and 97140 7 min?") -> the units
  and their why (the named payer's method, else CMS); a fee word, a code and maybe a year ("fee for 97110
  in 2026?") -> the Medicare fee, as is a pay word with one code ("does Medicare pay 97110?") or with "how
  much"; two codes or more without minutes or an amount asked for ("is 97530 with 97140 ok for Medicare?",
  "will Medicare pay 97760 with L1906?") -> a scrub of a made-up visit with those codes (15 minutes each
  timed code) for the named payer, listing the findings on those codes with their rule ids. A year is four
  digits standing alone (the digits of L1906 are not one).

A computed answer cites first the rules it fired and the reference section that explains its method
(``ask.toml`` [computed]). Nothing found and nothing computed: the answer says "not in our docs".
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from functools import cache
from importlib.resources.abc import Traversable
from typing import Any, Literal

import msgspec

from rehabclaim.assistant.index import Index, Row, codes_in, documents, open_index, stems
from rehabclaim.catalog import Catalog
from rehabclaim.catalog.search import CodeIndex
from rehabclaim.datafiles import load_toml
from rehabclaim.model import Visit
from rehabclaim.payers import PayerPolicy
from rehabclaim.payers.policy import DEFAULT_KEY
from rehabclaim.reference import Reference
from rehabclaim.services import catalog as catalog_service
from rehabclaim.services import fees as fee_service
from rehabclaim.services.errors import BadInput, Refusal
from rehabclaim.services.scrub import scrub_visit

MAX_QUESTION_CHARS = 1000
MAX_LIMIT = 20
NOT_FOUND = "not in our docs"
CODE_BOOST = 0.5  # a document about a code the question names scores (1 + 0.5 per such code) times its bm25
TITLE_NAME_BOOST = 0.5  # and (1 + 0.5 per code or modifier the question names that its title names)
TITLE_WORDS_BOOST = 1.0  # and (1 + 1.0 x the share of the question's words its title holds, weighted by rarity)
CANDIDATES = 60  # rows read from the index before the code boost and the merge of a section's chunks
ASSUMED_MINUTES = 15  # a timed code in a pair question: one unit's worth
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_COUNT = re.compile(r"[0-9]{1,3}")  # minutes, units: the engine computes with them, the search does not
_YEAR = re.compile(r"(?<![A-Za-z0-9])(?:19|20)[0-9]{2}(?![A-Za-z0-9])")  # a year, not L1906's digits
_TOKEN = re.compile(r"[A-Za-z0-9]+")

Kind = Literal["rule", "code", "payer", "note"]


class Hit(msgspec.Struct):
    """One ranked source: ``id`` is the rule id, the code, the payer key or ``file.md s. heading``; ``source``
    is where its facts come from as the text writes it; ``link`` where the full text is."""

    kind: Kind
    id: str
    title: str
    snippet: str
    source: str
    score: float  # higher is better (bm25, sign turned, times the code boost)
    link: str


class Computed(msgspec.Struct):
    """The engine's answer to the concrete case in the question: ``kind`` units | scrub | fee, a one-line
    ``answer``, the ``reasons`` (the why of each line, each finding), the ``rules`` cited and the service's
    whole result (``rehabclaim units|scrub|fee --json``), or ``error`` when the engine refused the case;
    ``sources`` the reference sections that explain how it was computed (cited first among the hits)."""

    kind: Literal["units", "scrub", "fee"]
    answer: str
    reasons: list[str]
    rules: list[str]
    result: dict[str, Any] | None = None
    error: str | None = None
    sources: list[str] = []


class Answer(msgspec.Struct):
    """``rehabclaim ask --json`` and ``POST /v1/ask``: ``answer`` is the computed result's line, else the best
    source's title, else "not in our docs" (``found`` false); ``codes`` the codes read from the question
    (shorthand included); ``query`` the full-text query run."""

    question: str
    answer: str
    found: bool
    codes: list[str]
    query: str
    computed: Computed | None
    hits: list[Hit]


class _Words(msgspec.Struct, frozen=True):
    stopwords: frozenset[str]
    units: frozenset[str]
    fee: frozenset[str]
    pay: frozenset[str]
    amount: tuple[str, ...]  # phrases
    minutes: re.Pattern[str]
    synonyms: tuple[tuple[re.Pattern[str], str], ...]
    modifiers: frozenset[str]
    computed: dict[str, str]  # kind of computation -> the reference section that explains it


# Cached: package data that cannot change while the process runs (like the catalog's shorthand).
@cache
def _words() -> _Words:
    table = load_toml("ask.toml")
    suffixes = "|".join(re.escape(s) for s in sorted(table["minutes"]["suffixes"], key=len, reverse=True))
    minutes = re.compile(
        rf"(?<![A-Za-z0-9])({codes_pattern()})\s*(?:for|=|:|x|@)?\s*([0-9]{{1,3}})\s*(?:{suffixes})(?![A-Za-z])",
        re.IGNORECASE,
    )
    return _Words(
        frozenset(table["stopwords"]["words"]),
        frozenset(table["intents"]["units"]),
        frozenset(table["intents"]["fee"]),
        frozenset(table["intents"]["pay"]),
        tuple(table["intents"]["amount"]),
        minutes,
        _patterns(table["synonyms"]),
        frozenset(table["modifiers"]["names"]),
        dict(table["computed"]),
    )


def codes_pattern() -> str:
    return r"[0-9]{4}[0-9TF]|[A-Va-v][0-9]{4}"


def _patterns(table: dict[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(whole-word pattern, expansion) per key, longest key first; a key of one or two letters only in
    capitals."""
    patterns = []
    for key, expansion in sorted(table.items(), key=lambda item: -len(item[0])):
        short = len(key.replace("-", "").replace("/", "")) <= 2
        flags = 0 if short else re.IGNORECASE
        wanted = key.upper() if short else key
        patterns.append((re.compile(rf"(?<![A-Za-z0-9]){re.escape(wanted)}(?![A-Za-z0-9])", flags), expansion))
    return tuple(patterns)


@cache
def _shorthand() -> tuple[tuple[re.Pattern[str], str], ...]:
    return _patterns(load_toml("shorthand.toml")["shorthand"])


def _synonym_words(question: str) -> list[str]:
    """The words of every synonym in ``question`` (searched as well; never a code)."""
    words: list[str] = []
    for pattern, expansion in _words().synonyms:
        if pattern.search(question):
            words.extend(_WORD.findall(expansion.lower()))
    return words


def _modifiers_named(question: str) -> set[str]:
    """The modifiers ``question`` names, as written (capitals: "CO" the modifier, not "co" in a word)."""
    return set(_TOKEN.findall(question)) & _words().modifiers


def _expand(question: str, index: CodeIndex) -> tuple[list[str], list[str]]:
    """(expansion words, codes) for the shorthand in ``question``: each shorthand's expansion and the code
    the catalog's search ranks first for it."""
    words: list[str] = []
    codes: list[str] = []
    text = question
    for pattern, expansion in _shorthand():
        if pattern.search(text):
            text = pattern.sub(" ", text)
            words.extend(_WORD.findall(expansion.lower()))
            best = index.search(expansion, 1)
            if best:
                codes.append(best[0].code.code)
    return words, codes


_code_indexes: dict[int, tuple[Catalog, CodeIndex]] = {}  # by catalog identity, holding it (never stale)


def _code_index(catalog: Catalog) -> CodeIndex:
    kept = _code_indexes.get(id(catalog))
    if kept is not None and kept[0] is catalog:
        return kept[1]
    if len(_code_indexes) >= 4:
        _code_indexes.pop(next(iter(_code_indexes)))
    built = CodeIndex(catalog)
    _code_indexes[id(catalog)] = (catalog, built)
    return built


def _terms(question: str, extra_words: list[str], codes: list[str]) -> list[str]:
    """The search terms, each once: the question's words and the expansions' (a hyphenated word as a phrase)
    without stop words, counts and codes, then the codes."""
    stop = _words().stopwords
    terms: list[str] = []
    for word in [*_WORD.findall(question.lower()), *extra_words]:
        parts = [p for p in word.split("-") if p]
        if len(parts) > 1:
            terms.append(" ".join(parts))  # "l-code" -> the phrase "l code"
        elif word not in stop and len(word) > 1 and not codes_in(word) and not _COUNT.fullmatch(word):
            terms.append(word)
    terms.extend(code.lower() for code in codes)
    return list(dict.fromkeys(terms))


def _fts_query(terms: list[str]) -> str:
    return " OR ".join(f'"{term}"' for term in terms)


class _Question(msgspec.Struct, frozen=True):
    """What ranks a row: the codes the question names (shorthand included), the codes and modifiers it
    names itself, and the stems of its words with their weight (rarity among the documents)."""

    codes: frozenset[str]
    named: frozenset[str]
    stems: dict[str, float]


def _score(row: Row, question: _Question) -> float:
    title_tokens = set(_TOKEN.findall(row.title.upper()))
    total = sum(question.stems.values())
    title_words = sum(question.stems.get(stem, 0.0) for stem in stems(row.title)) / total if total else 0.0
    boost = (
        (1 + CODE_BOOST * len(question.codes & row.codes))
        * (1 + TITLE_NAME_BOOST * len(question.named & title_tokens))
        * (1 + TITLE_WORDS_BOOST * title_words)
    )
    return round(-row.rank * boost, 3)


def _question(index: Index, terms: list[str], codes: list[str], named: frozenset[str]) -> _Question:
    words = stems(" ".join(term for term in terms if term not in codes))
    return _Question(frozenset(codes), named, {stem: index.idf(stem) for stem in words})


def cites(hit_id: str, cited: set[str]) -> bool:
    """``hit_id`` is one of ``cited``: a rule id, or a note section by its number ("units.md s. 3" is
    "units.md s. 3. Allocating units ...")."""
    return hit_id in cited or any(hit_id.startswith((cite + ".", cite + " ")) for cite in cited)


def _missing(cited: set[str], rows: list[Row]) -> list[str]:
    """The sources a computed answer cites that the search did not find (still shown: they explain it)."""
    return [cite for cite in sorted(cited) if not any(cites(row.key, {cite}) for row in rows)]


def _hits(rows: list[Row], question: _Question, cited: set[str], limit: int) -> list[Hit]:
    """The best chunk of each document, scored by ``_score``; the rules and the section ``cited`` by the
    computed answer first."""
    best: dict[tuple[str, str], Hit] = {}
    for row in rows:
        score = _score(row, question)
        key = (row.kind, row.key)
        if key not in best or best[key].score < score:
            kind: Kind = row.kind  # type: ignore[assignment]  # the index holds only these four
            best[key] = Hit(kind, row.key, row.title, " ".join(row.snippet.split()), row.source, score, row.link)
    ranked = sorted(best.values(), key=lambda hit: (not cites(hit.id, cited), -hit.score, hit.kind, hit.id))
    return [hit for hit in ranked if hit.score > 0][:limit]


# --- concrete cases ------------------------------------------------------------------------------------


def _payer(reference: Reference, question: str) -> PayerPolicy | None:
    text = f" {' '.join(_WORD.findall(question.lower()))} "
    for policy in reference.configured_payers():
        names = {policy.key.replace("_", " "), policy.name.lower()}
        if any(f" {' '.join(_WORD.findall(name))} " in text for name in names):
            return policy
    return None


def _year(question: str) -> int | None:
    found = _YEAR.findall(question)
    return int(found[0]) if found else None


def _units_case(reference: Reference, pairs: list[tuple[str, int]], payer: PayerPolicy | None) -> Computed:
    method = payer.units.method if payer else "cms"
    try:
        plan = catalog_service.units(reference, services=pairs, method=method)
    except Refusal as exc:
        return Computed("units", f"cannot compute the units: {exc}", [], [], error=str(exc))
    lines = ", ".join(f"{line.code} {line.units} unit{'s' * (line.units != 1)}" for line in plan.lines)
    answer = f"{lines} ({plan.method}: {plan.total_timed_minutes} timed minutes, {plan.total_timed_units} units)"
    reasons = [f"{line.code}: {line.why}" for line in plan.lines]
    explained = _words().computed
    if method != "cms":
        source = explained["units_per_code"]
    else:
        source = explained["units_one_code" if len(plan.lines) == 1 else "units_cms"]
    return Computed("units", answer, reasons, [], msgspec.to_builtins(plan), sources=[source])


def _fee_case(reference: Reference, code: str, year: int | None) -> Computed:
    try:
        result = fee_service.fee(reference, code=code, year=year)
    except Refusal as exc:
        return Computed("fee", f"no Medicare fee for {code}: {exc}", [], [], error=str(exc))
    answer = f"{result.code} on {result.date}: ${result.per_unit:.2f} per unit at locality {result.locality}"
    reasons = [result.why]
    if result.therapy_mppr:
        reasons.append(f"a further unit the same day: ${result.further_unit:.2f} (therapy MPPR)")
    return Computed("fee", answer, reasons, [], msgspec.to_builtins(result), sources=[_words().computed["fee"]])


def _discipline(reference: Reference, codes: list[str]) -> str:
    counts: Counter[str] = Counter()
    for code in codes:
        found = reference.catalog.get(code)
        counts.update(found.disciplines if found else ())
    return counts.most_common(1)[0][0] if counts else "PT"


def _scrub_case(reference: Reference, codes: list[str], payer: PayerPolicy | None, year: int | None) -> Computed:
    known = [code for code in codes if reference.catalog.get(code) is not None]
    unknown = [code for code in codes if code not in known]
    payer_key = payer.key if payer else DEFAULT_KEY
    services = []
    for code in known:
        found = reference.catalog.get(code)
        timed = found is not None and found.timed
        services.append({"code": code, "minutes": ASSUMED_MINUTES} if timed else {"code": code})
    visit = msgspec.convert(
        {
            "id": "ask",
            "date": date(year or fee_service.DEFAULT_YEAR, 1, 1).isoformat(),
            "payer": payer_key,
            "discipline": _discipline(reference, known),
            "services": services,
        },
        Visit,
    )
    try:
        result = scrub_visit(reference, visit=visit)
    except Refusal as exc:
        return Computed("scrub", f"cannot scrub these codes: {exc}", [], [], error=str(exc))
    findings = [f for f in result.findings if f.code is not None]  # visit-level ones need a real visit
    payer_name = payer.name if payer else "a payer without a profile (the default profile)"
    together = " with ".join(known)
    if findings:
        worst = "errors" if any(f.severity == "error" for f in findings) else "warnings"
        answer = f"{together} for {payer_name}: {worst}: " + "; ".join(f"{f.rule} on {f.code}" for f in findings)
    else:
        answer = f"{together} for {payer_name}: no finding on these codes (no NCCI PTP edit, no code rule fires)"
    reasons = [f"{f.rule} ({f.severity}) {f.message}" for f in findings]
    reasons.append(
        f"scrubbed as a {visit.discipline} visit on {visit.date}, each timed code {ASSUMED_MINUTES} minutes; "
        "visit-level checks (diagnosis, plan of care) left out: the question gives no visit"
    )
    reasons.extend(f"{code}: not in our catalog, left out" for code in unknown)
    rules = list(dict.fromkeys(f.rule for f in findings))
    return Computed("scrub", answer, reasons, rules, msgspec.to_builtins(result))


def _computed(reference: Reference, question: str, codes: list[str]) -> Computed | None:
    words = _words()
    question_words = set(_WORD.findall(question.lower()))
    pairs = [(code.upper(), int(minutes)) for code, minutes in words.minutes.findall(question)]
    payer = _payer(reference, question)
    money = question_words & (words.fee | words.pay)
    spaced = f" {' '.join(_WORD.findall(question.lower()))} "
    amount = question_words & words.fee or (money and any(f" {phrase} " in spaced for phrase in words.amount))
    if pairs and (question_words & words.units or not money):
        return _units_case(reference, pairs, payer)
    if codes and (amount or (money and len(codes) == 1)):
        return _fee_case(reference, codes[0], _year(question))
    if len(codes) >= 2:
        return _scrub_case(reference, codes, payer, _year(question))
    return None


# --- the question --------------------------------------------------------------------------------------


def ask(reference: Reference, *, question: str, limit: int = 5, notes: Traversable | None = None) -> Answer:
    """Answer ``question`` from our documentation (``notes``: the reference notes folder, the bundled one by
    default) and, for a concrete case, the engine. BadInput naming ``question`` or ``limit``."""
    text = question.strip()
    if not text:
        raise BadInput("question", "empty: ask a coding question")
    if len(text) > MAX_QUESTION_CHARS:
        raise BadInput("question", f"at most {MAX_QUESTION_CHARS} characters, got {len(text)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput("limit", f"expected 1 to {MAX_LIMIT}, got {limit}")
    extra_words, shorthand_codes = _expand(text, _code_index(reference.catalog))
    codes = list(dict.fromkeys([*codes_in(text), *shorthand_codes]))
    terms = _terms(text, [*extra_words, *_synonym_words(text)], codes)
    query = _fts_query(terms)
    index = open_index(documents(reference, notes))
    rows = index.search(query, CANDIDATES) if query else []
    computed = _computed(reference, text, [c for c in codes_in(text) if c not in shorthand_codes] or codes)
    cited = set(computed.rules + computed.sources) if computed else set()
    rows.extend(index.sections(_missing(cited, rows), rank=min((row.rank for row in rows), default=-1.0)))
    named = frozenset({*codes_in(text), *_modifiers_named(text)})
    hits = _hits(rows, _question(index, terms, codes, named), cited, limit)
    if computed is not None:
        answer = computed.answer
    elif hits:
        answer = f"see {hits[0].id}" if hits[0].kind == "note" else f"see {hits[0].id}: {hits[0].title}"
    else:
        answer = NOT_FOUND
    return Answer(text, answer, bool(hits or computed), codes, query, computed, hits)
