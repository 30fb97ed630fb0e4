"""The rules and their documentation: what ``rehabclaim rules`` lists and the web page links each finding to."""

from __future__ import annotations

from typing import Literal

import msgspec

from rehabclaim.errors import quote
from rehabclaim.rules import RULES, Rule
from rehabclaim.services.errors import NotFound


class RuleDoc(msgspec.Struct):
    """One rule: its id (the one findings carry), severity, one-line summary, family and documentation
    (what it checks, why, an example, the fix, the source)."""

    id: str
    name: str
    severity: Literal["error", "warning", "info"]
    summary: str
    family: str
    doc: str


def _doc(rule: Rule) -> RuleDoc:
    return RuleDoc(rule.id, rule.name, rule.severity, rule.summary, rule.family, rule.doc)


def list_rules() -> list[RuleDoc]:
    """Every rule, in the engine's order."""
    return [_doc(rule) for rule in RULES]


def rule(*, rule_id: str) -> RuleDoc:
    """One rule by its id (case-insensitive); NotFound naming ``rule`` when there is none."""
    wanted = rule_id.strip().upper()
    found = next((candidate for candidate in RULES if candidate.id == wanted), None)
    if found is None:
        raise NotFound("rule", f"unknown rule {quote(rule_id)}")
    return _doc(found)
