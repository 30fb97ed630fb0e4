"""What a rule is, and the registry the engine and the docs read.

A rule is a small function with a stable id, a severity, a one-line summary and a docstring that is its
documentation (what it checks, why, an example, the fix, the source). It returns ``(code, message)`` for
each problem it finds, in order (an empty list or ``NO_HITS`` when none; a generator also does); the engine
turns those into findings carrying the rule's id and severity. A rule never changes a line: the pipeline's
stages (``rehabclaim.pipeline``) put modifiers on and record what they decided, and every rule runs after
them. A rule's stage orders the findings: ``modifiers`` (reporting the
modifier stages), ``payment`` (reading the fee estimate, such as KX), then ``checks``; ``claim`` rules run
only when a claim is built.

A rule that can only fire for certain codes names them with ``triggers``: a function of the catalog and the
CMS tables returning those codes, evaluated once per engine. The engine then skips the rule for a visit
with none of them, which keeps a batch of thousands of visits from running every rule on every visit.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from rehabclaim.catalog import Catalog, Code
from rehabclaim.cms.tables import CmsTables
from rehabclaim.context import ScrubContext
from rehabclaim.model import Severity

Stage = Literal["modifiers", "payment", "checks", "claim"]
Hit = tuple[str | None, str]
# a check's hits: a list, or NO_HITS when it has nothing to say (compiled, a generator per rule and visit cost
# more to make and run than the check itself; issue 14)
Hits = Sequence[Hit]
NO_HITS: tuple[Hit, ...] = ()
CheckFunction = Callable[[ScrubContext], Iterable[Hit]]
Triggers = Callable[[Catalog, CmsTables], Iterable[str]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    stage: Stage
    family: str
    check: CheckFunction
    triggers: Triggers | None = None

    @property
    def doc(self) -> str:
        return check_doc(self.check)


REGISTRY: list[Rule] = []


def check_doc(check: CheckFunction) -> str:
    """A rule's documentation: its function's docstring. A function compiled by mypyc (scripts/compile) has
    none at run time, so it is read from the module's source, which stays beside the compiled module."""
    return inspect.getdoc(check) or _source_docstrings(check.__module__).get(check.__name__, "")


@cache
def _source_docstrings(module: str) -> dict[str, str]:
    """The docstring of each top-level function in ``module``'s .py source (empty when there is none)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return {}
    source = Path(spec.origin).with_name(module.rsplit(".", 1)[-1] + ".py")
    if not source.is_file():
        return {}
    tree = ast.parse(source.read_text(encoding="utf-8"))
    return {
        node.name: ast.get_docstring(node) or ""
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def codes_where(test: Callable[[Code], bool]) -> Triggers:
    """Triggers: the catalog codes for which ``test`` holds."""
    return lambda catalog, _tables: (code.code for code in catalog.codes.values() if test(code))


def rule(
    id: str,
    name: str,
    severity: Severity,
    summary: str,
    stage: Stage = "checks",
    triggers: Triggers | None = None,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register ``check`` as rule ``id``."""

    def register(check: CheckFunction) -> CheckFunction:
        if any(existing.id == id for existing in REGISTRY):
            raise ValueError(f"rule id {id} registered twice")
        family = check.__module__.rsplit(".", 1)[-1]
        REGISTRY.append(Rule(id, name, severity, summary, stage, family, check, triggers))
        return check

    return register
