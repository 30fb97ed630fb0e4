"""Every citation the engine can emit names something the package holds (issue 14, "clean flow").

Collected by scrubbing, with the trace on, every visit of the rule fixtures (also for a claim) and a seeded
sample of bench/generate.py's visits: each trace step's source names a file in the package's data folder
and, there, a note section heading, a TOML table/row or a CMS file's line holding the row; each note a
``why``/``expected_why`` text cites (``units.md s. 5``) is a shipped note with that section; every entry of
data/citations.toml names a shipped note and section, and the explanations print its words."""

from __future__ import annotations

import json
import random
import re
import tomllib
from collections.abc import Iterator
from datetime import date
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import pytest

from rehabclaim.citations import citations, note_sections
from rehabclaim.errors import InputError
from rehabclaim.model import ScrubResult
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit
from rehabclaim.trace import TracedLine
from tests.conftest import visit_json
from tests.fuzzing import bench_module

RULE_FIXTURES = Path(__file__).parent / "fixtures" / "rules"
GENERATED_VISITS, SEED = 1500, 23
DATA = resources.files("rehabclaim.data")
# a note cited in an explanation's text: "units.md s. 5", "orthotics.md s. 2"
NOTE_IN_TEXT = re.compile(r"([a-z0-9-]+\.md) s\. (\d+[a-z]?)")


def _visits() -> Iterator[tuple[bytes, bool]]:
    for path in sorted(RULE_FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text())
        for kind in ("fires", "passes"):
            for case in fixture[kind]:
                raw = visit_json(**case["visit"])
                yield raw, False
                yield raw, True
    generator = bench_module("generate")
    rng, start = random.Random(SEED), date(2026, 1, 2)
    for number in range(1, GENERATED_VISITS + 1):
        yield json.dumps(generator.visit(rng, number, start)).encode(), False


@pytest.fixture(scope="module")
def results() -> list[ScrubResult]:
    engine = Scrubber(load_reference())
    found = []
    for raw, for_claim in _visits():
        try:
            found.append(engine.scrub(decode_visit(raw), for_claim=for_claim, trace=True))
        except InputError:
            continue  # a fixture visit the engine refuses has no lines
    return found


