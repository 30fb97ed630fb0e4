"""Speed work on the 835 reader changes no output byte and no refusal (issue 14): every read equals the golden one.

The golden file holds, per input, the first 16 hex digits of the sha256 of ``msgspec.json.encode(read_835(data))``,
or of the refusal's type and message (segment number included) when the file is refused, written by the reader
as it was before the speed work. Inputs: bench/x12_bench.py's generated 835 (the benchmark's file, smaller), every
835 under tests/fixtures and the shipped example, and seeded mutations of each (segments dropped, repeated,
swapped, cut, lowercased; odd amounts and codes; other separators) so that every refusal keeps its words and its
segment. Regenerate it ONLY when a deliberate output change lands (and say so in the commit):

    .venv/bin/python tests/test_x12_835_identity.py --write
"""

from __future__ import annotations

import gc
import hashlib
import random
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import msgspec

if __name__ == "__main__":  # run as a script: the repository root, for ``tests.*``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rehabclaim.x12.core import (
    LEADING,
    PADDING,
    SEGMENT_BATCH,
    Separators,
    collector_paused,
    interchanges,
    iter_segments,
)
from rehabclaim.x12.remit835 import read_835
from tests.fuzzing import bench_module

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "remit835-digests.txt"
GENERATED_CLAIMS, MUTATED_CLAIMS, SEED = 2000, 12, 11
MUTATIONS_PER_FILE = 8
ODD_VALUES = ("NaN", "", " ", "1E5", "-", "-0", ".5", "5.", "12345678901234567890", "abc", "QC", "835", "00401", "x:y")


def _samples() -> list[Path]:
    return [*sorted((ROOT / "tests" / "fixtures").rglob("*.835")), ROOT / "src/rehabclaim/data/examples/remit.835"]


def _terminator(text: str) -> str:
    start = text.lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    return start[105] if len(start) > 105 and start.startswith("ISA") else "~"


def _mutated(rng: random.Random, text: str) -> str:
    """``text`` with one to three X12 mutations, chosen by ``rng``."""
    terminator = _terminator(text)
    element = text.lstrip("\ufeff\xef\xbb\xbf \t\r\n")[3:4] or "*"
    for _ in range(rng.randint(1, 3)):
        segments = text.split(terminator)
        at = rng.randrange(len(segments))
        kind = rng.choice(("drop", "repeat", "swap", "value", "value", "value", "lower", "cut", "unknown", "component"))
        if kind == "drop":
            del segments[at]
        elif kind == "repeat":
            segments.insert(at, segments[at])
        elif kind == "swap":
            other = rng.randrange(len(segments))
            segments[at], segments[other] = segments[other], segments[at]
        elif kind == "value":
            elements = segments[at].split(element)
            elements[rng.randrange(len(elements))] = rng.choice(ODD_VALUES)
            segments[at] = element.join(elements)
        elif kind == "lower":
            segments[at] = segments[at].lower()
        elif kind == "cut":
            return terminator.join(segments)[: rng.randrange(len(text) + 1)]
        elif kind == "unknown":
            segments.insert(at, f"\nZZ9{element}1")
        else:
            segments[at] = segments[at].replace(":", rng.choice(">^|"))
        text = terminator.join(segments)
    return text


def _inputs() -> Iterator[tuple[str, bytes]]:
    """(name, file bytes) of every input the golden file covers."""
    bench = bench_module("x12_bench")
    yield f"generated-{GENERATED_CLAIMS}", bench.remit_835_text(GENERATED_CLAIMS).encode("latin-1")
    bases = [(f"generated-{MUTATED_CLAIMS}", bench.remit_835_text(MUTATED_CLAIMS, seed=SEED + 1))]
    for path in _samples():
        name = path.relative_to(ROOT).as_posix()
        data = path.read_bytes()
        yield name, data
        bases.append((name, data.decode("latin-1")))
    rng = random.Random(SEED)
    for name, text in bases:
        for number in range(1, MUTATIONS_PER_FILE + 1):
            yield f"{name}~{number}", _mutated(rng, text).encode("latin-1")


def _outcome(data: bytes) -> bytes:
    try:
        return msgspec.json.encode(read_835(data))
    except Exception as exc:  # a refusal is output too: its type, segment and words
        return f"refused {type(exc).__name__}: {exc}".encode()


