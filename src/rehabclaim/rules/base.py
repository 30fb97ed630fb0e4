"""What a rule is, and the registry the engine and the docs read.

A rule is a small function with a stable id, a severity, a one-line summary and a docstring that is its
documentation (what it checks, why, an example, the fix, the source). It yields ``(code, message)`` for
each problem it finds; the engine turns those into findings carrying the rule's id and severity. Stages run
in order: ``modifiers`` (rules that may add modifiers), then the fee estimate, then ``payment`` (rules that
read the estimate, such as KX), then ``checks``; ``claim`` rules run only when a claim is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from rehabclaim.context import ScrubContext
from rehabclaim.model import Severity

Stage = Literal["modifiers", "payment", "checks", "claim"]
Hit = tuple[str | None, str]
CheckFunction = Callable[[ScrubContext], Iterator[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    stage: Stage
    family: str
    check: CheckFunction

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.check) or ""


REGISTRY: list[Rule] = []


def rule(
    id: str, name: str, severity: Severity, summary: str, stage: Stage = "checks"
) -> Callable[[CheckFunction], CheckFunction]:
    """Register ``check`` as rule ``id``."""

    def register(check: CheckFunction) -> CheckFunction:
        if any(existing.id == id for existing in REGISTRY):
            raise ValueError(f"rule id {id} registered twice")
        family = check.__module__.rsplit(".", 1)[-1]
        REGISTRY.append(Rule(id, name, severity, summary, stage, family, check))
        return check

    return register
