"""``rehabclaim ask``: coding questions answered from our own documentation (rule docs, code facts, payer
policies, the reference notes in data/reference), ranked with their ids and sources, and concrete cases
(units, two codes together, a fee) answered by the engine. Timing is in bench/ask_bench.py, not here."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rehabclaim.assistant import index
from rehabclaim.assistant.ask import NOT_FOUND, Answer, ask
from rehabclaim.cli.main import app as cli
from rehabclaim.reference import Reference, load_reference
from rehabclaim.services import fees
from rehabclaim.services.errors import BadInput
from tests.api_support import cheap_passwords, running_api

__all__ = ["cheap_passwords"]  # an autouse fixture, imported to be in use here
SHARED_NOTES = Path("/work/shared/reference")


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test its own cache folder and no index kept from another test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("REHABCLAIM_CACHE_DIR", str(folder))
    index._indexes.clear()
    yield folder
    index._indexes.clear()


def asked(reference: Reference, question: str, limit: int = 5) -> Answer:
    return ask(reference, question=question, limit=limit)


def test_orthotic_question_ranks_the_orthotic_rule_or_note_first(reference: Reference) -> None:
    answer = asked(reference, "can I bill 97760 with an L-code?")
    first = answer.hits[0]
    assert first.id == "O002" or first.id.startswith("orthotics.md s. 2"), [h.id for h in answer.hits]
    ids = [hit.id for hit in answer.hits]
    assert "O002" in ids and any(i.startswith("orthotics.md s. 2.") for i in ids)
    rule = next(hit for hit in answer.hits if hit.id == "O002")
    assert "AOTA" in rule.source and rule.link == "/v1/rules/O002"
    assert answer.codes == ["97760"] and answer.computed is None and answer.found


def test_what_does_cq_mean_cites_the_modifiers_note_or_rule(reference: Reference) -> None:
    answer = asked(reference, "what does CQ mean")
    assert answer.hits[0].id.startswith("modifiers.md s.") or answer.hits[0].id == "M002"
    assert {"M002"} <= {hit.id for hit in answer.hits}
    assert answer.hits[0].source.startswith("modifiers.md")


def test_units_case_is_computed_with_the_why(reference: Reference) -> None:
    answer = asked(reference, "units for 97110 33 min and 97140 7 min?")
    assert answer.computed is not None and answer.computed.kind == "units"
    result = answer.computed.result or {}
    assert [(line["code"], line["units"]) for line in result["lines"]] == [("97110", 2), ("97140", 1)]
    assert result["total_timed_units"] == 3 and result["method"] == "cms"
    assert any("20.2" in reason for reason in answer.computed.reasons)
    assert answer.answer.startswith("97110 2 units, 97140 1 unit")


def test_units_follow_the_named_payers_method(reference: Reference) -> None:
    answer = asked(reference, "units for 97110 33 min and 97140 7 min for sample per code?")
    assert answer.computed is not None and (answer.computed.result or {})["method"] == "per-code"


def test_ncci_pair_is_scrubbed_and_the_edit_cited_first(reference: Reference) -> None:
    answer = asked(reference, "is 97530 with 97140 ok for Medicare?")
    computed = answer.computed
    assert computed is not None and computed.kind == "scrub"
    assert computed.rules == ["N002"] and "N002" in computed.answer and "Medicare Part B" in computed.answer
    assert any("NCCI PTP edit" in reason for reason in computed.reasons)
    assert answer.hits[0].id == "N002"


def test_pair_without_an_edit_says_none(reference: Reference) -> None:
    answer = asked(reference, "is 97110 with 97112 ok for Medicare?")
    assert answer.computed is not None and answer.computed.rules == []
    assert "no finding" in answer.computed.answer


def test_fee_case_is_the_fee_service(reference: Reference) -> None:
    answer = asked(reference, "fee for 97110 in 2026?")
    expected = fees.fee(reference, code="97110", year=2026)
    assert answer.computed is not None and answer.computed.kind == "fee"
    assert (answer.computed.result or {})["per_unit"] == expected.per_unit
    assert f"${expected.per_unit:.2f}" in answer.answer


def test_fee_the_schedule_does_not_price_is_explained(reference: Reference) -> None:
    answer = asked(reference, "what is the fee for L1906?")
    assert answer.computed is not None and answer.computed.error is not None
    assert answer.answer.startswith("no Medicare fee for L1906")


def test_a_pay_word_with_two_codes_asks_whether_they_are_paid_together(reference: Reference) -> None:
    together = asked(reference, "will Medicare pay 97110 and 97140 together?")
    assert together.computed is not None and together.computed.kind == "scrub", together.answer
    assert together.answer.startswith("97110 with 97140 for Medicare Part B: ")
    one = asked(reference, "does Medicare pay for 97110?")  # one code: what it pays
    assert one.computed is not None and one.computed.kind == "fee"
    assert f"${fees.fee(reference, code='97110').per_unit:.2f} per unit" in one.answer
    for question in ("what is the fee for 97110 and 97140?", "how much does Medicare pay for 97110 and 97140?"):
        amount = asked(reference, question)  # an amount asked for: the first code's fee
        assert amount.computed is not None and amount.computed.kind == "fee", question
        assert amount.answer.startswith("97110 on "), question
    time = asked(reference, "how much time do I need for 2 units of 97110?")  # no pay word: not a fee
    assert time.computed is None or time.computed.kind != "fee", time.answer


def test_the_digits_of_a_level_ii_code_are_not_a_year(reference: Reference) -> None:
    fee = asked(reference, "fee for 97760 beside L1906")
    assert fee.computed is not None and fee.computed.kind == "fee" and fee.computed.error is None, fee.answer
    assert (fee.computed.result or {})["date"] == f"{fees.DEFAULT_YEAR}-01-01"  # not 1906's schedule
    pair = asked(reference, "is 97760 paid with L1906?")
    assert pair.computed is not None and pair.computed.kind == "scrub"
    assert "O002 on 97760" in pair.answer  # no training minutes beside the orthosis
    dated = asked(reference, "fee for 97110 in 2025 beside L1906")
    assert dated.computed is not None and "file for 2025 is loaded" in (dated.computed.error or ""), dated.answer


@pytest.mark.parametrize("question", ["purple giraffe quantum banana", "what is it?", "?!"])
def test_nonsense_is_not_in_our_docs(reference: Reference, question: str) -> None:
    answer = asked(reference, question)
    assert answer.answer == NOT_FOUND and not answer.found and answer.hits == [] and answer.computed is None


def test_shorthand_expands_to_its_code_and_short_keys_need_capitals(reference: Reference) -> None:
    assert "97110" in asked(reference, "how many units is ther ex").codes
    assert asked(reference, "TE and MT billed together?").codes[:2] == ["97110", "97140"]
    lower = asked(reference, "can you tell us about te KX modifier")
    assert lower.codes == [] and "ultrasound" not in lower.query


@pytest.mark.parametrize(
    ("question", "limit", "field"),
    [("", 5, "question"), ("   ", 5, "question"), ("x" * 1001, 5, "question"), ("KX", 0, "limit"), ("KX", 21, "limit")],
)
def test_bad_input_names_the_field(reference: Reference, question: str, limit: int, field: str) -> None:
    with pytest.raises(BadInput) as caught:
        asked(reference, question, limit)
    assert caught.value.field == field


def test_index_is_rebuilt_when_a_note_changes(reference: Reference, tmp_path: Path, cache: Path) -> None:
    notes = tmp_path / "notes"
    shutil.copytree(Path(str(resources.files("rehabclaim.data").joinpath("reference"))), notes)
    before = ask(reference, question="zyxwvut", notes=notes)
    assert before.answer == NOT_FOUND
    with (notes / "units.md").open("a", encoding="utf-8") as out:
        out.write("\n## 9. Zyxwvut\n\nThe zyxwvut procedure is a test entry.\n")
    after = ask(reference, question="zyxwvut", notes=notes)
    assert after.hits[0].id == "units.md s. 9. Zyxwvut" and after.hits[0].kind == "note"
    assert len(list(cache.glob("ask-index-*.sqlite"))) == 2  # one per set of inputs
    index._indexes.clear()  # a new process: the cache file is read, not built
    docs = index.documents(reference, notes)
    assert index.open_index(docs).built is False


def test_a_damaged_cache_file_is_rebuilt(reference: Reference, cache: Path) -> None:
    docs = index.documents(reference)
    index.open_index(docs)
    (path,) = cache.glob("ask-index-*.sqlite")
    path.write_bytes(b"not a database")
    index._indexes.clear()
    assert index.open_index(docs).built is True
    assert asked(reference, "KX threshold").found


def test_bundled_notes_are_the_shared_notes_byte_for_byte() -> None:
    bundled = Path(str(resources.files("rehabclaim.data").joinpath("reference")))
    names = sorted(p.name for p in bundled.glob("*.md"))
    assert "tooling.md" not in names and {"orthotics.md", "modifiers.md", "units.md"} <= set(names)
    if not SHARED_NOTES.is_dir():
        pytest.skip("the shared reference folder is not on this machine")
    for name in names:
        assert (bundled / name).read_bytes() == (SHARED_NOTES / name).read_bytes(), name


@pytest.mark.parametrize(
    "question", ["can I bill 97760 with an L-code?", "is 97530 with 97140 ok for Medicare?", "qwertyuiop"]
)
def test_cli_and_api_return_the_same_json(question: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHABCLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHABCLAIM_RULES_DIR", raising=False)
    result = CliRunner().invoke(cli, ["ask", question, "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    with running_api(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path) as api:
        response = api.post("/v1/ask", json={"question": question, "limit": 3})
        assert response.status_code == 200, response.text
        assert response.content.strip() == result.stdout_bytes.strip()
        assert json.loads(response.content)["question"] == question
        refused = api.post("/v1/ask", json={"question": "KX", "limit": 0})
        assert refused.status_code == 422 and "limit" in refused.text


def test_cli_prints_the_computed_result_then_the_sources() -> None:
    result = CliRunner().invoke(cli, ["ask", "is 97530 with 97140 ok for Medicare?"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.index("N002 on 97530") < text.index("Sources (best first):") < text.index("1. N002")
    assert "full text: /v1/rules/N002" in text


def test_cli_refuses_an_empty_question_with_exit_2() -> None:
    result = CliRunner().invoke(cli, ["ask", " "])
    assert result.exit_code == 2 and "question" in result.stderr
