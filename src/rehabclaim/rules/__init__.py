"""The rules, one module per family; each rule is found by its id in ``RULES_BY_ID``.

Families: modifiers (M), codes (C), units (U), orthotics (O), evaluations (E), xr (V), diagnoses (D),
ncci (N), payer (P), medicare (B: Medicare Part B coverage), kx (K), plan_of_care (R), documentation (T:
treatment-note documentation, only for a visit with a documentation object), claim (X: only when claims are
built).
"""

from rehabclaim.rules import (  # noqa: F401  (importing a family registers its rules)
    claim,
    codes,
    diagnoses,
    documentation,
    evaluations,
    kx,
    medicare,
    modifiers,
    ncci,
    orthotics,
    payer,
    plan_of_care,
    units,
    xr,
)
from rehabclaim.rules.base import REGISTRY, Rule

STAGES = ("modifiers", "payment", "checks", "claim")
RULES: tuple[Rule, ...] = tuple(sorted(REGISTRY, key=lambda r: (STAGES.index(r.stage), r.id)))
RULES_BY_ID = {r.id: r for r in RULES}

__all__ = ["RULES", "RULES_BY_ID", "Rule"]
