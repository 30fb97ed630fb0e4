"""The coding assistant's labelled set (tests/fixtures/assistant/) is itself valid: every line parses, every
code is in the catalog, minutes are plausible and follow the labelling conventions of its README, every trap
of coding-assistant.md s. 1-2 is in every split (twice in the holdout), ids are unique, no note text is shared
between splits, and each ask question cites a rule or a reference note section that exists."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import rehabclaim.data
from rehabclaim.catalog.codes import load_catalog
from rehabclaim.rules import RULES_BY_ID

SET_DIR = Path(__file__).parent / "fixtures" / "assistant"
BENCH = Path(__file__).parent.parent / "bench" / "assistant_bench.py"
HOLDOUT = "notes-holdout.jsonl"  # written 2026-12-01 without running the parser; never opened while tuning
SPLITS = ("notes-train.jsonl", "notes-test.jsonl", HOLDOUT)
NOTE_DIR = Path(rehabclaim.data.__file__).parent / "reference"
PAYER_DIR = Path(rehabclaim.data.__file__).parent / "payers"
SNIPPET_FIELDS = {"id", "discipline", "payer", "note", "expected", "questions_expected", "traps", "source"}
# The traps of coding-assistant.md s. 1-2 and the formats: each must be in every split.
REQUIRED_TRAPS = frozenset(
    {
        "feet",
        "assist_level",
        "sets_reps",
        "pain_score",
        "vitals",
        "dates",
        "frequency",
        "rest_time",
        "not_billed",
        "hep_alone",
        "hep_taught",
        "arom_assessment",
        "ta_tibialis",
        "ta_activities",
        "ta_ambiguous",
        "brace_donning",
        "clothing_donning",
        "estim_unattended_medicare",
        "estim_unattended_other",
        "estim_attended",
        "hot_cold_pack",
        "start_stop",
        "summed_minutes",
        "total_at_end",
        "units_not_minutes",
        "missing_minutes",
        "missing_complexity",
        "apostrophe_minutes",
        "number_words",
        "untimed_with_minutes",
        "orthotic_lcode",
        "orthotic_no_lcode",
        "orthotic_training_short",
        "xr",
        "group",
        "cotreat",
        "dictation",
        "evaluation",
    }
)
KNOWN_TRAPS = REQUIRED_TRAPS | {
    "arom_exercise",
    "brace_mention",
    "modality",
    "session_in_out",
    "component_minutes",
    "soap_note",
    "flowsheet",
}
MAX_MINUTES = 90  # one code's minutes in one outpatient visit; more is a typo in the set
SHARED_SENTENCE_CHARS = 20  # a sentence this long in two splits is copied wording, not a common abbreviation


def _lines(name: str) -> Iterator[dict[str, Any]]:
    with (SET_DIR / name).open(encoding="utf-8") as source:
        for number, raw in enumerate(source, 1):
            assert raw.strip(), f"{name}:{number}: blank line"
            yield json.loads(raw)


@cache
def _split(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(_lines(name))


def _all_snippets() -> list[dict[str, Any]]:
    return [snippet for name in SPLITS for snippet in _split(name)]


def test_sizes() -> None:
    train, test, holdout = (_split(name) for name in SPLITS)
    assert len(train) + len(test) >= 150
    assert len(test) >= 50
    assert len(train) >= 95
    assert len(holdout) >= 70


def _normalized(note: str) -> str:
    return " ".join(note.split()).lower()


def _sentences(note: str) -> set[str]:
    """The note's sentences and clauses (split at . ; and line ends) long enough to be wording, not shorthand."""
    parts = (part.strip() for part in re.split(r"[.;\n]", _normalized(note)))
    return {part for part in parts if len(part) >= SHARED_SENTENCE_CHARS}


def test_ids_unique_across_splits_and_notes_not_shared() -> None:
    ids = [snippet["id"] for snippet in _all_snippets()]
    assert len(ids) == len(set(ids))
    for later, name in enumerate(SPLITS[1:], 1):
        earlier = {_normalized(s["note"]) for other in SPLITS[:later] for s in _split(other)}
        shared = [s["id"] for s in _split(name) if _normalized(s["note"]) in earlier]
        assert shared == [], name


def test_holdout_ids_and_wording_its_own() -> None:
    """The holdout's ids are h001.. in order, and no sentence of it appears in train or test: it was written
    in different words so that it measures reading, not memory."""
    holdout = _split(HOLDOUT)
    assert [s["id"] for s in holdout] == [f"h{number:03d}" for number in range(1, len(holdout) + 1)]
    seen = {sentence for name in SPLITS if name != HOLDOUT for s in _split(name) for sentence in _sentences(s["note"])}
    copied = {s["id"]: _sentences(s["note"]) & seen for s in holdout}
    assert {where: found for where, found in copied.items() if found} == {}


def test_holdout_holds_every_trap_twice() -> None:
    counts = Counter(trap for snippet in _split(HOLDOUT) for trap in snippet["traps"])
    assert {trap: counts[trap] for trap in REQUIRED_TRAPS if counts[trap] < 2} == {}