@pytest.fixture(scope="module")
def sources(results: list[ScrubResult]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for result in results:
        for line in result.lines:
            assert isinstance(line, TracedLine)
            found.update((step.source.file, step.source.key) for step in line.trace)
    return found


def test_the_collection_covers_every_kind_of_source(sources: set[tuple[str, str]]) -> None:
    """So the checks below check something: notes, TOML rows of each kind and CMS file rows all occur."""
    files = {file for file, _ in sources}
    assert {"codes.toml", "modifiers.toml", "thresholds.toml", "medicare-payment.toml"} <= files
    assert {"reference/units.md", "reference/modifiers.md", "reference/medicare-policy.md"} <= files
    assert {"payers/medicare.toml", "payers/sample_medicaid.toml", "payers/sample_per_code.toml"} <= files
    assert any(file.startswith("cms/PPRRVU") for file in files) and any(file.startswith("cms/ptp") for file in files)
    assert any(key.startswith("[[kx_threshold]]") for _, key in sources)


def test_every_trace_source_names_a_file_and_a_place_in_it_the_package_holds(sources: set[tuple[str, str]]) -> None:
    missing = [(file, key) for file, key in sorted(sources) if not _holds(file, key)]
    assert not missing, missing


def test_every_note_an_explanation_text_cites_is_shipped_with_that_section(results: list[ScrubResult]) -> None:
    cited: set[tuple[str, str]] = set()
    for result in results:
        for line in result.lines:
            cited.update(NOTE_IN_TEXT.findall(line.why) + NOTE_IN_TEXT.findall(line.expected_why))
    assert {("units.md", "5"), ("units.md", "6"), ("orthotics.md", "2")} <= cited  # the collection sees them
    assert [(note, section) for note, section in sorted(cited) if section not in note_sections(note)] == []


def test_every_citation_table_entry_names_a_shipped_note_and_section() -> None:
    table = citations()
    assert len(table) >= 15
    wrong = [what for what, cite in table.items() if cite.section not in note_sections(cite.note)]
    assert not wrong, wrong


def test_the_explanations_print_the_citation_tables_words(results: list[ScrubResult]) -> None:
    """Every citation with words to print is printed somewhere: the texts come from the table."""
    texts = " ".join(line.why + " " + line.expected_why for result in results for line in result.lines)
    printed = {what: cite.text for what, cite in citations().items() if cite.text}
    assert [what for what, words in printed.items() if words not in texts] == []


def test_the_section_check_fails_for_a_note_or_section_that_is_not_there() -> None:
    assert "5" in note_sections("units.md") and "1d" in note_sections("documentation.md")
    assert note_sections("tooling.md") == frozenset() and "9" not in note_sections("units.md")
    assert not _holds("reference/units.md", "s. 9") and not _holds("reference/tooling.md", "s. 1")
    assert not _holds("codes.toml", "[[code]] 99999") and not _holds("payers/medicare.toml", "[units] nothing")
    assert not _holds("cms/PPRRVU2026_Jul_nonQPP.csv", "PPRRVU row 97110 2026 (line 1)")


def test_no_data_file_cites_a_note_outside_the_repository() -> None:
    """Data files cite the package's notes (reference/<note>), never the shared folder beside the checkout,
    nor a note the package does not ship."""
    outside = []
    for path in _data_files(DATA):
        text = path.read_text(encoding="utf-8")
        if "shared/reference" in text or "tooling.md" in text:
            outside.append(path.name)
    assert outside == []


def _data_files(folder: Traversable) -> Iterator[Traversable]:
    for entry in folder.iterdir():
        if entry.is_dir() and entry.name != "reference":
            yield from _data_files(entry)
        elif entry.name.endswith(".toml"):
            yield entry


def _holds(file: str, key: str) -> bool:
    """``file`` is in the package's data folder and holds ``key`` there."""
    found = DATA.joinpath(file)
    if not found.is_file():
        return False
    if file.startswith("reference/"):
        section = key.removeprefix("s. ")
        return key.startswith("s. ") and section in note_sections(file.removeprefix("reference/"))
    if file.endswith(".toml"):
        return _toml_holds(_toml(file), key)
    return _row_holds(found.read_text(encoding="latin-1").splitlines(), key)


@cache
def _toml(file: str) -> dict[str, Any]:
    return tomllib.loads(DATA.joinpath(file).read_text(encoding="utf-8"))


def _toml_holds(document: dict[str, Any], key: str) -> bool:
    """``[table] dotted.field``, ``[table]``, ``[[array]] id`` or ``[[array]] field value``."""
    array = re.fullmatch(r"\[\[(\w+)\]\] (?:(\w+) )?(\S+)", key)
    if array:
        name, field, value = array.groups()
        return any(str(row.get(field or "code")) == value for row in document.get(name, []))
    table = re.fullmatch(r"\[([\w.]+)\](?: ([\w.]+))?", key)
    if not table:
        return False
    node: Any = document
    for part in [*table.group(1).split("."), *(table.group(2) or "").split(".")]:
        if not part:
            continue
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _row_holds(lines: list[str], key: str) -> bool:
    """A CMS file's row: the line named ``(line N)`` holds every code and locality the key names
    (``PPRRVU row 97110 2026 (line 50)``, ``GPCI 11502 00 (line 83)``, ``PTP 97530/97140 (line 7)``); or,
    for ``PPRRVU 2026: no row 0770T``, no line starts with the code."""
    absent = re.fullmatch(r"PPRRVU \d{4}: no row (\S+)", key)
    if absent:
        return not any(line.startswith(absent.group(1)) for line in lines)
    number = re.search(r" \(line (\d+)\)$", key)
    if number is None or int(number.group(1)) > len(lines):
        return False
    named = [token for token in re.split(r"[ /]", key[: number.start()])[1:] if token != "row"]
    named = [token for token in named if not re.fullmatch(r"\d{4}", token)]  # the year is not in the row
    line = lines[int(number.group(1)) - 1]
    return bool(named) and all(token in line for token in named)
