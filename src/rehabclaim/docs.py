"""Generates ``docs/rules.md`` from the rule docstrings: ``python -m rehabclaim.docs > docs/rules.md``."""

from __future__ import annotations

from rehabclaim.rules import RULES, Rule

FAMILY_TITLES = {
    "modifiers": "Modifiers",
    "codes": "Codes",
    "units": "Units",
    "orthotics": "Orthotics",
    "evaluations": "Evaluations",
    "xr": "XR and VR codes",
    "diagnoses": "Diagnoses",
    "ncci": "NCCI edits",
    "payer": "Payer policy",
    "medicare": "Medicare Part B coverage",
    "kx": "Therapy thresholds (KX)",
    "plan_of_care": "Plan of care",
    "documentation": "Documentation (checked when the visit has a documentation object)",
    "claim": "Claim data (checked when claims are built)",
}


def _rule_section(rule: Rule) -> str:
    return "\n".join(
        [
            f"### {rule.id} `{rule.name}` ({rule.severity})",
            "",
            f"**{rule.summary}.**",
            "",
            rule.doc,
            "",
        ]
    )


def render_rules_markdown(rules: tuple[Rule, ...] = RULES) -> str:
    parts = [
        "# Rules",
        "",
        "Generated from the rule docstrings by `python -m rehabclaim.docs`; do not edit by hand.",
        "Each finding in a scrub result carries one of these ids.",
        "",
        "| id | name | severity | checks |",
        "|---|---|---|---|",
        *(f"| {r.id} | {r.name} | {r.severity} | {r.summary} |" for r in sorted(rules, key=lambda r: r.id)),
        "",
    ]
    for family, title in FAMILY_TITLES.items():
        members = sorted((r for r in rules if r.family == family), key=lambda r: r.id)
        if members:
            parts += [f"## {title}", "", *(_rule_section(r) for r in members)]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(render_rules_markdown(), end="")