@pytest.mark.parametrize("name", SPLITS)
def test_snippet_fields(name: str) -> None:
    for snippet in _split(name):
        where = snippet.get("id")
        assert set(snippet) == SNIPPET_FIELDS, where
        assert snippet["discipline"] in {"PT", "OT", "SLP"}, where
        assert snippet["payer"] in {"medicare", "other"}, where
        assert isinstance(snippet["note"], str) and snippet["note"].strip(), where
        assert isinstance(snippet["questions_expected"], bool), where
        assert snippet["source"] == "written for this set", where
        assert set(snippet["traps"]) <= KNOWN_TRAPS, (where, set(snippet["traps"]) - KNOWN_TRAPS)
        codes = [item["code"] for item in snippet["expected"]]
        assert len(codes) == len(set(codes)), f"{where}: a code listed twice (sum its minutes)"


@pytest.mark.parametrize("name", SPLITS)
def test_codes_exist_and_minutes_plausible(name: str) -> None:
    catalog = load_catalog()
    for snippet in _split(name):
        where = snippet["id"]
        for item in snippet["expected"]:
            assert set(item) == {"code", "minutes"}, where
            code = catalog.get(item["code"])
            assert code is not None, f"{where}: {item['code']} is not in the catalog"
            minutes = item["minutes"]
            if not code.timed:
                assert minutes is None, f"{where}: untimed {code.code} with minutes"
            elif minutes is None:
                assert snippet["questions_expected"], f"{where}: timed {code.code} without minutes and no question"
            else:
                assert isinstance(minutes, int) and 1 <= minutes <= MAX_MINUTES, where
                assert minutes >= 8 or len(snippet["expected"]) > 1, f"{where}: a lone code under 8 minutes"


@pytest.mark.parametrize("name", SPLITS)
def test_conventions_hold(name: str) -> None:
    """The README's conventions, checked where a rule can check them."""
    catalog = load_catalog()
    for snippet in _split(name):
        where, codes = snippet["id"], {item["code"]: item["minutes"] for item in snippet["expected"]}
        assert not ("G0283" in codes and snippet["payer"] != "medicare"), where
        assert not ("97014" in codes and snippet["payer"] == "medicare"), where
        if "0770T" in codes:
            base = set(catalog.get("0770T").addon_of)  # type: ignore[union-attr]
            assert base & set(codes), f"{where}: 0770T without a designated base code"
        lcodes = [code for code in codes if code.startswith("L")]
        if lcodes and "97760" in codes:
            assert (codes["97760"] or 0) > 8, f"{where}: 97760 beside an L-code needs more than 8 training minutes"
        for code in codes:
            disciplines = set(catalog.get(code).disciplines)  # type: ignore[union-attr]
            assert snippet["discipline"] in disciplines, f"{where}: {code} outside {snippet['discipline']}"
        asks = {"ta_ambiguous", "missing_minutes", "missing_complexity"} & set(snippet["traps"])
        assert not asks or snippet["questions_expected"], where


def test_every_trap_in_every_split() -> None:
    for name in SPLITS:
        seen = {trap for snippet in _split(name) for trap in snippet["traps"]}
        assert seen >= REQUIRED_TRAPS, (name, sorted(REQUIRED_TRAPS - seen))


def test_every_discipline_and_payer_in_every_split() -> None:
    for name in SPLITS:
        snippets = _split(name)
        assert {s["discipline"] for s in snippets} == {"PT", "OT", "SLP"}, name
        assert {s["payer"] for s in snippets} == {"medicare", "other"}, name
        assert any(s["questions_expected"] for s in snippets), name
        assert any(not s["expected"] for s in snippets), name  # nothing billable is a case too


def _note_sections() -> set[str]:
    """``file.md s. N`` for every numbered ``##`` section of the shipped reference notes."""
    sections = set()
    for path in NOTE_DIR.glob("*.md"):
        for heading in re.findall(r"^## ([0-9]+)\.", path.read_text(encoding="utf-8"), re.MULTILINE):
            sections.add(f"{path.name} s. {heading}")
    return sections


def test_questions() -> None:
    questions = list(_lines("questions.jsonl"))
    assert len(questions) >= 40
    assert len({q["id"] for q in questions}) == len(questions)
    assert len({q["question"].lower() for q in questions}) == len(questions)
    sections, catalog = _note_sections(), load_catalog()
    payers = {path.stem for path in PAYER_DIR.glob("*.toml")}
    for question in questions:
        where, expect = question["id"], question["expect"]
        assert set(question) == {"id", "question", "expect", "source"}, where
        assert set(expect) <= {"cite", "units", "rules"}, where
        assert expect["cite"], where
        for cite in expect["cite"]:
            known = cite in RULES_BY_ID or cite in sections or cite in payers
            assert known, f"{where}: {cite} is no rule id, note section or payer"
        for code, units in expect.get("units", {}).items():
            assert catalog.get(code) is not None and code in question["question"], where
            assert isinstance(units, int) and 0 <= units <= 8, where
        for rule in expect.get("rules", []):
            assert rule in RULES_BY_ID, where


