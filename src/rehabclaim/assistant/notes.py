"""Reading a therapy note: which services it documents, for how many minutes, and what it leaves undecided.

The grammar is here; every word it reads is in the phrase table (``rehabclaim.assistant.phrases``). Steps:
blank out what looks like time but is not (totals, ``min A``, ``3x10``, ``6/10``, units, rest), find the
minutes, find the phrases and decide each from its context (discipline, nearby words, minutes written),
drop a service held/declined/refused or only planned, give each minutes expression to the service named in
its clause, then add up per code."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise

from rehabclaim.assistant.phrases import NO_CODE, Grammar, PhraseRow, PhraseTable
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
_PAREN_GROUP = re.compile(r"\([^()]*\)")
# between a service's words and a total label that is the service's: at most two words ("AFO training total")
_BEFORE_TOTAL = re.compile(r"[\s:\-]*(?:[A-Za-z/]+[\s:\-]+){0,2}")
_PARTNER = re.compile(r"(?:w/|with|and|&|\+)\s*$", re.IGNORECASE)  # "Co-tx w/ OT": the partner, not the actor


@dataclass(frozen=True, slots=True)
class CodeFacts:
    """What the reader needs of a catalog code."""

    timed: bool
    description: str
    addon_of: tuple[str, ...]
    disciplines: tuple[str, ...]
    orthosis: bool = False  # a device code (L-code)
    device_training: bool = False  # first-encounter orthotic/prosthetic training (97760, 97761)


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
        totals = [t.minutes for t in self.times if t.total]
        if totals:  # "TE total 18 min": the service's own total
            return sum(totals)
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
    training_minutes: int | None = None  # 97760/97761 beside an L-code: the training minutes alone


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


def read_note(
    text: str,
    *,
    discipline: str,
    table: PhraseTable,
    codes: Mapping[str, CodeFacts],
    device_training_over: int,
) -> NoteReading:
    """The services ``text`` documents for ``discipline``, the questions it leaves, its totals and date.
    ``device_training_over``: beside an orthosis L-code, 97760/97761 only for more training minutes than this
    (thresholds.toml [orthotic])."""
    grammar = table.grammar
    segments = Segments(text)
    masked = Masked(text)
    candidates = _candidates(text, table)
    totals = read_totals(masked, grammar, _follows_service(text, candidates, segments, codes))
    mask_not_time(masked, grammar)
    is_distance = DistanceCheck(text, grammar, segments.clauses, list(candidates))
    times = sorted([*find_times(masked.text, grammar, is_distance), *totals.service_totals], key=lambda t: t.start)
    mentions = _decide(text, candidates, discipline, segments, times, codes)
    _withhold(text, mentions, segments, table)
    _grouped(text, mentions)
    _cotreated(text, mentions, segments, grammar, discipline)
    times = _paren_minutes(masked.text, times, mentions)
    _give_minutes(text, times, mentions, segments)
    questions = _joined_questions(text, mentions)
    proposals = _proposals(text, mentions, codes, questions)
    proposals = _device_training(text, proposals, mentions, codes, grammar, segments, device_training_over, questions)
    questions.extend(_asked(text, mentions))
    asked = {code for question in questions for code in question.codes}
    questions.extend(_gaps(proposals, codes, totals, asked))
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


def _follows_service(
    text: str, candidates: Mapping[tuple[int, int], list[PhraseRow]], segments: Segments, codes: Mapping[str, CodeFacts]
) -> Callable[[int], bool]:
    """Whether a total label at an offset comes right after one timed service's words in its clause (``TE
    total 18 min``, ``Gait/stair trng total 14 min``): then it is that service's total, not the note's. After
    two ("TE and MT total 30 min") it is neither's."""
    named = [(end, next((r.code for r in rows if r.code != NO_CODE), NO_CODE)) for (_, end), rows in candidates.items()]
    named += [(match.end(), match.group(1)) for match in _LITERAL_CODE.finditer(text)]
    timed = [(end, code) for end, code in named if code in codes and codes[code].timed]

    def follows(label_start: int) -> bool:
        clause_start, _ = segments.clause_span(segments.clause(label_start))
        before = [(end, code) for end, code in timed if clause_start <= end <= label_start]
        right_before = any(_BEFORE_TOTAL.fullmatch(text, end, label_start) for end, _ in before)
        return right_before and len({code for _, code in before}) == 1

    return follows


