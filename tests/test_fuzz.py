"""Fuzzing the CLI with mutated visits, 835s and rule files (Hypothesis, fixed seed, bounded time).

Every run must end in exit 0/1 with a result, or exit 2 with a one-line ``error:`` message naming the field,
line, segment or file; never a traceback, never a hang, no partial output, nothing posted twice. Runs are
in process (fast); ``test_real_process_*`` runs a few nasty inputs as real processes to prove no traceback
reaches a user's terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from tests.conftest import BASE_VISIT
from tests.fuzzing import (
    DATA,
    FUZZ_FIXTURES,
    ODD_CELLS,
    ODD_TOML_VALUES,
    REMIT_CLAIM_IDS,
    RULE_FILES,
    SEPARATOR_TEXT,
    TEXTS,
    X12_FIXTURES,
    Outcome,
    Raw,
    RuleFile,
    check_outcome,
    claim_ids,
    invoke,
    ledger_rows,
    mutated_835,
    mutated_bytes,
    mutated_lines,
    mutated_tree,
    record_claims_sent,
    run_process,
    synthetic_835,
    to_json,
    validate_837,
)

# Shrinking a failure to its smallest example can take minutes; FUZZ_SHRINK=1 turns it on when debugging.
SHRINK = os.environ.get("FUZZ_SHRINK") == "1"


def fuzz(examples: int) -> settings:
    """Fixed seed, no example database, a deadline per example far above a normal run (each command run
    in process is also stopped after 20 s: a hang fails the test, it never blocks the suite)."""
    return settings(
        derandomize=True,
        database=None,
        max_examples=examples,
        deadline=timedelta(seconds=60),
        phases=tuple(Phase) if SHRINK else (Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


VISITS = [
    {**BASE_VISIT, "patient": {"id": "P1"}, "services": [{"code": "97110", "minutes": 33}, {"code": "97140"}]},
    *jsonl(DATA / "examples" / "visits.jsonl"),
    *jsonl(DATA / "examples" / "claims.jsonl"),
]
CLAIM_VISITS = [v for v in jsonl(DATA / "examples" / "claims.jsonl") if v["patient"].get("address")]
X12_FILES = [*sorted(X12_FIXTURES.glob("*.835")), DATA / "examples" / "remit.835"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@contextmanager
def example_folder(workdir: Path) -> Iterator[Path]:
    """A fresh folder per example (Hypothesis reuses the test's fixtures across examples)."""
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        yield Path(folder)


def make_ledger(path: Path, claimed: tuple[str, ...] = ()) -> Path:
    from rehabclaim.ledger import open_ledger

    open_ledger(f"sqlite:///{path}").dispose()
    if claimed:
        record_claims_sent(f"sqlite:///{path}", claimed)
    return path


@pytest.fixture(scope="module")
def empty_ledger(workdir: Path) -> Path:
    return make_ledger(workdir / "empty.sqlite3")


@pytest.fixture(scope="module")
def claimed_ledger(workdir: Path) -> Path:
    """A ledger that sent claims c1..c4, the ids the synthetic 835s pay."""
    return make_ledger(workdir / "claimed.sqlite3", REMIT_CLAIM_IDS)


def ledger_copy(template: Path, folder: Path) -> str:
    (folder / "ledger").mkdir()
    return f"sqlite:///{shutil.copy(template, folder / 'ledger' / 'ledger.sqlite3')}"


@st.composite
def visits_file(draw: st.DrawFn, bases: list[dict[str, Any]], texts: st.SearchStrategy[str] = TEXTS) -> bytes:
    """One to three visits, each valid or mutated, with distinct ids; then maybe byte-level mutations."""
    lines = []
    for number in range(draw(st.integers(1, 3))):
        visit = {**draw(st.sampled_from(bases)), "id": f"v{number}"}
        lines.append(to_json(draw(mutated_tree(visit, texts)) if draw(st.booleans()) else visit))
    return draw(mutated_bytes("\n".join(lines).encode() + b"\n"))


# --- visits ----------------------------------------------------------------------------------------------


@fuzz(200)
@given(data=visits_file(VISITS), single=st.booleans())
def test_fuzzed_visits_scrub_to_a_result_or_a_one_line_error(workdir: Path, data: bytes, single: bool) -> None:
    with example_folder(workdir) as folder:
        source = folder / ("visit.json" if single else "visits.jsonl")
        source.write_bytes(data.splitlines()[0] if single and data.strip() else data)
        outcome = invoke("scrub", source, "--json")
        event(f"exit {outcome.exit_code}")
        check_outcome(outcome, places=[source.name], json_lines=True)


@fuzz(80)
@given(data=visits_file(VISITS), strict=st.booleans())
def test_fuzzed_visits_batch_writes_every_result_or_nothing(workdir: Path, data: bytes, strict: bool) -> None:
    with example_folder(workdir) as folder:
        source, out = folder / "visits.jsonl", folder / "out" / "results.jsonl"
        source.write_bytes(data)
        outcome = invoke("batch", source, "--out", out, "--json", *(["--strict"] if strict else []))
        event(f"exit {outcome.exit_code}")
        check_outcome(outcome, outputs=[out], places=[source.name], json_lines=False)
        if outcome.exit_code in (0, 1):
            summary = json.loads(outcome.stdout)
            assert len(out.read_bytes().splitlines()) == summary["visits"], "results file and summary disagree"


@fuzz(40)
@given(data=visits_file(VISITS))
def test_fuzzed_visits_scrub_post_twice_posts_each_visit_once(workdir: Path, empty_ledger: Path, data: bytes) -> None:
    with example_folder(workdir) as folder:
        source = folder / "visits.jsonl"
        source.write_bytes(data)
        url = ledger_copy(empty_ledger, folder)
        before = ledger_rows(url, comparable=False)
        first = invoke("scrub", source, "--post", "--database-url", url, "--json")
        event(f"exit {first.exit_code}")
        check_outcome(first, places=[source.name], json_lines=True)
        posted = ledger_rows(url, comparable=False)
        if first.exit_code == 2:
            assert posted == before, "exit 2 but the ledger changed: a half-posted file"
        second = invoke("scrub", source, "--post", "--database-url", url, "--json")
        check_outcome(second, places=[source.name], json_lines=True)
        assert ledger_rows(url, comparable=False) == posted, "posting the same visits again changed the ledger"


# --- claims (837P) ---------------------------------------------------------------------------------------

CLAIM_TEXTS = st.one_of(SEPARATOR_TEXT, TEXTS, st.sampled_from(["José Ñúñez", "O'Brien~Smith", "A*B", "x:y^z"]))


def sent_visits(url: str) -> list[str]:
    return sorted(str(row[0]) for row in ledger_rows(url, comparable=True).get("claims_sent", []))


@fuzz(60)
@given(data=visits_file(CLAIM_VISITS, CLAIM_TEXTS))
def test_fuzzed_claims_write_a_valid_837_once_or_refuse(workdir: Path, empty_ledger: Path, data: bytes) -> None:
    with example_folder(workdir) as folder:
        source, out, again = folder / "claims.jsonl", folder / "out" / "claims.x12", folder / "out" / "again.x12"
        source.write_bytes(data)
        url = ledger_copy(empty_ledger, folder)
        first = invoke("claim", source, "--837", out, "--database-url", url, "--json")
        check_outcome(first, outputs=[out], places=[source.name], json_lines=False)
        sent = sent_visits(url)
        event(f"exit {first.exit_code}, 837P {'written' if out.exists() else 'not written'}")
        assert len(sent) == len(set(sent)), f"a visit recorded as sent twice: {sent}"
        if out.exists():
            ok, report = validate_837(out)
            assert ok, f"the 837P written fails pyx12: {report[-400:]}"
            ids = claim_ids(out.read_text(encoding="latin-1"))
            assert len(ids) == len(set(ids)), f"a claim twice in one 837P: {ids}"
        second = invoke("claim", source, "--837", again, "--database-url", url, "--json")
        check_outcome(second, outputs=[again], places=[source.name], json_lines=False)
        assert sent_visits(url) == sent, "running claim again sent the same visits again"


# --- remittances (835) -----------------------------------------------------------------------------------

any_835 = st.one_of(synthetic_835(), st.sampled_from(X12_FILES).map(lambda p: p.read_text(encoding="latin-1")))


@st.composite
def remit_file(draw: st.DrawFn, bases: st.SearchStrategy[str] = any_835, rounds: int = 3) -> bytes:
    """An 835 with up to ``rounds`` X12 mutations (none a fifth of the time), then maybe byte-level ones."""
    text = draw(mutated_835(draw(bases), st.integers(0, rounds) | st.just(0)))
    return draw(mutated_bytes(text.encode("latin-1", errors="replace")))


def remit_outcome(folder: Path, data: bytes, *args: str) -> tuple[Path, Outcome]:
    source = folder / "remit.835"
    source.write_bytes(data)
    return source, invoke("remit", source, *args)


@fuzz(200)
@given(data=remit_file())
def test_fuzzed_835_is_read_or_refused_naming_the_segment(workdir: Path, data: bytes) -> None:
    with example_folder(workdir) as folder:
        source, shown = remit_outcome(folder, data, "--json")
        event(f"exit {shown.exit_code}")
        check_outcome(shown, places=[source.name], json_lines=False)
        check_outcome(invoke("denials", source, "--json"), places=[source.name], json_lines=False)


@fuzz(40)
@given(data=remit_file(synthetic_835(), rounds=1))  # the claims it pays are in the ledger
def test_fuzzed_835_posted_twice_changes_the_ledger_once(workdir: Path, claimed_ledger: Path, data: bytes) -> None:
    with example_folder(workdir) as folder:
        url = ledger_copy(claimed_ledger, folder)
        before = ledger_rows(url, comparable=False)
        source, first = remit_outcome(folder, data, "--post", "--database-url", url, "--json")
        check_outcome(first, places=[source.name], json_lines=False)
        posted = ledger_rows(url, comparable=False)
        event(f"exit {first.exit_code}, {len(posted['remit_claims'])} claim(s) posted")
        if first.exit_code == 2:
            assert posted == before, "exit 2 but the ledger changed: a half-posted remittance"
        _, second = remit_outcome(folder, data, "--post", "--database-url", url, "--json")
        check_outcome(second, places=[source.name], json_lines=False)
        if first.exit_code == 0:
            assert second.exit_code == 1 and "not posted" in second.stderr, "the same 835 was not refused again"
        assert ledger_rows(url, comparable=False) == posted, "posting the same 835 again changed the ledger"


# --- rule files ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule_visits(workdir: Path) -> Path:
    """The example visits, and copies billed to every bundled payer profile (so every file is read)."""
    payers = [p.stem for p in (DATA / "payers").glob("*.toml")]
    visits = VISITS + [{**VISITS[0], "id": f"p-{payer}", "payer": payer} for payer in payers]
    path = workdir / "rule-visits.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in visits) + "\n")
    return path


@st.composite
def rule_file(draw: st.DrawFn) -> tuple[RuleFile, bytes]:
    rule = draw(st.sampled_from(RULE_FILES))
    values = ODD_TOML_VALUES if rule.delimiter is None else ODD_CELLS
    # Latin-1: CMS's MUE file is (its AMA notice has a registered sign); the other rule files are ASCII
    return rule, draw(mutated_lines(rule.source.read_text(encoding="latin-1"), values, rule.delimiter))


@fuzz(80)
@given(mutated=rule_file())
def test_fuzzed_rule_files_scrub_or_refuse_naming_the_file(
    workdir: Path, rule_visits: Path, mutated: tuple[RuleFile, bytes]
) -> None:
    rule, data = mutated
    with example_folder(workdir) as folder:
        target = folder / "rules" / rule.target
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        env = {"REHABCLAIM_RULES_DIR": str(folder / "rules")}
        runs: list[tuple[tuple[str | Path, ...], bool]] = [
            (("scrub", rule_visits, "--json"), True),
            (("fee", "97110", "--json"), False),
        ]
        if rule.delimiter is None:  # `payers` reads only the payer profiles
            runs.append((("payers", "--json"), False))
        for args, lines in runs:  # each run reads the rules folder as it is now: nothing is cached
            places = [target.name, "97110", "GPCI"] if args[0] == "fee" else [target.name]
            outcome = invoke(*args, env=env)
            event(f"{args[0]}: exit {outcome.exit_code}")
            check_outcome(outcome, places=places, json_lines=lines)


# --- real processes --------------------------------------------------------------------------------------


def _deep_visit(folder: Path) -> Path:
    path = folder / "deep.json"
    nested = Raw("[" * 100_000 + "]" * 100_000)
    path.write_text(to_json({**BASE_VISIT, "services": [{"code": "97110", "minutes": 30}], "x": nested}))
    return path


def _rules(folder: Path, fixture: str, target: str) -> dict[str, str]:
    (folder / "rules" / target).parent.mkdir(parents=True)
    shutil.copy(FUZZ_FIXTURES / fixture, folder / "rules" / target)
    return {"REHABCLAIM_RULES_DIR": str(folder / "rules")}


RealCase = Callable[[Path], tuple[list[str | Path], dict[str, str]]]  # folder -> (arguments, environment)
REAL_CASES: dict[str, RealCase] = {
    "deeply nested visit": lambda f: (["scrub", _deep_visit(f), "--json"], {}),
    "NaN minutes": lambda f: (["scrub", FUZZ_FIXTURES / "visit-nan-minutes.json", "--json"], {}),
    "duplicate keys": lambda f: (["scrub", FUZZ_FIXTURES / "visit-duplicate-keys.jsonl", "--json"], {}),
    "batch of bad lines, 2 workers": lambda f: (
        ["batch", FUZZ_FIXTURES / "visits-bad-lines.jsonl", "--out", f / "out" / "r.jsonl", "--workers", "2", "--json"],
        {},
    ),
    "batch, invalid UTF-8 in a key": lambda f: (
        ["batch", FUZZ_FIXTURES / "visits-invalid-utf8.jsonl", "--out", f / "out" / "r.jsonl", "--json"],
        {},
    ),
    "claim, non-ASCII name": lambda f: (
        ["claim", FUZZ_FIXTURES / "claim-non-ascii-name.jsonl", "--837", f / "out" / "c.x12", "--json"],
        {"REHABCLAIM_DATA_DIR": str(f)},
    ),
    "claim, separators in fields": lambda f: (
        ["claim", FUZZ_FIXTURES / "claim-separators.jsonl", "--837", f / "out" / "c.x12", "--json"],
        {"REHABCLAIM_DATA_DIR": str(f)},
    ),
    "835 NaN amount, posted": lambda f: (
        ["remit", FUZZ_FIXTURES / "remit-nan-amount.835", "--post", "--json"],
        {"REHABCLAIM_DATA_DIR": str(f)},
    ),
    "835 cut off after N1, posted": lambda f: (
        ["remit", FUZZ_FIXTURES / "remit-cut-after-n1.835", "--post", "--json"],
        {"REHABCLAIM_DATA_DIR": str(f)},
    ),
    "835 without TRN": lambda f: (["remit", FUZZ_FIXTURES / "remit-no-trn.835", "--json"], {}),
    "835 lowercase": lambda f: (["remit", FUZZ_FIXTURES / "remit-lowercase.835", "--json"], {}),
    "payer profile with nan": lambda f: (
        ["scrub", DATA / "examples" / "visits.jsonl", "--json"],
        _rules(f, "payer-nan.toml", "payers/medicare.toml"),
    ),
    "PPRRVU with an exponent": lambda f: (
        ["fee", "97110", "--json"],
        _rules(f, "pprrvu-exponent.csv", "pfs/PPRRVU2026_Jan_nonQPP.csv"),
    ),
}


@pytest.mark.parametrize("case", sorted(REAL_CASES))
def test_real_process_never_prints_a_traceback(tmp_path: Path, case: str) -> None:
    args, env = REAL_CASES[case](tmp_path)
    outcome = run_process(*args, env=env, timeout=60)
    outputs = [Path(a) for a in args if isinstance(a, Path) and a.parent.name == "out"]
    rules = Path(env["REHABCLAIM_RULES_DIR"]).rglob("*") if "REHABCLAIM_RULES_DIR" in env else []
    places = [Path(a).name for a in args if isinstance(a, Path)] + [p.name for p in rules]
    check_outcome(outcome, outputs=outputs, places=places, json_lines=args[0] == "scrub")
    for path in outputs:
        if path.suffix == ".x12" and path.exists():
            ok, report = validate_837(path)
            assert ok, f"{case}: the 837P written fails pyx12: {report[-400:]}"