def test_units_answers_follow_the_cms_table() -> None:
    """The hand-computed units of a CMS-method question: their sum is the table's (units.md s. 1)."""
    minutes = re.compile(r"([0-9]{5}) ([0-9]{1,3}) min")
    for question in _lines("questions.jsonl"):
        expected = question["expect"].get("units")
        if not expected or "sample_per_code" in question["question"]:
            continue
        total = sum(int(m) for _, m in minutes.findall(question["question"]))
        assert sum(expected.values()) == (total + 7) // 15, question["id"]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("assistant_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["assistant_bench"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_bench_scores_an_oracle_perfectly_and_a_guesser_lower() -> None:
    """The benchmark's arithmetic: a suggest that returns the labels scores 1.0 everywhere; one that adds a
    wrong code and drops a minute loses precision and exact minutes as counted by hand."""
    bench = _bench()
    snippets = list(_split("notes-train.jsonl"))
    by_note = {(s["note"], bench.PAYERS[s["payer"]]): s for s in snippets}  # r064/r065: one note, two payers

    def oracle(reference: Any, *, note: str, discipline: str, payer: str | None = None) -> dict[str, Any]:
        snippet = by_note[note, payer]
        return {"services": snippet["expected"], "questions": ["?"] if snippet["questions_expected"] else []}

    perfect = bench.run_suggest(oracle, None, snippets).line()
    assert (perfect["precision"], perfect["recall"], perfect["f1"]) == (1.0, 1.0, 1.0)
    assert (perfect["minutes_exact"], perfect["question_recall"], perfect["crashes"]) == (1.0, 1.0, [])

    def guesser(reference: Any, *, note: str, discipline: str, payer: str | None = None) -> dict[str, Any]:
        if note == snippets[0]["note"]:
            raise ValueError("boom")
        services = [{**item, "minutes": None} for item in by_note[note, payer]["expected"]]
        return {"services": [*services, {"code": "97799", "minutes": None}], "questions": []}

    scored = bench.run_suggest(guesser, None, snippets).line()
    wanted = sum(len(s["expected"]) for s in snippets)
    found = wanted - len(snippets[0]["expected"])
    assert scored["crashes"] == [snippets[0]["id"]]
    assert scored["recall"] == found / wanted
    assert scored["precision"] == found / (found + len(snippets) - 1)
    untimed = sum(1 for s in snippets[1:] for item in s["expected"] if item["minutes"] is None)
    assert scored["minutes_exact"] == untimed / wanted
    assert scored["question_recall"] == 0.0


def test_bench_citation_match() -> None:
    bench = _bench()
    assert bench.cites("units.md s. 3. Allocating units among codes", "units.md s. 3")
    assert not bench.cites("units.md s. 30. Other", "units.md s. 3")
    assert bench.cites("K001", "K001") and not bench.cites("K0011", "K001")


def _run_bench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The benchmark's main() with a suggest that returns every split's labels, except one wrong code on
    the first holdout snippet (the parser is never run here: the holdout is not to be read by it)."""
    bench = _bench()
    by_note = {(s["note"], bench.PAYERS[s["payer"]]): s for s in _all_snippets()}
    first_holdout = _split(HOLDOUT)[0]["note"]

    def oracle(reference: Any, *, note: str, discipline: str, payer: str | None = None) -> dict[str, Any]:
        snippet = by_note[note, payer]
        services = [*snippet["expected"], *([{"code": "97799", "minutes": None}] if note == first_holdout else [])]
        return {"services": services, "questions": ["?"] if snippet["questions_expected"] else []}

    monkeypatch.setattr(bench, "_service", lambda name: oracle if name == "suggest" else None)
    monkeypatch.setattr("rehabclaim.reference.load_reference", lambda: None)
    monkeypatch.setattr(sys, "argv", ["assistant_bench.py", *argv])
    assert bench.main() == 0
    return capsys.readouterr().out


def test_bench_reports_a_holdout_row_and_hides_its_misses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run_bench(monkeypatch, capsys)
    rows = [line.split()[1] for line in out.splitlines() if line.startswith("suggest ")]
    assert rows == ["train", "test", "holdout"]
    holdout = next(line for line in out.splitlines() if line.startswith("suggest holdout"))
    assert f"n={len(_split(HOLDOUT))}" in holdout and "R=1.000" in holdout and "P=1.000" not in holdout
    assert "h001:" not in out  # the holdout's misses stay hidden unless asked
    shown = _run_bench(monkeypatch, capsys, "--split", "holdout", "--show-holdout-misses")
    assert [line.split()[1] for line in shown.splitlines() if line.startswith("suggest ")] == ["holdout"]
    assert "h001: expected" in shown and "97799" in shown
