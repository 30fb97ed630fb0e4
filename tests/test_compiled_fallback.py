"""The scrub's hot modules may be compiled with mypyc (scripts/compile, run by scripts/setup where a C compiler
exists); the package must give the same bytes either way, and the test command tests what a user gets.

- Plain Python (a copy of the package without any extension, first on PYTHONPATH, in a subprocess) gives every
  golden result byte for byte and the same rule documentation as the tree in use (compiled or not).
- Where the tree is compiled, the extensions are those of the sources as they are now (a stale extension
  would hide an edit), and the scrub modules really are the compiled ones.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import rehabclaim.lines
import rehabclaim.rules.kx
import rehabclaim.scrubber
from rehabclaim.docs import render_rules_markdown
from rehabclaim.rules import RULES
from tests.test_scrub_speed_identity import GOLDEN

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "rehabclaim"
EXTENSIONS = sorted(path for path in (ROOT / "src").rglob("*.so"))
STAMP = ROOT / "build" / "mypyc" / "sources.sha256"

# run in the plain-Python copy: which files the scrub came from, every golden digest, the rules' documentation
_CHILD = """
import json, sys
import rehabclaim.lines, rehabclaim.rules.kx, rehabclaim.scrubber
from rehabclaim.docs import render_rules_markdown
from tests.test_scrub_speed_identity import digests
modules = [rehabclaim.scrubber.__file__, rehabclaim.lines.__file__, rehabclaim.rules.kx.__file__]
print(json.dumps({"modules": modules, "digests": digests(), "rules": render_rules_markdown()}))
"""


def _compiled(module_file: str | None) -> bool:
    return (module_file or "").endswith(".so")


def test_plain_python_gives_the_golden_bytes_and_the_same_rule_docs(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "rehabclaim", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    plain = json.loads(done.stdout)
    assert plain["modules"] and all(Path(module).parent.is_relative_to(copy) for module in plain["modules"])
    assert not any(_compiled(module) for module in plain["modules"])
    expected = GOLDEN.read_text().splitlines()
    assert len(plain["digests"]) == len(expected) > 3000
    changed = [line for line, want in zip(plain["digests"], expected, strict=True) if line != want]
    assert not changed, f"plain Python changed {len(changed)} results, first: {changed[:3]}"
    assert plain["rules"] == render_rules_markdown()  # the tree in use: compiled rules keep their documentation
    assert plain["rules"] == (ROOT / "docs" / "rules.md").read_text()


def test_every_rule_has_its_documentation() -> None:
    undocumented = [rule.id for rule in RULES if len(rule.doc.splitlines()) < 2]
    assert not undocumented, f"rules without a docstring (or lost by compiling): {undocumented}"


def test_compiled_extensions_are_those_of_the_sources() -> None:
    if not EXTENSIONS:  # plain Python (no compiler here, or REHABCLAIM_COMPILE=0): nothing can be stale
        assert not _compiled(rehabclaim.scrubber.__file__)
        return
    digest = runpy.run_path(str(ROOT / "scripts" / "compiled_sources.py"))["sources_digest"]()
    assert STAMP.is_file() and STAMP.read_text().strip() == digest, "stale extensions: run scripts/compile"
    # what a user of this tree gets is the compiled scrub, and this test run tests it
    assert all(_compiled(module.__file__) for module in (rehabclaim.scrubber, rehabclaim.lines, rehabclaim.rules.kx))
