"""Shared by the fuzz and crash-recovery tests: running the CLI (in process, or as a real process that can
be killed), the properties every run must keep, mutations of visits, 835s and rule files, and ledger and
837P snapshots that two runs can be compared by."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from hypothesis import strategies as st
from typer.testing import CliRunner

from rehabclaim.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "rehabclaim" / "data"
X12_FIXTURES = Path(__file__).parent / "fixtures" / "x12"
FUZZ_FIXTURES = Path(__file__).parent / "fixtures" / "fuzz"
EXIT_CODES = (0, 1, 2)
IN_PROCESS_SECONDS = 20.0  # an in-process run still going after this long is a hang
PROCESS_SECONDS = 120.0
RUNNER = CliRunner()


# --- running the CLI ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None
    seconds: float = 0.0

    @property
    def command(self) -> str:
        shown = " ".join(arg if len(arg) < 60 else f"...{arg[-40:]}" for arg in self.args)
        return f"rehabclaim {shown}"


class Hang(BaseException):
    """An in-process run went over its time limit. A BaseException, so that no handler in the code under
    test swallows it and Hypothesis reports it at once instead of shrinking a slow example for minutes."""


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    def expire(_signal: int, _frame: FrameType | None) -> None:
        raise Hang(f"{what}: still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Outcome:
    """Run the CLI in this process (fast); an exception is kept in the outcome, not raised."""
    words = tuple(str(arg) for arg in args)
    started = time.monotonic()
    with time_limit(IN_PROCESS_SECONDS, "rehabclaim " + " ".join(words)[:200]):
        result = RUNNER.invoke(app, list(words), env=env, catch_exceptions=True)
    return Outcome(words, result.exit_code, result.stdout, result.stderr, result.exception, time.monotonic() - started)


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REHABCLAIM_")}
    env.update({"PYTHONUNBUFFERED": "1", **(extra or {})})
    return env


def cli_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "rehabclaim", *(str(arg) for arg in args)]


def run_process(*args: str | Path, env: dict[str, str] | None = None, timeout: float = PROCESS_SECONDS) -> Outcome:
    """Run the CLI as its own process, the way a user does; a run over ``timeout`` fails the test."""
    started = time.monotonic()
    done = subprocess.run(
        cli_command(*args), capture_output=True, text=True, errors="replace", timeout=timeout, env=process_env(env)
    )
    return Outcome(
        tuple(str(a) for a in args), done.returncode, done.stdout, done.stderr, None, time.monotonic() - started
    )


@dataclass(frozen=True, slots=True)
class Killed:
    returncode: int
    stderr: str
    seconds: float


def kill_when(
    args: Sequence[str | Path], ready: Callable[[float], bool], folder: Path, env: dict[str, str] | None = None
) -> Killed:
    """Start the CLI and SIGKILL it as soon as ``ready(seconds since start)`` holds. Its output goes to files
    in ``folder`` (a full pipe would stall it); its own process group is killed afterwards (batch workers)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "killed.stdout").open("wb") as out, (folder / "killed.stderr").open("wb") as err:
        process = subprocess.Popen(
            cli_command(*args), stdout=out, stderr=err, env=process_env(env), start_new_session=True
        )
    started = time.monotonic()
    try:
        while process.returncode is None and not ready(time.monotonic() - started):
            if time.monotonic() - started > PROCESS_SECONDS:
                raise AssertionError(f"rehabclaim {' '.join(map(str, args))}: never reached the point to kill it")
            time.sleep(0.001)
            process.poll()
    finally:
        if process.returncode is None:  # not reaped, so its id is still ours: kill it, then its group (workers)
            with suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGKILL)
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    stderr = (folder / "killed.stderr").read_text(errors="replace")
    return Killed(process.returncode, stderr, time.monotonic() - started)


