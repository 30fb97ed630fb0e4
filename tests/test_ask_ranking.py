"""``rehabclaim ask`` ranks the source that answers the question first: new questions (in neither
questions.jsonl nor questions-holdout.jsonl), and the parts of the ranking one by one (a subsection cited
under its numbered section, a note's preamble after its sections, billers' synonyms, modifiers named in
capitals, the section that explains a computed answer first). The figures are bench/ask_bench.py's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from rehabclaim.assistant import index
from rehabclaim.assistant.ask import Answer, Computed, _modifiers_named, ask, cites
from rehabclaim.reference import Reference, load_reference

FIXTURES = Path(__file__).parent / "fixtures" / "assistant"


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv("REHABCLAIM_CACHE_DIR", str(folder))
    index._indexes.clear()
    yield folder
    index._indexes.clear()


# Written for this file, after the ranking was changed; none is in the two question sets (checked below).
NEW_QUESTIONS = [
    ("what is the de minimis rule for the PTA modifier?", {"modifiers.md s. 2", "M002"}),
    ("which modifier for an OT assistant?", {"modifiers.md s. 2", "M002"}),
    ("what is the GA modifier for?", {"modifiers.md s. 4"}),
    ("when does the plan of care need recertification?", {"R002", "medicare-policy.md s. 1"}),
    ("how often is a progress report required?", {"R001", "medicare-policy.md s. 2"}),
    ("what is the targeted medical review amount for OT?", {"modifiers.md s. 3", "K002"}),
    ("is the 0770T add-on reported once per session?", {"V003", "xr-vr-codes.md s. 1"}),
    ("units for 97140 52 min?", {"units.md s. 1"}),
]


def _asked_questions() -> set[str]:
    found = set()
    for name in ("questions.jsonl", "questions-holdout.jsonl"):
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                found.add(json.loads(line)["question"].lower())
    return found


def test_the_new_questions_are_new() -> None:
    assert not {question.lower() for question, _ in NEW_QUESTIONS} & _asked_questions()


@pytest.mark.parametrize(("question", "expected"), NEW_QUESTIONS)
def test_the_expected_source_is_first(reference: Reference, question: str, expected: set[str]) -> None:
    answer = ask(reference, question=question)
    assert answer.hits and cites(answer.hits[0].id, expected), [hit.id for hit in answer.hits]


def test_the_holdout_set_is_well_formed() -> None:
    rows = [json.loads(line) for line in (FIXTURES / "questions-holdout.jsonl").read_text().splitlines() if line]
    assert len(rows) == 20 and len({row["id"] for row in rows}) == 20
    assert all(row["expect"]["cite"] and row["source"] == "written for this set" for row in rows)


def _note_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "t.md").write_text(text, encoding="utf-8")
    return folder


NOTE = """# Zyxwvut notes

Tags and sources of the zyxwvut file.

## 1. Zyxwvut basics

The zyxwvut rule.

## 2. Assistants

Body of two.

### De minimis

Ten percent qwertz.

### 2a. Numbered

Own number.
"""


def test_an_unnumbered_subsection_is_cited_under_its_numbered_section(tmp_path: Path) -> None:
    docs = list(index.note_documents(_note_folder(tmp_path, NOTE)))
    keys = [doc.key for doc in docs]
    assert keys == [
        "t.md s. Zyxwvut notes",
        "t.md s. 1. Zyxwvut basics",
        "t.md s. 2. Assistants",
        "t.md s. 2. Assistants > De minimis",
        "t.md s. 2a. Numbered",
    ]
    sub = docs[3]
    assert sub.title == "2. Assistants: De minimis" and cites(sub.key, {"t.md s. 2"})
    assert not cites(docs[4].key, {"t.md s. 2"})  # 2a is its own section
    assert [doc.prior for doc in docs] == [index.PREAMBLE_PRIOR, 1.0, 1.0, 1.0, 1.0]
    assert docs[1].context == "Zyxwvut notes" and docs[0].context == ""


def test_a_preamble_ranks_after_the_section_on_the_same_word(reference: Reference, tmp_path: Path) -> None:
    answer = ask(reference, question="zyxwvut", notes=_note_folder(tmp_path, NOTE))
    ids = [hit.id for hit in answer.hits]
    assert ids.index("t.md s. 1. Zyxwvut basics") < ids.index("t.md s. Zyxwvut notes"), ids


def test_synonyms_add_words_never_codes(reference: Reference) -> None:
    answer = ask(reference, question="which modifier goes on an OT line?")
    assert answer.codes == [] and answer.computed is None
    assert '"occupational"' in answer.query and '"go"' in answer.query
    lower = ask(reference, question="what got denied for the ot line?")  # "ot" in lower case is not OT
    assert '"occupational"' not in lower.query and '"denial"' in lower.query


def test_modifiers_are_named_only_in_capitals() -> None:
    assert _modifiers_named("CQ or CO on 97110, modifier 59?") == {"CQ", "CO", "59"}
    assert _modifiers_named("co-treatment go gp") == set()


@pytest.mark.parametrize(
    ("question", "section"),
    [
        ("units for 97530 38 min?", "units.md s. 1"),  # one code: the time-to-units table
        ("units for 97110 25 min and 97112 20 min?", "units.md s. 3"),  # several: the allocation
        ("units for 97110 10 min and 97112 10 min for sample_per_code?", "units.md s. 6"),  # per-code payer
    ],
)
def test_a_computed_answer_cites_the_section_of_its_method_first(
    reference: Reference, question: str, section: str
) -> None:
    answer = ask(reference, question=question)
    assert answer.computed is not None and answer.computed.sources == [section]
    assert cites(answer.hits[0].id, {section}), [hit.id for hit in answer.hits]


def test_a_cited_section_is_found_by_its_key(reference: Reference) -> None:
    opened = index.open_index(index.documents(reference))
    rows = opened.sections(["units.md s. 3", "no-such.md s. 9"], rank=-2.0)
    assert [row.key[:14] for row in rows] == ["units.md s. 3."] and rows[0].rank == -2.0


def test_json_fields_are_only_added_at_the_end(reference: Reference) -> None:
    answer = ask(reference, question="units for 97110 33 min and 97140 7 min?")
    shown = msgspec.to_builtins(answer)
    assert list(shown) == ["question", "answer", "found", "codes", "query", "computed", "hits"]
    assert list(shown["computed"]) == ["kind", "answer", "reasons", "rules", "result", "error", "sources"]
    assert list(shown["hits"][0]) == ["kind", "id", "title", "snippet", "source", "score", "link"]
    assert isinstance(answer, Answer) and isinstance(answer.computed, Computed)
