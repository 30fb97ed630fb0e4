"""Speed work on the scrub changes no output byte (issue 14): every result equals the golden one.

The golden file holds, per visit, the first 16 hex digits of the sha256 of its result bytes, written by the
engine as it was before the speed work. Visits: bench/generate.py's (seeded) and every visit in the rule
fixtures, the latter also scrubbed for a claim (stage ``claim``). Regenerate it ONLY when a deliberate output
change lands (and say so in the commit):

    .venv/bin/python tests/test_scrub_speed_identity.py --write
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

if __name__ == "__main__":  # run as a script: the repository root, for ``tests.*``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rehabclaim.errors import InputError
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result
from tests.conftest import visit_json
from tests.fuzzing import bench_module

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "scrub-digests.txt"
RULE_FIXTURES = Path(__file__).parent / "fixtures" / "rules"
GENERATED_VISITS, SEED = 3000, 11


def _visits() -> Iterator[tuple[str, bytes, bool]]:
    """(name, visit JSON, for a claim) of every visit the golden file covers."""
    generator = bench_module("generate")
    rng, start = random.Random(SEED), date(2026, 4, 1)
    for number in range(1, GENERATED_VISITS + 1):
        yield f"generated-{number}", json.dumps(generator.visit(rng, number, start)).encode(), False
    for path in sorted(RULE_FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text())
        for kind in ("fires", "passes"):
            for index, case in enumerate(fixture[kind]):
                raw = visit_json(**case["visit"])
                yield f"{path.stem}-{kind}-{index}", raw, False
                yield f"{path.stem}-{kind}-{index}-claim", raw, True


def _result_bytes(engine: Scrubber, raw: bytes, for_claim: bool) -> bytes:
    try:
        if not for_claim:
            return engine.scrub_json(raw)
        return encode_result(engine.scrub(decode_visit(raw), for_claim=True))
    except InputError as exc:  # a fixture visit the engine refuses: the refusal is output too
        return f"refused: {exc}".encode()


def digests() -> list[str]:
    engine = Scrubber(load_reference())
    return [
        f"{name} {hashlib.sha256(_result_bytes(engine, raw, for_claim)).hexdigest()[:16]}"
        for name, raw, for_claim in _visits()
    ]


def test_every_result_is_byte_identical_to_the_golden_one() -> None:
    expected = GOLDEN.read_text().splitlines()
    got = digests()
    assert len(got) == len(expected) > GENERATED_VISITS
    changed = [name for name, want in zip(got, expected, strict=True) if name != want]
    assert not changed, f"{len(changed)} results changed, first: {changed[:5]}"


def test_the_comparison_sees_a_changed_byte() -> None:
    engine = Scrubber(load_reference())
    name, raw, _ = next(_visits())
    result = _result_bytes(engine, raw, False)
    golden_line = GOLDEN.read_text().splitlines()[0]
    assert golden_line == f"{name} {hashlib.sha256(result).hexdigest()[:16]}"
    assert golden_line != f"{name} {hashlib.sha256(result.replace(b'.', b',', 1)).hexdigest()[:16]}"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text("\n".join(digests()) + "\n")
    print(f"wrote {GOLDEN}")