def bench_module(name: str) -> ModuleType:
    """A script of bench/ (generate.py, x12_bench.py) as a module: the inputs the benchmarks use."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))  # x12_bench imports generate
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the properties of every run ------------------------------------------------------------------------

_INDEX = r"(?:\[(?:\d+|\.\.\.)\])*"  # [2], or msgspec's [...] for a value under any key
_FIELD_FIRST = re.compile(rf"^(?:line \d+: )?(?:[A-Za-z_][\w-]*{_INDEX}(?:\.[A-Za-z_][\w-]*{_INDEX})*: |--[a-z])")
_LINE_FIRST = re.compile(r"^line \d+: ")
_SEGMENT = re.compile(r"\bsegment \d+|\(byte \d+\)")  # an X12 segment; where JSON text breaks


def names_a_place(message: str, places: Sequence[str]) -> bool:
    """Whether an error message says where the problem is: a field path first (``services[0].minutes: ``,
    maybe after ``line N: ``), a line, an X12 segment, the byte where JSON breaks, or one of ``places``."""
    body = message.removeprefix("error:").strip()
    return bool(
        _FIELD_FIRST.match(body) or _LINE_FIRST.match(body) or _SEGMENT.search(body) or any(p in body for p in places)
    )


def crash_summary(exc: BaseException) -> str:
    """The exception and the innermost frame of our code that raised it: enough to route the failure."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/rehabclaim/" in f.filename]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:200]}{where}"


_FRAME = re.compile(r"(?P<file>[\w./-]+\.py):(?P<line>\d+) in (?P<function>\w+)")


def printed_crash(stderr: str) -> str:
    """The exception and the innermost frame of our code in a traceback a real process printed (Rich boxes
    it): enough to route the failure."""
    exception = " ".join(stderr.rsplit("╯", 1)[-1].split())[:200] if "╯" in stderr else stderr.strip()[-200:]
    frames = [f for f in _FRAME.finditer(stderr) if "rehabclaim/" in f["file"]]
    where = f" at {Path(frames[-1]['file']).name}:{frames[-1]['line']} in {frames[-1]['function']}" if frames else ""
    return f"{exception}{where}"


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) if folder.is_dir() else []


def assert_no_crash(outcome: Outcome) -> None:
    exc = outcome.exception
    if exc is not None and not isinstance(exc, SystemExit):
        raise AssertionError(f"{outcome.command}: crashed with {crash_summary(exc)}")
    assert outcome.exit_code in EXIT_CODES, f"{outcome.command}: exit status {outcome.exit_code}"
    assert "Traceback" not in outcome.stderr, (
        f"{outcome.command}: a traceback on stderr: {printed_crash(outcome.stderr)}"
    )


def assert_refused_cleanly(outcome: Outcome, outputs: Sequence[Path], places: Sequence[str]) -> None:
    """Exit 2: one line, ``error:`` first, saying where; nothing printed and nothing written."""
    message = outcome.stderr.strip()
    assert "\n" not in message, (
        f"{outcome.command}: exit 2 with a {message.count(chr(10)) + 1}-line message: {message[:300]!r}"
    )
    assert message.startswith("error:"), f"{outcome.command}: exit 2 without 'error:' first: {message[:300]!r}"
    assert names_a_place(message, places), (
        f"{outcome.command}: the message names no field, segment or file: {message[:300]!r}"
    )
    assert outcome.stdout == "", f"{outcome.command}: exit 2 after printing output: {outcome.stdout[:200]!r}"
    for path in outputs:
        assert not path.exists(), f"{outcome.command}: exit 2 but {path.name} was written"


def assert_json(outcome: Outcome, lines: bool) -> None:
    try:
        if lines:
            for line in outcome.stdout.splitlines():
                json.loads(line)
        else:
            json.loads(outcome.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"{outcome.command}: --json output does not parse ({exc}): {outcome.stdout[:200]!r}"
        ) from None


def check_outcome(
    outcome: Outcome, outputs: Sequence[Path] = (), places: Sequence[str] = (), json_lines: bool | None = None
) -> None:
    """Exit 0/1 with a result (``json_lines``: None for no --json, else whether it is one JSON per line) or
    exit 2 refusing cleanly; never a traceback; never a temporary file left beside an output."""
    assert_no_crash(outcome)
    if outcome.exit_code == 2:
        assert_refused_cleanly(outcome, outputs, places)
    elif json_lines is not None:
        assert_json(outcome, json_lines)
    for path in outputs:
        assert not temporaries(path.parent), f"{outcome.command}: left {temporaries(path.parent)}"


# --- the ledger and 837P, compared between runs -----------------------------------------------------------

RUN_SPECIFIC = frozenset({"interchange_control_number", "control_number", "path", "host", "pid"})
UNCOMPARED_TABLES = frozenset({"alembic_version", "control_numbers"})