def _digest(outcome: bytes) -> str:
    return hashlib.sha256(outcome).hexdigest()[:16]


def digests() -> list[str]:
    return [f"{name} {_digest(_outcome(data))}" for name, data in _inputs()]


def test_every_read_and_refusal_is_identical_to_the_golden_one() -> None:
    expected = GOLDEN.read_text().splitlines()
    got = digests()
    assert len(got) == len(expected) > 500
    changed = [name for name, want in zip(got, expected, strict=True) if name != want]
    assert not changed, f"{len(changed)} outcomes changed, first: {changed[:5]}"


def test_the_golden_file_covers_reads_and_refusals() -> None:
    """The mutations reach both: a golden file of refusals only (or reads only) would prove little."""
    outcomes = [_outcome(data) for _, data in _inputs()]
    refused = sum(o.startswith(b"refused X12Error: segment ") for o in outcomes)
    assert 100 < refused < len(outcomes) - 100
    assert not any(o.startswith(b"refused") and not o.startswith(b"refused X12Error") for o in outcomes)


def test_the_comparison_sees_a_changed_byte() -> None:
    name, data = next(_inputs())
    outcome = _outcome(data)
    golden_line = GOLDEN.read_text().splitlines()[0]
    assert golden_line == f"{name} {_digest(outcome)}"
    changed = outcome.replace(b'"97110"', b'"97111"', 1)  # one procedure code of the remittance
    assert changed != outcome and golden_line != f"{name} {_digest(changed)}"


def _segments_split_whole(text: str, separators: Separators) -> list[list[str]]:
    """``iter_segments`` as it was before batches: the whole interchange split at once."""
    element, terminator = separators.element, separators.segment
    text = text.lstrip(LEADING)
    if terminator in "\r\n":
        return [raw.strip(PADDING).split(element) for raw in text.split(terminator) if raw.strip(PADDING)]
    head = text[:65536]
    indented = any(blank in head for blank in ("\n ", "\n\t", f"{terminator} ", f"{terminator}\t"))
    text = text.replace("\r", "").replace("\n", "").rstrip(PADDING)
    strip = " \t" if indented else ""
    return [raw.lstrip(strip).split(element) for raw in text.split(terminator) if raw and not raw.isspace()]


def test_segments_read_a_batch_at_a_time_are_those_of_the_whole_text() -> None:
    """Batches are cut at segment terminators: a file many batches long (also one whose terminator is a line
    break, and one indented) gives the very segments of splitting it whole."""
    text = bench_module("x12_bench").remit_835_text(2000)
    shapes = {
        "tilde": text,
        "line-break terminator": text.replace("~\n", "\n"),
        "indented": text.replace("~\n", "~\n  "),
        "padded": text + "\x1a\x00\x00",
    }
    for shape, variant in shapes.items():
        assert len(variant) > 3 * SEGMENT_BATCH
        (separators, interchange), *_ = interchanges(variant)
        expected = _segments_split_whole(interchange, separators)
        assert list(iter_segments(interchange, separators)) == expected, shape
        assert len(expected) > 5000


class _Node:
    """An object the collector tracks (instances of plain classes are)."""

    def __init__(self) -> None:
        self.other: object = None


def test_a_kept_tree_skips_the_young_generations_and_cycles_are_still_collected() -> None:
    cycle = _Node()
    cycle.other = cycle  # garbage made before the read: only the collector can free it
    gone = weakref.ref(cycle)
    del cycle
    with collector_paused(keep_built=True):
        tree = [[_Node() for _ in range(100)] for _ in range(1000)]
    young = {id(o) for generation in (0, 1) for o in gc.get_objects(generation)}
    assert id(tree) not in young and id(tree[0][0]) not in young
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None, "a cycle made before the read was never collected"


def test_a_process_that_froze_objects_keeps_them_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with collector_paused(keep_built=True):
            tree = [[_Node()] for _ in range(1000)]
        # not unfrozen (0) and the tree not frozen (+2000); other threads of the test process may free a
        # few of the frozen objects meanwhile, so the count can only have dropped a little
        assert frozen - 100 <= gc.get_freeze_count() <= frozen and len(tree) == 1000
    finally:
        gc.unfreeze()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text("\n".join(digests()) + "\n")
    print(f"wrote {GOLDEN}")