def _grouped(text: str, mentions: list[Mention]) -> None:
    """A group service absorbs the services named in its clause ("Group ther ex, 4 pts"): they were done in
    the group (documentation.md s. 5: two or more patients at once are billed as the group code only)."""
    for group in (m for m in mentions if m.row is not None and m.row.group and not m.withheld):
        for other in mentions:
            in_group = other.clause == group.clause and other.owns_time and not other.withheld
            if in_group and (other.row is None or not other.row.group):
                other.withheld = f"done in the group ('{text[group.start : group.end]}')"


def _cotreated(text: str, mentions: list[Mention], segments: Segments, grammar: Grammar, discipline: str) -> None:
    """In a co-treatment note only ``discipline``'s portion is billed: a service after another discipline's
    label in its sentence ("OT to bill ADL") is that discipline's; when the note labels its own portion
    ("PT portion:"), services in the sentence describing the joint session are not billed on their own."""
    marker = grammar.pattern("cotreat")
    if marker is None or marker.search(text) is None:
        return
    actors = sorted(
        (label.start(), name)
        for name, pattern in grammar.labels.items()
        if pattern is not None
        for label in pattern.finditer(text)
        if _PARTNER.search(text, max(0, label.start() - 8), label.start()) is None
    )
    own_labelled = any(name == discipline for _, name in actors)
    for mention in mentions:
        if mention.withheld:
            continue
        sentence_start, sentence_end = segments.sentence_span(mention.sentence)
        named = [name for start, name in actors if sentence_start <= start < mention.start]
        if named and named[-1] != discipline:
            mention.withheld = f"{named[-1]}'s portion of a co-treatment"
        elif not named and own_labelled and marker.search(text, sentence_start, sentence_end):
            mention.withheld = f"the co-treatment session as a whole; the note gives the {discipline} portion"


def _paren_minutes(masked: str, times: list[TimeExpr], mentions: list[Mention]) -> list[TimeExpr]:
    """``times`` with the minutes written as a bare number in parentheses right after a service (``TE (10)``)."""
    added = []
    for mention in mentions:
        match = _PAREN_MINUTES.match(masked, mention.end)
        if not match or not mention.owns_time or not 0 < int(match.group(1)) <= 240:
            continue
        if not any(t.start < match.end() and match.start() < t.end for t in times):  # "MT (10 min)": read already
            added.append(TimeExpr(match.start(), match.end(), int(match.group(1)), False))
    return sorted([*times, *added], key=lambda t: t.start)


def _drop_components(text: str, times: list[TimeExpr], owners: list[Mention], segments: Segments) -> list[TimeExpr]:
    """``times`` without the minutes of components in parentheses after a service's own minutes ("TE 23 min
    (bike 8 min, ...)", "gait 1:00-1:20 (20 min)"): they are part of them, never added again. The services
    named inside are not billed on their own."""
    dropped: set[TimeExpr] = set()
    for group in _PAREN_GROUP.finditer(text):
        opened, closed = group.start(), group.end()
        sentence = segments.sentence(opened)
        before = [m for m in owners if m.end <= opened and m.sentence == sentence]
        if not before or _CLAUSE_END.search(text, before[-1].end, opened):
            continue
        whole = before[-1]
        outside = [t for t in times if whole.end <= t.start and t.end <= opened and t not in dropped]
        inside = [t for t in times if opened < t.start and t.end <= closed]
        if not outside or not inside or sum(t.minutes for t in inside) > sum(t.minutes for t in outside):
            continue
        dropped.update(inside)
        for part in owners:
            if opened < part.start and part.end <= closed and not part.withheld:
                part.withheld = f"a part of '{text[whole.start : whole.end]}', whose minutes are written before it"
    return [t for t in times if t not in dropped]


def _give_minutes(text: str, times: list[TimeExpr], mentions: list[Mention], segments: Segments) -> None:
    """Minutes go to the service named before them in their clause (else after them); minutes in a clause
    naming none go to the last service of the sentence that has no minutes yet (else its last service); a
    sentence naming no service gives its minutes to the previous sentence's last service without minutes
    ("Don/doff AFO training ... 16 min.")."""
    owners = [m for m in mentions if m.owns_time]
    times = _drop_components(text, times, owners, segments)
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
        earlier = [m for m in owners if m.sentence == sentence and m.end <= expr.start]
        untimed = [m for m in earlier if not m.times]
        if untimed or earlier:
            (untimed or earlier)[-1].times.append(expr)
        elif not any(m.sentence == sentence for m in owners):
            previous = _previous_sentence_owner(text, owners, segments, sentence)
            if previous is not None:
                previous.times.append(expr)