def _run_specific(column: Any) -> bool:
    """Columns that legitimately differ between two runs of the same input: times, row ids, the rows they
    point at, control numbers, and where and by whom a file was written."""
    from sqlalchemy import DateTime, Integer

    if column.name in RUN_SPECIFIC or isinstance(column.type, DateTime):
        return True
    if column.primary_key and column.name == "id" and isinstance(column.type, Integer):
        return True
    return any(key.column.name == "id" and isinstance(key.column.type, Integer) for key in column.foreign_keys)


def ledger_rows(url: str, comparable: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table, sorted; ``comparable``: without run-specific columns and tables,
    so a clean run and a killed-then-rerun one can be compared."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        rows: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                if comparable and table.name in UNCOMPARED_TABLES:
                    continue
                columns = [c for c in table.columns if not (comparable and _run_specific(c))]
                found = connection.execute(select(*columns)).all()
                rows[table.name] = sorted((tuple(row) for row in found), key=repr)
        return rows
    finally:
        engine.dispose()


MASKED_837 = {"ISA": (9, 10, 13), "GS": (4, 5, 6), "ST": (2,), "SE": (2,), "BHT": (3, 4, 5), "GE": (2,), "IEA": (2,)}


def _x12_separators(text: str) -> tuple[str, str]:
    start = text.lstrip()
    return (start[3], start[105]) if start.startswith("ISA") and len(start) > 105 else ("*", "~")


def x12_segments(text: str) -> list[list[str]]:
    element, terminator = _x12_separators(text)
    return [raw.strip().split(element) for raw in text.split(terminator) if raw.strip()]


def mask_837(text: str) -> list[list[str]]:
    """The 837P's segments with control numbers, dates and times masked (they differ between runs)."""
    segments = x12_segments(text)
    for elements in segments:
        for position in MASKED_837.get(elements[0], ()):
            if position < len(elements):
                elements[position] = "#"
    return segments


def claim_ids(text: str) -> list[str]:
    """CLM01 (the visit id) of every claim in an 837P."""
    return [elements[1] for elements in x12_segments(text) if elements[0] == "CLM" and len(elements) > 1]


def validate_837(path: Path) -> tuple[bool, str]:
    """pyx12's verdict on an 837P, an independent validator (as tests/test_x12_837.py uses it)."""
    import io

    import pyx12.params  # type: ignore[import-untyped]
    import pyx12.x12n_document  # type: ignore[import-untyped]

    report = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(), src_file=str(path), fd_997=report, fd_html=None, fd_xmldoc=None, map_path=None
    )
    return bool(ok), report.getvalue()


def pyx12_verdict(path: Path) -> bool | None:
    """pyx12's verdict on a whole X12 file (``validate_837``'s, for an 835 as well); None when it fails on the
    file or has no map for it (005010X222A2). Its log is silenced: a broken file logs every error it finds."""
    import logging

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    try:
        return validate_837(path)[0]
    except Exception:
        return None


def record_claims_sent(url: str, visit_ids: Sequence[str]) -> None:
    """Mark visits as claimed, so that an 835 paying them is matched (what `claim` records)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from rehabclaim.ledger import open_ledger
    from rehabclaim.ledger.models import ClaimSent

    engine = open_ledger(url)
    sent_at = datetime(2026, 6, 2, tzinfo=UTC)
    fixed = {"payer": "medicare", "frequency": "1", "interchange_control_number": 1, "total_charge": 0}
    rows = [{"visit_id": v, "sent_at": sent_at, **fixed} for v in visit_ids]
    with engine.begin() as connection:
        connection.execute(insert(ClaimSent), rows)
    engine.dispose()


# --- mutating visits (JSON) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text spliced in as it is: deep nesting, NaN, 1e26, a leading zero."""

    text: str


@dataclass(frozen=True, slots=True)
class Pairs:
    """A JSON object whose keys may repeat."""

    items: tuple[tuple[str, Any], ...]


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        value = Pairs(tuple(value.items()))
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{to_json(v)}" for k, v in value.items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


Location = tuple[str | int, ...]


