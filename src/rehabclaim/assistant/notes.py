"""Reading a therapy note: which services it documents, for how many minutes, and what it leaves undecided.

The grammar is here; every word it reads is in the phrase table (``rehabclaim.assistant.phrases``). Steps:
blank out what looks like time but is not (totals, ``min A``, ``3x10``, ``6/10``, units, rest), find the
minutes, find the phrases and decide each from its context (discipline, nearby words, minutes written),
drop a service held/declined/refused or only planned, give each minutes expression to the service named in
its clause, then add up per code."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise

from rehabclaim.assistant.phrases import NO_CODE, PhraseRow, PhraseTable
from rehabclaim.assistant.times import (
    DistanceCheck,
    Masked,
    TimeExpr,
    Totals,
    find_dates,
    find_times,
    mask_not_time,
    read_totals,
)

LITERAL_CONFIDENCE = 0.95
NO_MINUTES_FACTOR = 0.5
_SENTENCE_END = re.compile(r"\n|[.!?](?=\s|$)")
_CLAUSE_END = re.compile(r"\n|[.!?](?=\s|$)|[,;|]|\s/\s|\.\.\.")
_LITERAL_CODE = re.compile(r"(?<![A-Za-z0-9])([0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})(?![A-Za-z0-9])")
_PAREN_MINUTES = re.compile(r"\s*\(\s*(\d{1,3})\s*(?:min\w*|['’])?\s*\)", re.IGNORECASE)
_JOINED = re.compile(r"\s*[/+&]\s*")


@dataclass(frozen=True, slots=True)
class CodeFacts:
    """What the reader needs of a catalog code."""

    timed: bool
    description: str
    addon_of: tuple[str, ...]
    disciplines: tuple[str, ...]


@dataclass(slots=True)
class Mention:
    start: int
    end: int
    code: str
    row: PhraseRow | None  # None: the code itself is written in the note
    clause: int
    sentence: int
    withheld: str | None = None  # why it is not billed ("held", "planned"), None when it is
    times: list[TimeExpr] = field(default_factory=list)
    timed_literal: bool = False  # a timed code written as such ("97110 15 min"); an L-code takes no minutes

    @property
    def owns_time(self) -> bool:
        if self.row is None:
            return self.timed_literal
        return not self.row.addon and (self.code != NO_CODE or self.row.question is not None)

    @property
    def question(self) -> str | None:
        return self.row.question if self.row is not None else None

    def minutes(self) -> int | None:
        if not self.times:
            return None
        intervals = sum(t.minutes for t in self.times if t.interval)
        plain = sum(t.minutes for t in self.times if not t.interval)
        if intervals and plain and intervals == plain:  # "TE 25 min (10:05-10:30)": one time, written twice
            return intervals
        return intervals + plain


@dataclass(frozen=True, slots=True)
class Proposal:
    """One code the note documents: its minutes (every mention added up; None when none written), the span
    of the phrase it was read from, a confidence and the reasons."""

    code: str
    minutes: int | None
    start: int
    end: int
    confidence: float
    why: str


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    start: int
    end: int
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NoteReading:
    proposals: list[Proposal]
    questions: list[Question]
    totals: Totals
    visit_date: date | None


class Segments:
    """Clauses and sentences of the note, by offset."""

    def __init__(self, text: str) -> None:
        self.sentences = [0, *(m.end() for m in _SENTENCE_END.finditer(text))]
        self.clauses = [0, *(m.end() for m in _CLAUSE_END.finditer(text))]
        self.length = len(text)

    @staticmethod
    def _index(starts: list[int], position: int) -> int:
        return max(bisect_right(starts, position) - 1, 0)

    def clause(self, position: int) -> int:
        return self._index(self.clauses, position)

    def sentence(self, position: int) -> int:
        return self._index(self.sentences, position)

    def clause_span(self, index: int) -> tuple[int, int]:
        return self._span(self.clauses, index)

    def sentence_span(self, index: int) -> tuple[int, int]:
        return self._span(self.sentences, index)

    def _span(self, starts: list[int], index: int) -> tuple[int, int]:
        end = starts[index + 1] if index + 1 < len(starts) else self.length
        return starts[index], end


def read_note(text: str, *, discipline: str, table: PhraseTable, codes: Mapping[str, CodeFacts]) -> NoteReading:
    """The services ``text`` documents for ``discipline``, the questions it leaves, its totals and date."""
    grammar = table.grammar
    segments = Segments(text)
    masked = Masked(text)
    totals = read_totals(masked, grammar)
    mask_not_time(masked, grammar)
    candidates = _candidates(text, table)
    is_distance = DistanceCheck(text, grammar, segments.clauses, list(candidates))
    times = find_times(masked.text, grammar, is_distance)
    mentions = _decide(text, candidates, discipline, segments, times, codes)
    _withhold(text, mentions, segments, table)
    _paren_minutes(masked.text, mentions)
    _give_minutes(times, mentions, segments)
    questions = _joined_questions(text, mentions)
    proposals = _proposals(text, mentions, codes, questions)
    questions.extend(_asked(text, mentions))
    questions.extend(_gaps(proposals, codes, totals))
    visit_date = next((day for _, day in find_dates(text, grammar)), None)
    return NoteReading(proposals, _unique(questions), totals, visit_date)


def _candidates(text: str, table: PhraseTable) -> dict[tuple[int, int], list[PhraseRow]]:
    found: dict[tuple[int, int], list[PhraseRow]] = {}
    for row in table.rows:
        for matcher in row.matchers:
            for match in matcher.finditer(text):
                if match.end() > match.start():
                    rows = found.setdefault((match.start(), match.end()), [])
                    if row not in rows:
                        rows.append(row)
    return found


def _decide(
    text: str,
    candidates: Mapping[tuple[int, int], list[PhraseRow]],
    discipline: str,
    segments: Segments,
    times: list[TimeExpr],
    codes: Mapping[str, CodeFacts],
) -> list[Mention]:
    """One mention per span whose rows decide it, longer spans first, no two overlapping."""
    decided: list[Mention] = []
    for (start, end), rows in candidates.items():
        clause, sentence = segments.clause(start), segments.sentence(start)
        clause_text = _slice(text, segments.clause_span(clause))
        sentence_text = _slice(text, segments.sentence_span(sentence))
        clause_timed = any(segments.clause(t.start) == clause for t in times)
        row = next(
            (
                r
                for r in rows
                if _billed_by(r.code, discipline, codes)
                and _applies(r, discipline, clause_text, sentence_text, clause_timed)
            ),
            None,
        )
        if row is not None:
            decided.append(Mention(start, end, row.code, row, clause, sentence))
    for match in _LITERAL_CODE.finditer(text):
        facts = codes.get(match.group(1))
        if facts is not None:
            start = match.start()
            clause, sentence = segments.clause(start), segments.sentence(start)
            decided.append(
                Mention(start, match.end(), match.group(1), None, clause, sentence, timed_literal=facts.timed)
            )
    decided.sort(key=lambda m: (m.start - m.end, m.start))
    kept: list[Mention] = []
    for mention in decided:
        if all(mention.end <= other.start or other.end <= mention.start for other in kept):
            kept.append(mention)
    return sorted(kept, key=lambda m: m.start)


def _billed_by(code: str, discipline: str, codes: Mapping[str, CodeFacts]) -> bool:
    """Whether the catalog says ``discipline`` bills ``code`` (a row naming no code always may apply)."""
    facts = codes.get(code)
    return facts is None or not facts.disciplines or discipline in facts.disciplines


def _slice(text: str, span: tuple[int, int]) -> str:
    return text[span[0] : span[1]]


def _applies(row: PhraseRow, discipline: str, clause: str, sentence: str, clause_timed: bool) -> bool:
    if not row.applies_to(discipline):
        return False
    if row.needs_minutes and not clause_timed:
        return False
    if row.near is not None and row.near.search(sentence) is None:
        return False
    return row.not_near is None or row.not_near.search(clause) is None


def _withhold(text: str, mentions: list[Mention], segments: Segments, table: PhraseTable) -> None:
    negation, plan = table.grammar.pattern("negation"), table.grammar.pattern("plan")
    for mention in mentions:
        clause = _slice(text, segments.clause_span(mention.clause))
        sentence_start, _ = segments.sentence_span(mention.sentence)
        if negation is not None and (found := negation.search(clause)):
            mention.withheld = f"the note says '{found.group(0)}'"
        elif plan is not None and (found := plan.search(text, sentence_start, mention.start)):
            mention.withheld = f"planned, not done ('{found.group(0)}')"


def _paren_minutes(masked: str, mentions: list[Mention]) -> None:
    for mention in mentions:
        match = _PAREN_MINUTES.match(masked, mention.end)
        if match and mention.owns_time and 0 < int(match.group(1)) <= 240:
            mention.times.append(TimeExpr(match.start(), match.end(), int(match.group(1)), False))


def _give_minutes(times: list[TimeExpr], mentions: list[Mention], segments: Segments) -> None:
    """Minutes go to the service named before them in their clause (else after them); minutes in a clause
    naming none go to the last service of the sentence that has no minutes yet."""
    owners = [m for m in mentions if m.owns_time]
    orphans = []
    for expr in times:
        clause = segments.clause(expr.start)
        in_clause = [m for m in owners if m.clause == clause]
        before = [m for m in in_clause if m.end <= expr.start]
        after = [m for m in in_clause if m.start >= expr.end]
        owner = before[-1] if before else (after[0] if after else None)
        if owner is None:
            orphans.append(expr)
        else:
            owner.times.append(expr)
    for expr in orphans:
        sentence = segments.sentence(expr.start)
        earlier = [m for m in owners if m.sentence == sentence and m.end <= expr.start and not m.times]
        if earlier:
            earlier[-1].times.append(expr)


def _joined_questions(text: str, mentions: list[Mention]) -> list[Question]:
    """``TA/ADL 18 min``: one time for an undecided phrase and a service joined to it; both are asked."""
    questions = []
    for first, second in pairwise(mentions):
        pair = (first, second)
        undecided = [m for m in pair if m.question and not m.withheld]
        if not undecided or not _JOINED.fullmatch(text[first.end : second.start]):
            continue
        for mention in pair:
            if not mention.question and mention.code != NO_CODE:
                mention.withheld = "joined to an undecided phrase"
                codes = (mention.code, *(c for m in undecided for c in (m.row.codes if m.row else ())))
                questions.append(
                    Question(
                        f"'{text[first.start : second.end]}': the minutes are written once for both; which codes, "
                        "and how many minutes each?",
                        first.start,
                        second.end,
                        tuple(dict.fromkeys(codes)),
                    )
                )
    return questions


def _asked(text: str, mentions: Iterable[Mention]) -> list[Question]:
    return [
        Question(m.question, m.start, m.end, m.row.codes if m.row else ())
        for m in mentions
        if m.question and not m.withheld
    ]


def _proposals(
    text: str, mentions: list[Mention], codes: Mapping[str, CodeFacts], questions: list[Question]
) -> list[Proposal]:
    by_code: dict[str, list[Mention]] = {}
    for mention in mentions:
        if mention.withheld or mention.question or mention.code == NO_CODE:
            continue
        by_code.setdefault(mention.code, []).append(mention)
    proposals = [_proposal(text, code, group, codes[code]) for code, group in by_code.items()]
    billed = {p.code for p in proposals}
    kept = []
    for proposal in proposals:
        facts = codes[proposal.code]
        if facts.addon_of and not billed & set(facts.addon_of):
            questions.append(
                Question(
                    f"{proposal.code} is an add-on, and the note names no base service it may go with "
                    f"({', '.join(facts.addon_of)}): which service used it?",
                    proposal.start,
                    proposal.end,
                    (proposal.code,),
                )
            )
            continue
        kept.append(proposal)
    return kept


def _proposal(text: str, code: str, group: list[Mention], facts: CodeFacts) -> Proposal:
    timed_group = [m for m in group if m.minutes() is not None]
    first = timed_group[0] if timed_group else group[0]
    end = max([first.end, *(t.end for t in first.times if t.start >= first.end)])
    minutes = sum(m.minutes() or 0 for m in timed_group) if timed_group else None
    confidence = max(m.row.confidence if m.row else LITERAL_CONFIDENCE for m in group)
    if facts.timed and minutes is None:
        confidence *= NO_MINUTES_FACTOR
    return Proposal(code, minutes, first.start, end, round(confidence, 2), _why(text, code, group, facts, timed_group))


def _why(text: str, code: str, group: list[Mention], facts: CodeFacts, timed_group: list[Mention]) -> str:
    first = group[0]
    said = text[first.start : first.end]
    if first.row is None:
        reason = f"the code {code} is written in the note ({facts.description})"
    else:
        reason = f"'{said}' usually indicates {code} ({facts.description}); source: {first.row.source}"
    if timed_group and len(timed_group) + sum(len(m.times) for m in timed_group) > 2:
        places = sum(len(m.times) for m in timed_group)
        reason += f"; minutes added up from {places} places"
    if first.row is not None and first.row.addon:
        reason += "; an add-on, beside its base service"
    return reason


def _gaps(proposals: list[Proposal], codes: Mapping[str, CodeFacts], totals: Totals) -> list[Question]:
    questions = []
    for proposal in proposals:
        if codes[proposal.code].timed and proposal.minutes is None:
            questions.append(
                Question(
                    f"{proposal.code} is a timed code and the note gives no minutes for it: how many minutes?",
                    proposal.start,
                    proposal.end,
                    (proposal.code,),
                )
            )
    timed_sum = sum(p.minutes or 0 for p in proposals if codes[p.code].timed)
    all_sum = sum(p.minutes or 0 for p in proposals)
    if totals.timed is not None and totals.timed != timed_sum:
        questions.append(
            Question(
                f"the note's total timed minutes ({totals.timed}) differ from the minutes per code ({timed_sum}): "
                "which is right?",
                0,
                0,
                (),
            )
        )
    if totals.treatment is not None and totals.treatment < timed_sum:
        questions.append(
            Question(
                f"the note's total treatment time ({totals.treatment}) is less than its timed minutes "
                f"({timed_sum}; {all_sum} with untimed services): which is right?",
                0,
                0,
                (),
            )
        )
    return questions


def _unique(questions: list[Question]) -> list[Question]:
    seen: set[str] = set()
    kept = []
    for question in questions:
        if question.text not in seen:
            seen.add(question.text)
            kept.append(question)
    return kept