def _previous_sentence_owner(text: str, owners: list[Mention], segments: Segments, sentence: int) -> Mention | None:
    """The last service without minutes of the sentence right before ``sentence`` (blank lines skipped)."""
    previous = sentence - 1
    while previous >= 0 and not _slice(text, segments.sentence_span(previous)).strip():
        previous -= 1
    untimed = [m for m in owners if m.sentence == previous and not m.times]
    return untimed[-1] if untimed else None


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
    totalled = [m for m in timed_group if any(t.total for t in m.times)]  # a service's total replaces its parts
    minutes = sum(m.minutes() or 0 for m in totalled or timed_group) if timed_group else None
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


def _gaps(proposals: list[Proposal], codes: Mapping[str, CodeFacts], totals: Totals, asked: set[str]) -> list[Question]:
    """Timed codes without minutes (unless a question about the code is asked already) and totals that
    disagree with the minutes per code."""
    questions = []
    for proposal in proposals:
        if codes[proposal.code].timed and proposal.minutes is None and proposal.code not in asked:
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


def _device_training(
    text: str,
    proposals: list[Proposal],
    mentions: list[Mention],
    codes: Mapping[str, CodeFacts],
    grammar: Grammar,
    segments: Segments,
    over: int,
    questions: list[Question],
) -> list[Proposal]:
    """Beside an orthosis L-code, 97760/97761 count training minutes only (fitting is part of the device
    code) and are proposed only for more than ``over`` of them (orthotics.md s. 2); minutes the note does not
    tell apart are asked."""
    devices = [p.code for p in proposals if codes[p.code].orthosis]
    if not devices:
        return proposals
    kept, notes = [], []
    for proposal in proposals:
        if not codes[proposal.code].device_training or proposal.minutes is None:
            kept.append(proposal)
            continue
        exprs = [t for m in mentions if m.code == proposal.code and not m.withheld for t in m.times]
        kinds = [_device_minutes_kind(text, expr, segments, grammar) for expr in exprs]
        training = sum(expr.minutes for expr, kind in zip(exprs, kinds, strict=True) if kind == "training")
        beside = f"beside the device code {', '.join(devices)} only training minutes count (orthotics.md s. 2)"
        if None in kinds:
            questions.append(
                Question(
                    f"{proposal.code} {beside}: how many of its {proposal.minutes} minutes were training, not "
                    f"fitting? More than {over} are needed.",
                    proposal.start,
                    proposal.end,
                    (proposal.code,),
                )
            )
            kept.append(replace(proposal, minutes=None, why=f"{proposal.why}; {beside}"))
        elif training > over:
            why = f"{proposal.why}; {beside}: {training} training min"
            kept.append(replace(proposal, minutes=training, why=why, training_minutes=training))
        else:
            notes.append(f"{proposal.code} not proposed: {training} training min, not more than {over} ({beside})")
    if not notes:
        return kept
    return [replace(p, why="; ".join([p.why, *notes])) if codes[p.code].orthosis else p for p in kept]


def _device_minutes_kind(text: str, expr: TimeExpr, segments: Segments, grammar: Grammar) -> str | None:
    """Whether minutes given to an orthotic training code are "training" or "fitting": from the words before
    them in their clause, else in their sentence, else after them in their clause; None when both or neither."""
    training, fitting = grammar.pattern("device_training"), grammar.pattern("device_fitting")
    clause_start, clause_end = segments.clause_span(segments.clause(expr.start))
    sentence_start, _ = segments.sentence_span(segments.sentence(expr.start))
    for low, high in ((clause_start, expr.start), (sentence_start, expr.start), (expr.end, clause_end)):
        trained = training is not None and training.search(text, low, high) is not None
        fitted = fitting is not None and fitting.search(text, low, high) is not None
        if trained != fitted:
            return "training" if trained else "fitting"
        if trained:
            return None
    return None