def locations(tree: Any, here: Location = ()) -> list[Location]:
    """Every place in a JSON tree that holds a value (Raw and Pairs are leaves)."""
    found: list[Location] = [here] if here else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += locations(value, (*here, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += locations(value, (*here, index))
    return found


def _parent(tree: Any, where: Location) -> Any:
    for step in where[:-1]:
        tree = tree[step]
    return tree


SEPARATOR_TEXT = st.text(alphabet=st.sampled_from("~*:^>|\\\x00\x1f\x7f\n\r\té ÄŁ😀-'"), min_size=1, max_size=12)
ODD_STRINGS = st.sampled_from(
    ["", " ", "97110 ", " 97110", "97110\x00", "9711O", "97110-GP", "ABCDE", "99999", "0770T", "L3809", "M54.5",
     "Z99.999", "m54.50", "2026-02-30", "0000-01-01", "9999-12-31", "2026-6-1", "20260601", "NaN", "-0", "1e26",
     "PT ", "pt", "medicare ", "MEDICARE", "Ωmega", "José Ñúñez", "李", "O'Brien-Smith", "A" * 61, "null"]
)  # fmt: skip
HUGE_STRINGS = st.builds(lambda n, c: c * n, st.integers(1_000, 100_000), st.sampled_from(["x", "é", "~", "9"]))
ODD_NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 15, 1440, 1441, 999, 1000, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([Raw(t) for t in ("1e26", "-1e400", "1E-400", "NaN", "Infinity", "-Infinity", "1.0", "01", "-0")]),
)
DEEP = st.one_of(
    st.integers(10, 100_000).map(lambda n: Raw("[" * n + "]" * n)),
    st.integers(10, 50_000).map(lambda n: Raw('{"a":' * n + "1" + "}" * n)),
)
TEXTS = st.one_of(st.text(max_size=40), SEPARATOR_TEXT, ODD_STRINGS, HUGE_STRINGS)
SCALARS = st.one_of(TEXTS, ODD_NUMBERS, st.booleans(), st.none())
ODD_VALUES = st.one_of(
    SCALARS, DEEP, st.lists(SCALARS, max_size=4), st.dictionaries(st.text(max_size=8), SCALARS, max_size=3)
)


def similar(value: Any, texts: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Odd values of the same JSON type as ``value`` (a string stays a string): these get past decoding
    and reach the rules, the ledger and the 837P writer."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(-2, 2_000), st.sampled_from([0, 1440, 1441, 999, 10**30]))
    if isinstance(value, str):
        return texts
    return ODD_VALUES


@st.composite
def mutated_tree(draw: st.DrawFn, base: Any, texts: st.SearchStrategy[str] = TEXTS) -> Any:
    """``base`` with one to three mutations: a value made odd (of its own type, or of any), a field dropped
    or added, a key repeated, a list grown long."""
    tree = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        places = locations(tree)
        objects = [p for p in [(), *places] if isinstance(_node(tree, p), dict)]
        lists = [p for p in places if isinstance(_node(tree, p), list) and _node(tree, p)]
        kind = draw(st.sampled_from(["similar", "similar", "similar", "replace", "drop", "add", "repeat", "grow"]))
        if kind in ("similar", "replace", "drop") and places:
            where = draw(st.sampled_from(places))
            parent = _parent(tree, where)
            if kind == "drop":
                del parent[where[-1]]
            else:
                parent[where[-1]] = draw(similar(parent[where[-1]], texts) if kind == "similar" else ODD_VALUES)
        elif kind == "add" and objects:
            _node(tree, draw(st.sampled_from(objects)))[draw(st.text(max_size=10))] = draw(ODD_VALUES)
        elif kind == "repeat" and objects:
            where = draw(st.sampled_from(objects))
            node = _node(tree, where)
            key = draw(st.sampled_from([*node, "id"]))
            tree = _replaced(tree, where, Pairs((*node.items(), (key, draw(ODD_VALUES)))))
        elif kind == "grow" and lists:
            node = _node(tree, draw(st.sampled_from(lists)))
            node.extend(copy.deepcopy(node[-1]) for _ in range(draw(st.integers(50, 2_000))))
    return tree


def _node(tree: Any, where: Location) -> Any:
    for step in where:
        tree = tree[step]
    return tree


def _replaced(tree: Any, where: Location, value: Any) -> Any:
    if not where:
        return value
    _parent(tree, where)[where[-1]] = value
    return tree


class Sample(bytes):
    """A fuzzed file's bytes, shown cut short when Hypothesis prints a failing example (they may run to
    100 kB); FUZZ_SHRINK=1 makes the example small instead."""

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:
        text = bytes.__repr__(self)
        printer.text(text if len(text) <= 600 else f"{text[:400]}...{text[-150:]} ({len(self)} bytes)")


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> Sample:
    """``data`` as it is (most often) or with one or two byte-level mutations: a byte changed, bytes
    inserted, the end cut off."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "truncate"]))
        if kind == "flip":
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif kind == "insert":
            extra = draw(st.sampled_from([b"\xff\xfe", b"\x00", b"\r\n", b"\xc3", b"\xef\xbb\xbf", b"~", b"\n\n"]))
            data = data[:at] + extra + data[at:]
        else:
            data = data[:at]
    return Sample(data)


# --- mutating 835s ---------------------------------------------------------------------------------------

ODD_AMOUNTS = st.sampled_from(
    ["NaN", "nan", "Infinity", "-Infinity", "sNaN", "1e26", "1E+26", "-0", "", " ", "1,000.00", "١٢", "0x10", "1_000",
     "99999999999999999999.99", "-5", "5.", ".5", "1.005", "12345678901234567890"]
)  # fmt: skip
X12_ROUNDS = st.sampled_from([0, 1, 1, 2, 3])  # how many mutations an 835 gets
AMOUNT_ELEMENTS = {"BPR": (2,), "CLP": (3, 4, 5), "SVC": (2, 3, 5), "CAS": (3, 4), "AMT": (2,), "PLB": (4,)}


def paid_lines() -> st.SearchStrategy[Any]:
    from rehabclaim.x12.synthetic import PaidLine

    @st.composite
    def line(draw: st.DrawFn) -> PaidLine:
        cents = draw(st.integers(1, 500_00))
        contractual = draw(st.integers(0, cents))
        patient = draw(st.integers(0, cents - contractual))
        return PaidLine(
            draw(st.sampled_from(["97110", "97140", "97530", "97010", "97162"])),
            draw(st.sampled_from([("GP",), ("GP", "KX"), ("GO",)])),
            Decimal(cents) / 100,
            draw(st.integers(1, 4)),
            Decimal(contractual) / 100,
            Decimal(patient) / 100,
            denied=draw(st.sampled_from([None, None, "97", "50"])),
            remark=draw(st.sampled_from([None, "M15", "N362"])),
        )

    return line()


REMIT_CLAIM_IDS = ("c1", "c2", "c3", "c4")


@st.composite
def synthetic_835(draw: st.DrawFn) -> str:
    from rehabclaim.x12.synthetic import PaidClaim, remittance_835

    claims = draw(
        st.lists(
            st.builds(
                PaidClaim, st.sampled_from(REMIT_CLAIM_IDS), st.lists(paid_lines(), min_size=1, max_size=3).map(tuple)
            ),
            min_size=1,
            max_size=4,
        )
    )
    return remittance_835(claims, trace=draw(st.sampled_from(["T1", "EFT-2", "0001"])))


def _split_835(text: str) -> tuple[list[str], str, str]:
    element, terminator = _x12_separators(text)
    return text.split(terminator), element, terminator


@st.composite
def mutated_835(draw: st.DrawFn, text: str, rounds: st.SearchStrategy[int] = X12_ROUNDS) -> str:
    """``text`` as it is or with ``rounds`` X12 mutations: a segment dropped, repeated or swapped, an
    amount made NaN or huge, the TRN trace removed, ids lowercased, the file cut off."""
    for _ in range(draw(rounds)):
        segments, element, terminator = _split_835(text)
        kind = draw(st.sampled_from(["drop", "repeat", "swap", "amount", "amount", "no-trn", "lower", "cut"]))
        at = draw(st.integers(0, max(0, len(segments) - 1)))
        if kind == "drop" and segments:
            del segments[at]
        elif kind == "repeat" and segments:
            segments.insert(at, segments[at])
        elif kind == "swap" and len(segments) > 1:
            other = draw(st.integers(0, len(segments) - 1))
            segments[at], segments[other] = segments[other], segments[at]
        elif kind == "amount":
            segments = _odd_amount(draw, segments, element)
        elif kind == "no-trn":
            segments = [s for s in segments if not s.strip().startswith(f"TRN{element}")]
        elif kind == "lower":
            whole = draw(st.booleans())
            segments = (
                [s.lower() for s in segments] if whole else [*segments[:at], segments[at].lower(), *segments[at + 1 :]]
            )
        elif kind == "cut":
            return terminator.join(segments)[: draw(st.integers(0, len(text)))]
        text = terminator.join(segments)
    return text


def _odd_amount(draw: st.DrawFn, segments: list[str], element: str) -> list[str]:
    holders = [
        (i, position)
        for i, s in enumerate(segments)
        for position in AMOUNT_ELEMENTS.get(s.strip().split(element)[0], ())
        if position < len(s.strip().split(element))
    ]
    if not holders:
        return segments
    index, position = draw(st.sampled_from(holders))
    elements = segments[index].strip().split(element)
    elements[position] = draw(ODD_AMOUNTS)
    return [*segments[:index], element.join(elements), *segments[index + 1 :]]


# --- mutating rule files ---------------------------------------------------------------------------------

ODD_TOML_VALUES = st.sampled_from(
    ["nan", "inf", "-inf", "+nan", "-1", "1e26", "99999999999999999999", "0", "-0.0", '""', f'"{"x" * 5000}"',
     "true", "[]", "{}", '"97110 "', '"9711O"', '"\\u0000"', "1979-05-27", '["97110", 5]', '"per-minute"',
     '"ÿ"', "[[1]]", '{a = 1}', '"~*:^"', "'''\nx'''"]
)  # fmt: skip
ODD_CELLS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e26", "1E-7", "-1", "²", "١", "", " ", "1_000", "0x1", "97110\x00", "9711",
     "ABCDEF", "*", "20261301", "99999999", '"unclosed', "x" * 10_000, "1,5", "\t", "1.2.3", "+5"]
)  # fmt: skip
_TOML_KEY = re.compile(r'^\s*[\w"-]+\s*=')


@st.composite
def mutated_lines(draw: st.DrawFn, text: str, values: st.SearchStrategy[str], delimiter: str | None) -> bytes:
    """A rule file with one or two line mutations (a value or a cell replaced, a line dropped or repeated, a
    stray quote), then maybe byte-level ones (invalid UTF-8, the end cut off)."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["value", "value", "value", "drop", "repeat", "quote"]))
        if kind == "value":
            lines[at] = _odd_line(draw, lines[at], values, delimiter)
        elif kind == "drop":
            del lines[at]
        elif kind == "repeat":
            lines.insert(at, lines[at])
        else:
            cut = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:cut] + '"' + lines[at][cut:]
        if not lines:
            break
    return draw(mutated_bytes("".join(lines).encode()))


def _odd_line(draw: st.DrawFn, line: str, values: st.SearchStrategy[str], delimiter: str | None) -> str:
    end = "\n" if line.endswith("\n") else ""
    if delimiter is None:  # TOML: replace the value of a key, if the line sets one
        return f"{line.split('=', 1)[0]}= {draw(values)}{end}" if _TOML_KEY.match(line) else line
    cells = line.rstrip("\r\n").split(delimiter)
    cells[draw(st.integers(0, len(cells) - 1))] = draw(values)
    return delimiter.join(cells) + end


@dataclass(frozen=True, slots=True)
class RuleFile:
    """A bundled rule file and where a copy goes in a drop-in rules folder."""

    source: Path
    target: str  # relative to the rules folder
    delimiter: str | None  # None: TOML


RULE_FILES = (
    *(RuleFile(p, f"payers/{p.name}", None) for p in sorted((DATA / "payers").glob("*.toml"))),
    RuleFile(DATA / "cms" / "PPRRVU2026_Jul_nonQPP.csv", "pfs/PPRRVU2026_Jul_nonQPP.csv", ","),
    RuleFile(DATA / "cms" / "GPCI2026_RVU26C.csv", "pfs/GPCI2026.csv", ","),
    RuleFile(
        DATA / "cms" / "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv",
        "mue/MCR_MUE_PractitionerServices_Eff_04-01-2026.csv",
        ",",
    ),
    RuleFile(DATA / "cms" / "ptp-practitioner-sample.txt", "ncci/ccipra-v321r0-f1.txt", "\t"),
)


def seeded(*parts: object) -> random.Random:
    """A random source fixed by the test's own name and parameters (kill points, thresholds)."""
    return random.Random("-".join(map(str, parts)))
