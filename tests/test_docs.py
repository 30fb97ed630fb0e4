from __future__ import annotations

from pathlib import Path

import pytest

from rehabclaim.docs import render_rules_markdown
from rehabclaim.rules import RULES

DOCS = Path(__file__).parent.parent / "docs" / "rules.md"


def test_rules_md_is_up_to_date() -> None:
    assert DOCS.read_text() == render_rules_markdown(), "run: python -m rehabclaim.docs > docs/rules.md"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_docstring_documents_why_example_fix_and_source(rule: object) -> None:
    doc = rule.doc  # type: ignore[attr-defined]
    for section in ("Why:", "Example:", "Fix:", "Source:"):
        assert section in doc, f"{rule.id} docstring lacks {section}"  # type: ignore[attr-defined]


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 4 and i[0] in "MCUOEVDNPBKRTX" and i[1:].isdigit() for i in ids)
