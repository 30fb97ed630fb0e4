"""The rules, one module per family; each rule is found by its id in ``RULES_BY_ID``.

Families: modifiers (M), codes (C), units (U), orthotics (O), diagnoses (D).
"""

from rehabclaim.rules import codes, diagnoses, modifiers, orthotics, units  # noqa: F401  (registers rules)
from rehabclaim.rules.base import REGISTRY, Rule

STAGES = ("modifiers", "checks")
RULES: tuple[Rule, ...] = tuple(sorted(REGISTRY, key=lambda r: (STAGES.index(r.stage), r.id)))
RULES_BY_ID = {r.id: r for r in RULES}

__all__ = ["RULES", "RULES_BY_ID", "Rule"]
